#include "quant/output_head.h"

#include "core/error.h"
#include "layers/fake_quant_linear.h"

namespace lowbit {

void quantize_output_head(LlamaModel& model, const QuantSpec& wspec, const QuantSpec& act) {
  if (!wspec.enabled() && !act.enabled()) return;
  auto& wts = model.weights();
  const auto* head = dynamic_cast<const DenseLinear*>(wts.lm_head.get());
  if (head == nullptr) fail("output head: already quantized");
  const int in = head->in_features(), out = head->out_features();
  std::vector<float> bias(head->bias().begin(), head->bias().end());
  if (wspec.enabled()) {
    wts.lm_head = std::make_unique<FakeQuantLinear>(
        quantize_rows(head->weight().to_f32(), static_cast<size_t>(out), static_cast<size_t>(in),
                      wspec),
        std::move(bias), act, nullptr);
  } else {
    std::vector<float> w = head->weight().to_f32();
    wts.lm_head =
        std::make_unique<FakeQuantLinear>(in, out, std::move(w), std::move(bias), act, nullptr);
  }
  if (wts.config.tied_embeddings) {
    wts.embedding.reset();
  } else if (wspec.enabled() && wts.embedding) {
    wts.quantized_embedding = std::make_unique<FakeQuantLinear>(
        quantize_rows(wts.embedding->to_f32(), static_cast<size_t>(out), static_cast<size_t>(in),
                      wspec),
        std::vector<float>{}, QuantSpec{}, nullptr);
    wts.embedding.reset();
  }
}

}  // namespace lowbit
