#include "layers/activation_transform.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/sgemm.h"
#include "layers/hadamard.h"

namespace lowbit {

namespace {

// Block k of every row times matrix k (or its transpose): one (rows x b) x (b x b) product each,
// as tasks of (block, row range).
void rotate_blocks(std::span<float> x, size_t rows, size_t dim,
                   const ActivationTransform::Stage& st, bool transposed) {
  const size_t b = st.block, blocks = dim / b;
  const size_t row_chunk = 64, chunks = (rows + row_chunk - 1) / row_chunk;
  thread_pool().run(blocks * chunks, [&](size_t task) {
    const size_t k = task % blocks, r0 = (task / blocks) * row_chunk;
    const size_t n = std::min(rows, r0 + row_chunk) - r0;
    std::vector<float> tmp(n * b);
    float* xb = x.data() + r0 * dim + k * b;
    const float* m = st.matrix.data() + k * b * b;
    if (transposed)
      kernels::sgemm_nt_serial(n, b, b, xb, dim, m, b, tmp.data(), b);
    else
      kernels::sgemm_nn_serial(n, b, b, xb, dim, m, b, tmp.data(), b);
    for (size_t r = 0; r < n; ++r) std::copy_n(tmp.data() + r * b, b, xb + r * dim);
  });
}

// out[i] = in[perm[i]] for every row, or its transpose in[perm[i]] = out[i].
void permute(std::span<float> x, size_t rows, size_t dim, const std::vector<int32_t>& perm,
             bool transposed) {
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    std::vector<float> tmp(dim);
    for (size_t r = r0; r < r1; ++r) {
      float* row = x.data() + r * dim;
      for (size_t i = 0; i < dim; ++i) {
        const size_t j = static_cast<size_t>(perm[i]);
        if (transposed)
          tmp[j] = row[i];
        else
          tmp[i] = row[j];
      }
      std::copy(tmp.begin(), tmp.end(), row);
    }
  });
}

// The dense n x n Hadamard matrix of hadamard_transform_rows, built once per size: its transpose
// is not itself when the plan has a Paley I factor (H_m is then not symmetric).
const std::vector<float>& dense_hadamard(size_t n) {
  static std::mutex mutex;
  static std::map<size_t, std::vector<float>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, random_hadamard_matrix(n, 0)).first;
  return it->second;
}

}  // namespace

void ActivationTransform::set_smooth(std::vector<float> s) {
  if (s.size() != dim_) fail("smoothing has {} scales for {} channels", s.size(), dim_);
  for (float v : s)
    if (!(v > 0.0f)) fail("smoothing scale {} is not positive", v);
  if (!stages_.empty()) fail("smoothing must come before rotations");
  if (smooth_.empty()) {
    smooth_ = std::move(s);
  } else {
    for (size_t i = 0; i < dim_; ++i) smooth_[i] *= s[i];
  }
}

void ActivationTransform::add_block_rotation(size_t block, std::vector<float> matrices) {
  if (block == 0 || dim_ % block != 0 || matrices.size() != dim_ * block)
    fail("block rotation of size {} does not fit {} channels", block, dim_);
  stages_.push_back({Stage::Kind::kBlockRotation, block, std::move(matrices), {}});
}

void ActivationTransform::add_permutation(std::vector<int32_t> perm) {
  if (perm.size() != dim_) fail("permutation has {} entries for {} channels", perm.size(), dim_);
  std::vector<bool> seen(dim_, false);
  for (int32_t p : perm) {
    if (p < 0 || static_cast<size_t>(p) >= dim_ || seen[static_cast<size_t>(p)])
      fail("invalid permutation entry {}", p);
    seen[static_cast<size_t>(p)] = true;
  }
  stages_.push_back({Stage::Kind::kPermutation, 0, {}, std::move(perm)});
}

void ActivationTransform::add_hadamard() {
  plan_hadamard(dim_);  // validates the size
  stages_.push_back({Stage::Kind::kHadamard, 0, {}, {}});
}

void ActivationTransform::apply_stage(const Stage& st, std::span<float> x, size_t rows) const {
  switch (st.kind) {
    case Stage::Kind::kBlockRotation:
      rotate_blocks(x, rows, dim_, st, false);
      break;
    case Stage::Kind::kPermutation:
      permute(x, rows, dim_, st.perm, false);
      break;
    case Stage::Kind::kHadamard:
      thread_pool().parallel_for(rows, 8, [&](size_t r0, size_t r1) {
        hadamard_transform_rows(x.subspan(r0 * dim_, (r1 - r0) * dim_), r1 - r0, dim_);
      });
      break;
  }
}

