#pragma once
// The bridge between an inference model and the training engine: the student's master weights and
// quantization grids are read from a model as the PTQ pipeline left it (every projection a
// FakeQuantLinear on its grid, or a dense layer), and written back into that model after training,
// so the result saves as an ordinary `.lowbit` file and runs on the integer kernels.
#include "model/llama.h"
#include "train/train_weights.h"

namespace lowbit::train {

// Online activation transforms come along (fixed; the gradient flows through their transposes).
// The attention's q/k Hadamard and query quantization come along too. Throws, naming what, for
// parts the engine cannot train (a q/k Hadamard of a head size that is not a power of two).
TrainWeights<float> student_from_model(const LlamaModel& model);

// Chooses every weight grid's mode (fake_quant.h): dynamic min-max (true) or the start's fixed
// scales (false).
void set_dynamic_grids(TrainWeights<float>& w, bool dynamic);

// Gives every quantized projection and the head learned clipping (LWC, fake_quant.h), starting
// at the logit where the grid is unchanged.
void enable_learned_clipping(TrainWeights<float>& w);

// Drops the model's projections, head and embeddings (training holds them as master weights;
// install_student puts them back), so a large student is not held twice.
void release_weights(LlamaModel& model);

// Replaces the model's norms, embeddings, projections and head with the trained values, quantized
// on their grids (each layer keeps its kind: quantized, fake-quantized activations, or dense).
void install_student(const TrainWeights<float>& w, LlamaModel& model);

}  // namespace lowbit::train
