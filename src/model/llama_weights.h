#pragma once
// The parameters of a Llama-family decoder, in the layout every loader converts to: fp32 norms and
// embeddings, and each projection behind the Linear interface (weights stored [out, in]; the RoPE
// dimensions of q/k in the Hugging Face "rotate_half" order).
#include <memory>
#include <vector>

#include "layers/linear.h"
#include "model/config.h"

namespace lowbit {

struct LayerWeights {
  std::vector<float> attn_norm;  // [dim]
  std::vector<float> ffn_norm;   // [dim]
  std::unique_ptr<Linear> wq, wk, wv, wo;
  std::unique_ptr<Linear> w_gate, w_up, w_down;

  // The projections by index, in the order q, k, v, o, gate, up, down (the order of the file's
  // tensor names and of quant/bits_map's kLayerProjections).
  static constexpr size_t kProjections = 7;
  std::unique_ptr<Linear>& projection(size_t i) {
    std::unique_ptr<Linear>* p[] = {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down};
    return *p[i];
  }
  const std::unique_ptr<Linear>& projection(size_t i) const {
    const std::unique_ptr<Linear>* p[] = {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down};
    return *p[i];
  }
};

struct LlamaWeights {
  ModelConfig config;
  // [vocab, dim] as stored (fp32, or bf16/f16 mapped from the checkpoint); null when the table is
  // stored quantized (below) or tied to a quantized head, whose dequantized rows are then the
  // embeddings.
  std::shared_ptr<const DenseMatrix> embedding;
  // An untied table stored low-bit ([vocab, dim] as a Linear of dim -> vocab): lookups read
  // dequantized rows through weight_row and never multiply. Null unless a quantized model unties
  // its head (Hadamard's and DuQuant's folded final norm), so the table would otherwise stay fp32.
  std::unique_ptr<Linear> quantized_embedding;
  std::vector<float> final_norm;    // [dim]
  std::unique_ptr<Linear> lm_head;  // [vocab, dim]; shares `embedding` if tied
  std::vector<LayerWeights> layers;

  // Bytes held by all weights (shared storage counted once).
  size_t weight_bytes() const;
};

}  // namespace lowbit
