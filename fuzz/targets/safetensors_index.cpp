// model.safetensors.index.json: the fuzzed index over a fixed two-shard tiny checkpoint, loaded
// as a whole (load_hf_checkpoint): the weight_map's names and file names (paths outside the
// folder, missing or repeated shards, directories, non-safetensors files), then the tensors
// looked up across the shards it names.
#include <map>
#include <string>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "io/hf_checkpoint.h"
#include "io/safetensors_writer.h"

namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

// A safetensors file of zero-filled F32 tensors (through the project's writer).
void write_safetensors(const std::filesystem::path& path, const Shapes& tensors) {
  lowbit::SafetensorsWriter w;
  for (const auto& [name, shape] : tensors) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    w.add_f32(name, shape, std::vector<float>(n, 0.0f));
  }
  w.write(path);
}

// The folder: config.json (one layer, width 16) and the tiny model's tensors in two shards
// (embeddings and norm in the first, the layer in the second), as make_seeds.sh's index names.
const std::filesystem::path& checkpoint_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = lowbit::fuzz::scratch_dir() / "checkpoint";
    std::filesystem::create_directories(d);
    const std::string config =
        R"({"model_type": "llama", "hidden_act": "silu", "hidden_size": 16,
            "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "vocab_size": 64, "max_position_embeddings": 64,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": true})";
    const std::string p = "model.layers.0.";
    const Shapes first = {{"model.embed_tokens.weight", {64, 16}}, {"model.norm.weight", {16}}};
    const Shapes second = {
        {p + "input_layernorm.weight", {16}},      {p + "post_attention_layernorm.weight", {16}},
        {p + "self_attn.q_proj.weight", {16, 16}}, {p + "self_attn.k_proj.weight", {8, 16}},
        {p + "self_attn.v_proj.weight", {8, 16}},  {p + "self_attn.o_proj.weight", {16, 16}},
        {p + "mlp.gate_proj.weight", {32, 16}},    {p + "mlp.up_proj.weight", {32, 16}},
        {p + "mlp.down_proj.weight", {16, 32}}};
    lowbit::fuzz::write_input("checkpoint/config.json",
                              reinterpret_cast<const uint8_t*>(config.data()), config.size());
    write_safetensors(d / "model-00001-of-00002.safetensors", first);
    write_safetensors(d / "model-00002-of-00002.safetensors", second);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto& dir = checkpoint_dir();
  fuzz::write_input("checkpoint/model.safetensors.index.json", data, size);
  fuzz::expect_clean([&] { (void)load_hf_checkpoint(dir); });
  return 0;
}
