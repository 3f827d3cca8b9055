#pragma once
// An invertible transform of a linear layer's input, x' = x diag(1/s) T, with T orthogonal: a
// product of stages (block-diagonal rotations, channel permutations, Hadamard rotations).
// Activations get it online (every forward); the weight gets the compensating transform offline,
// W' = W diag(s) T, so that x' W'^T = x W^T exactly in full precision. SmoothQuant is the
// diagonal alone, QuaRot's online Hadamard is one Hadamard stage, and DuQuant is smoothing then
// rotation -> zigzag permutation -> rotation.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lowbit {

class ActivationTransform {
 public:
  struct Stage {
    enum class Kind { kBlockRotation, kPermutation, kHadamard };
    Kind kind;
    size_t block = 0;           // kBlockRotation: block size
    std::vector<float> matrix;  // kBlockRotation: dim / block matrices of block x block, row-major,
                                // each orthogonal (block-diagonal rotation)
    std::vector<int32_t> perm;  // kPermutation: output channel i takes input channel perm[i]
  };

  explicit ActivationTransform(size_t dim) : dim_(dim) {}

  size_t dim() const { return dim_; }
  bool empty() const { return smooth_.empty() && stages_.empty(); }
  const std::vector<float>& smooth() const { return smooth_; }
  const std::vector<Stage>& stages() const { return stages_; }

  // Divides channel j by s[j] (before any stage). Multiplies into an existing smoothing.
  void set_smooth(std::vector<float> s);
  // `matrices` holds dim / block orthogonal block x block matrices, one per diagonal block.
  void add_block_rotation(size_t block, std::vector<float> matrices);
  void add_permutation(std::vector<int32_t> perm);
  void add_hadamard();

  // x (rows x dim) <- x diag(1/s) T.
  void apply(std::span<float> x, size_t rows) const;
  // apply() one step at a time, for tools that look between the steps (`lowbit outliers
  // --method`): step 0 is the smoothing when there is one, then one step per stage. Applying
  // steps 0 .. num_steps() - 1 in order is apply().
  size_t num_steps() const { return (smooth_.empty() ? 0 : 1) + stages_.size(); }
  void apply_step(size_t step, std::span<float> x, size_t rows) const;
  // What the input is after `step`: "smoothed", "rotated (block 16)", "permuted", "hadamard".
  std::string step_name(size_t step) const;
  // W (rows x dim, one weight row per output) <- W diag(s) T: the compensating weight transform.
  void apply_to_weight(std::span<float> w, size_t rows) const;
  // x <- x T (the stages only, no smoothing).
  void apply_stages(std::span<float> x, size_t rows) const;
  // g (rows x dim) <- g T^T diag(1/s): the transpose of apply(), which carries a gradient with
  // respect to the transformed input back to the input (training through the transform).
  void apply_transposed(std::span<float> g, size_t rows) const;
  // H (dim x dim Gram matrix of inputs) <- T^T diag(1/s) H diag(1/s) T: the Gram matrix of the
  // transformed inputs, so GPTQ can use statistics collected before the transform.
  void transform_gram(std::span<double> h) const;

  std::string describe() const;

 private:
  void apply_stage(const Stage& st, std::span<float> x, size_t rows) const;
  void divide_by_smooth(std::span<float> x, size_t rows) const;

  size_t dim_;
  std::vector<float> smooth_;
  std::vector<Stage> stages_;
};

}  // namespace lowbit
