#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"

namespace lowbit::cli {
namespace {

void run_inspect(const ModelFlags& f) {
  LoadedModel m = load_from_flags(f);
  const auto& c = m.model->config();
  fmt::print("model: {}\nformat: {}\narchitecture: {}\n", f.model, m.format, c.architecture);
  fmt::print("hidden_size: {}\nintermediate_size: {}\nlayers: {}\n", c.dim, c.hidden_dim,
             c.n_layers);
  fmt::print("attention: {} query heads, {} kv heads ({}), head_dim {}\n", c.n_heads, c.n_kv_heads,
             c.n_kv_heads == c.n_heads ? "MHA" : (c.n_kv_heads == 1 ? "MQA" : "GQA"), c.head_dim);
  fmt::print("vocab_size: {}\ncontext: {}\nrope_theta: {}\nrms_norm_eps: {}\n", c.vocab_size,
             c.max_seq_len, c.rope_theta, c.norm_eps);
  fmt::print("tied_embeddings: {}\nattention_bias: {}\nmlp_bias: {}\n", c.tied_embeddings,
             c.attention_bias, c.mlp_bias);
  fmt::print("parameters: {} ({:.2f} M)\n", c.parameter_count(),
             static_cast<double>(c.parameter_count()) / 1e6);
  for (const auto& [dtype, n] : m.dtype_params) fmt::print("stored {}: {} parameters\n", dtype, n);
  fmt::print("file size: {:.1f} MiB\n", static_cast<double>(m.file_bytes) / (1 << 20));
  fmt::print("fp32 weights in memory: {:.1f} MiB\n",
             static_cast<double>(m.model->weights().weight_bytes()) / (1 << 20));
  fmt::print("KV cache per token: {} bytes\n",
             2 * c.n_layers * c.kv_dim() * static_cast<int>(sizeof(float)));
  fmt::print("tokenizer: {} tokens, bos {}, eos {}, add_bos {}\n", m.tokenizer->vocab_size(),
             m.tokenizer->bos_id.value_or(-1), m.tokenizer->eos_id.value_or(-1),
             m.tokenizer->add_bos);
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto flags = std::make_shared<ModelFlags>();
  auto* cmd = app.add_subcommand("inspect", "print architecture, parameter count, dtypes, memory");
  add_model_flags(*cmd, *flags);
  cmd->callback([flags] { run_inspect(*flags); });
}

}  // namespace lowbit::cli
