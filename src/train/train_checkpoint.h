#pragma once
// Training checkpoints: the master weights, AdamW's moments and the step, in a safetensors file
// ("w.<tensor>", "m.<tensor>", "v.<tensor>", metadata "step" and "fingerprint"), written atomically
// (temporary sibling + rename) so an interrupted run leaves the previous checkpoint intact.
// Tensors stream straight from the model to the file: no second copy of the weights is built.
//
// The fingerprint names what a checkpoint can only be resumed into: the model's shape, every
// tensor's shape and quantization grid format, and the frozen set. Resuming into anything else is
// an error that names the first difference.
#include <filesystem>
#include <string>

#include "train/adamw.h"

namespace lowbit::train {

std::string training_fingerprint(TrainWeights<float>& w, unsigned frozen);

void save_train_checkpoint(const std::filesystem::path& path, TrainWeights<float>& w, AdamW& opt,
                           size_t step, const std::string& fingerprint);

// Restores weights and moments; returns the step to continue from.
size_t load_train_checkpoint(const std::filesystem::path& path, TrainWeights<float>& w, AdamW& opt,
                             const std::string& fingerprint);

}  // namespace lowbit::train
