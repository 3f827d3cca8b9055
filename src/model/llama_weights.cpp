#include "model/llama_weights.h"

namespace lowbit {

size_t LlamaWeights::weight_bytes() const {
  size_t bytes = embedding ? embedding->bytes() : 0;
  if (quantized_embedding) bytes += quantized_embedding->weight_bytes();
  bytes += final_norm.size() * sizeof(float);
  if (lm_head && (!config.tied_embeddings || !embedding)) bytes += lm_head->weight_bytes();
  for (const auto& l : layers) {
    bytes += (l.attn_norm.size() + l.ffn_norm.size()) * sizeof(float);
    for (const Linear* p : {l.wq.get(), l.wk.get(), l.wv.get(), l.wo.get(), l.w_gate.get(),
                            l.w_up.get(), l.w_down.get()})
      if (p) bytes += p->weight_bytes();
  }
  return bytes;
}

}  // namespace lowbit
