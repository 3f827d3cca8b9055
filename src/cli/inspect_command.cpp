#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/gguf_model.h"

namespace lowbit::cli {
namespace {

void run_inspect(const ModelFlags& f) {
  LoadedModel m = load_from_flags(f);
  const auto& c = m.model->config();
  fmt::print("model: {}\nformat: {}\narchitecture: {}\n",
             f.model.empty() ? bundled_model() : f.model, m.format, c.architecture);
  fmt::print("hidden_size: {}\nintermediate_size: {}\nlayers: {}\n", c.dim, c.hidden_dim,
             c.n_layers);
  fmt::print("attention: {} query heads, {} kv heads ({}), head_dim {}\n", c.n_heads, c.n_kv_heads,
             c.n_kv_heads == c.n_heads ? "MHA" : (c.n_kv_heads == 1 ? "MQA" : "GQA"), c.head_dim);
  fmt::print("vocab_size: {}\ncontext: {}\nrope_theta: {}\nrms_norm_eps: {}\n", c.vocab_size,
             c.max_seq_len, c.rope_theta, c.norm_eps);
  fmt::print("tied_embeddings: {}\nattention_bias: {}\nqkv_bias: {}\nmlp_bias: {}\n",
             c.tied_embeddings, c.attention_bias, c.qkv_bias, c.mlp_bias);
  if (c.rope_scaling.type != "default")
    fmt::print(
        "rope_scaling: {} (factor {}, low_freq_factor {}, high_freq_factor {}, "
        "original_max_position_embeddings {})\n",
        c.rope_scaling.type, c.rope_scaling.factor, c.rope_scaling.low_freq_factor,
        c.rope_scaling.high_freq_factor, c.rope_scaling.original_max_positions);
  if (c.sliding_window > 0) fmt::print("sliding_window: {}\n", c.sliding_window);
  fmt::print("parameters: {} ({:.2f} M)\n", c.parameter_count(),
             static_cast<double>(c.parameter_count()) / 1e6);
  for (const auto& [dtype, n] : m.dtype_params) {
    fmt::print("stored {}: {} parameters", dtype, n);
    if (m.format == "gguf") fmt::print(" (GGUF type, runs as {})", gguf_type_in_lowbit(dtype));
    fmt::print("\n");
  }
  fmt::print("file size: {:.1f} MiB\n", static_cast<double>(m.file_bytes) / (1 << 20));
  const auto& w = m.model->weights();
  fmt::print("weights in memory: {:.1f} MiB\n", static_cast<double>(w.weight_bytes()) / (1 << 20));
  {
    // What the decoder's projections cost per weight: codes, scales, zero points, codebooks and
    // side data (outlier columns, sparse part, low-rank factors) as stored.
    size_t bytes = 0, params = 0;
    for (const auto& L : w.layers)
      for (const Linear* p : {L.wq.get(), L.wk.get(), L.wv.get(), L.wo.get(), L.w_gate.get(),
                              L.w_up.get(), L.w_down.get()}) {
        bytes += p->weight_bytes();
        params += static_cast<size_t>(p->in_features()) * static_cast<size_t>(p->out_features());
      }
    fmt::print("decoder projections: {} parameters, {:.4f} bits per weight\n", params,
               8.0 * static_cast<double>(bytes) / static_cast<double>(params));
  }
  if (m.format == "gguf") {
    const auto& L = w.layers.front();
    fmt::print("layer 0: q {}, o {}, down {}\noutput head: {}\n", L.wq->format(), L.wo->format(),
               L.w_down->format(), w.lm_head->format());
  }
  if (!m.quant_info.is_null()) {
    fmt::print("quantization: {}\n", m.quant_info.dump());
    const auto& L = w.layers.front();
    fmt::print("layer 0: q {}, o {}, down {}\noutput head: {}\n", L.wq->format(), L.wo->format(),
               L.w_down->format(), w.lm_head->format());
  }
  const auto kv = m.model->make_cache(1);
  fmt::print("KV cache per token: {} bytes ({})\n", kv.bytes(),
             m.model->kv_quant().enabled() ? m.model->kv_quant().describe() : "f32");
  fmt::print("tokenizer: {} tokens, bos {}, eos {}, add_bos {}\n", m.tokenizer->vocab_size(),
             m.tokenizer->bos_id.value_or(-1), m.tokenizer->eos_id.value_or(-1),
             m.tokenizer->add_bos);
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto flags = std::make_shared<ModelFlags>();
  auto* cmd = app.add_subcommand("inspect", "print architecture, parameter count, dtypes, memory");
  add_model_flags(*cmd, *flags, /*bundled_default=*/true);
  cmd->callback([flags] { run_inspect(*flags); });
}

}  // namespace lowbit::cli
