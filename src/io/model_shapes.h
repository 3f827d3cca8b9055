#pragma once
// The architectures of real checkpoints users bring, by name, with the config.json fields and the
// tensor list their Hugging Face checkpoints have. Used to write random-weight checkpoints of
// exactly those shapes (io/checkpoint_fixture.h) for scale tests and benchmarks: speed, memory
// and the loader's coverage do not depend on the weights' values.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace lowbit {

struct ModelShape {
  std::string name;        // "llama-2-7b"
  std::string model_type;  // config.json model_type: llama, mistral, qwen2
  int hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0;
  int max_positions = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool tied_embeddings = false;
  bool qkv_bias = false;              // Qwen2: q/k/v projections have biases
  std::optional<int> sliding_window;  // Mistral, Qwen2 (off unless use_sliding_window)
  int bos = 1, eos = 2;
  std::string source;  // where the numbers come from (the model's config.json)
};

// Every named shape; find_model_shape throws lowbit::Error listing them for an unknown name.
std::span<const ModelShape> model_shapes();
const ModelShape& find_model_shape(const std::string& name);

// config.json of the shape, as its Hugging Face checkpoint has it.
nlohmann::json model_shape_config(const ModelShape& shape);

struct ShapeTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  int64_t numel() const;
};
// The checkpoint's tensors in file order: embeddings, each layer, final norm, output head.
// Matrices and biases in `weights` (BF16 or F16), norms in F32, as real checkpoints store them.
std::vector<ShapeTensor> model_shape_tensors(const ModelShape& shape, DType weights);

}  // namespace lowbit