void ActivationTransform::divide_by_smooth(std::span<float> x, size_t rows) const {
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < dim_; ++i) x[r * dim_ + i] /= smooth_[i];
}

void ActivationTransform::apply_stages(std::span<float> x, size_t rows) const {
  for (const Stage& st : stages_) apply_stage(st, x, rows);
}

void ActivationTransform::apply_step(size_t step, std::span<float> x, size_t rows) const {
  if (step >= num_steps()) fail("transform step {} of {}", step, num_steps());
  if (!smooth_.empty()) {
    if (step == 0) {
      divide_by_smooth(x, rows);
      return;
    }
    --step;
  }
  apply_stage(stages_[step], x, rows);
}

std::string ActivationTransform::step_name(size_t step) const {
  if (step >= num_steps()) fail("transform step {} of {}", step, num_steps());
  if (!smooth_.empty()) {
    if (step == 0) return "smoothed";
    --step;
  }
  const Stage& st = stages_[step];
  switch (st.kind) {
    case Stage::Kind::kBlockRotation:
      return fmt::format("rotated (block {})", st.block);
    case Stage::Kind::kPermutation:
      return "permuted";
    case Stage::Kind::kHadamard:
      return "hadamard";
  }
  return "";
}

void ActivationTransform::apply_transposed(std::span<float> g, size_t rows) const {
  for (auto st = stages_.rbegin(); st != stages_.rend(); ++st) {
    switch (st->kind) {
      case Stage::Kind::kBlockRotation:
        rotate_blocks(g, rows, dim_, *st, true);
        break;
      case Stage::Kind::kPermutation:
        permute(g, rows, dim_, st->perm, true);
        break;
      case Stage::Kind::kHadamard: {
        const HadamardPlan plan = plan_hadamard(dim_);
        if (plan.m == 1) {  // Sylvester (or its block-diagonal fallback): symmetric
          thread_pool().parallel_for(rows, 8, [&](size_t r0, size_t r1) {
            hadamard_transform_rows(g.subspan(r0 * dim_, (r1 - r0) * dim_), r1 - r0, dim_);
          });
          break;
        }
        const std::vector<float>& h = dense_hadamard(dim_);
        std::vector<float> tmp(rows * dim_);
        kernels::sgemm_nt(rows, dim_, dim_, g.data(), dim_, h.data(), dim_, tmp.data(), dim_);
        std::copy(tmp.begin(), tmp.end(), g.begin());
        break;
      }
    }
  }
  if (!smooth_.empty())
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < dim_; ++i) g[r * dim_ + i] /= smooth_[i];
}

void ActivationTransform::apply(std::span<float> x, size_t rows) const {
  for (size_t step = 0; step < num_steps(); ++step) apply_step(step, x, rows);
}

void ActivationTransform::apply_to_weight(std::span<float> w, size_t rows) const {
  if (!smooth_.empty())
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < dim_; ++i) w[r * dim_ + i] *= smooth_[i];
  apply_stages(w, rows);
}

void ActivationTransform::transform_gram(std::span<double> h) const {
  if (h.size() != dim_ * dim_) fail("Gram matrix has {} values for {} channels", h.size(), dim_);
  if (!smooth_.empty())
    for (size_t i = 0; i < dim_; ++i)
      for (size_t j = 0; j < dim_; ++j) h[i * dim_ + j] /= double(smooth_[i]) * smooth_[j];
  if (stages_.empty()) return;
  // H' = T^T H T: transform the rows (H T), transpose, transform the rows again. H is symmetric.
  std::vector<float> m(h.begin(), h.end());
  apply_stages(m, dim_);
  std::vector<float> t(m.size());
  for (size_t i = 0; i < dim_; ++i)
    for (size_t j = 0; j < dim_; ++j) t[j * dim_ + i] = m[i * dim_ + j];
  apply_stages(t, dim_);
  for (size_t i = 0; i < dim_; ++i)
    for (size_t j = 0; j < dim_; ++j)
      h[i * dim_ + j] = 0.5 * (double(t[i * dim_ + j]) + t[j * dim_ + i]);
}

std::string ActivationTransform::describe() const {
  std::string s = smooth_.empty() ? "" : "smooth";
  for (const Stage& st : stages_) {
    if (!s.empty()) s += " -> ";
    switch (st.kind) {
      case Stage::Kind::kBlockRotation:
        s += fmt::format("rotate(block {})", st.block);
        break;
      case Stage::Kind::kPermutation:
        s += "permute";
        break;
      case Stage::Kind::kHadamard:
        s += "hadamard";
        break;
    }
  }
  return s.empty() ? "identity" : s;
}

}  // namespace lowbit
