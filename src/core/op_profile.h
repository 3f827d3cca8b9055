#pragma once
// Wall-clock time per operator of the forward pass (`lowbit profile`): the breakdown Agile-Quant
// profiles on edge devices to decide what to quantize and prune. Each stage of
// LlamaModel::forward is timed as a whole (its threads included) when a profile is attached;
// without one the timers cost a null check. The quantized projections also time their parts
// (online activation transform, activation quantization) through the calling thread's active
// profile, so those are shares *of* the projection rows, not rows of their own.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace lowbit {

enum class ForwardOp {
  kEmbed,       // token embeddings
  kNorm,        // RMSNorm before attention, MLP and the head
  kQkvProj,     // q_proj, k_proj, v_proj (activation quantization included)
  kRope,        // RoPE, and the q/k Hadamard and query quantization of rotation methods
  kKvStore,     // keys and values into the cache (quantized there when the cache is)
  kAttention,   // scores, softmax, weighted values
  kOProj,       // o_proj
  kGateUpProj,  // gate_proj, up_proj
  kSwiglu,      // SiLU(gate) * up
  kDownProj,    // down_proj
  kResidual,    // residual additions
  kPrune,       // token pruning: importance and row selection
  kHead,        // output head
  // Parts of the projections above (quantized layers only):
  kActTransform,  // online activation transform (smoothing, rotation) before quantization
  kActQuant,      // activation quantization to integer codes
  kCount
};
// Whether `op` is a part of the projection rows rather than a stage of its own.
inline bool is_projection_part(ForwardOp op) {
  return op == ForwardOp::kActTransform || op == ForwardOp::kActQuant;
}
const char* forward_op_name(ForwardOp op);

struct ForwardProfile {
  std::array<double, static_cast<size_t>(ForwardOp::kCount)> seconds{};
  void add(ForwardOp op, double s) { seconds[static_cast<size_t>(op)] += s; }
  double total() const {  // the stages, not double-counting the projections' parts
    double t = 0;
    for (size_t i = 0; i < seconds.size(); ++i)
      if (!is_projection_part(static_cast<ForwardOp>(i))) t += seconds[i];
    return t;
  }
};

// The profile the calling thread's forward pass is filling (nullptr when none): set for the
// duration of a profiled forward by ActiveProfileScope, read by layers timing their parts.
ForwardProfile*& active_profile();

class ActiveProfileScope {
 public:
  explicit ActiveProfileScope(ForwardProfile* p) : saved_(active_profile()) {
    active_profile() = p;
  }
  ~ActiveProfileScope() { active_profile() = saved_; }
  ActiveProfileScope(const ActiveProfileScope&) = delete;
  ActiveProfileScope& operator=(const ActiveProfileScope&) = delete;

 private:
  ForwardProfile* saved_;
};

// Adds the time from construction to destruction to `op` of a profile (nothing when null).
class OpTimer {
 public:
  OpTimer(ForwardProfile* p, ForwardOp op) : p_(p), op_(op) {
    if (p_ != nullptr) t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (p_ != nullptr)
      p_->add(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  ForwardProfile* p_;
  ForwardOp op_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace lowbit
