#include "core/op_profile.h"

namespace lowbit {

const char* forward_op_name(ForwardOp op) {
  switch (op) {
    case ForwardOp::kEmbed:
      return "embedding";
    case ForwardOp::kNorm:
      return "RMSNorm";
    case ForwardOp::kQkvProj:
      return "q/k/v projections";
    case ForwardOp::kRope:
      return "RoPE (+ q/k rotation)";
    case ForwardOp::kKvStore:
      return "KV cache store";
    case ForwardOp::kAttention:
      return "attention";
    case ForwardOp::kOProj:
      return "o projection";
    case ForwardOp::kGateUpProj:
      return "gate/up projections";
    case ForwardOp::kSwiglu:
      return "SwiGLU";
    case ForwardOp::kDownProj:
      return "down projection";
    case ForwardOp::kResidual:
      return "residual adds";
    case ForwardOp::kPrune:
      return "token pruning";
    case ForwardOp::kHead:
      return "output head";
    case ForwardOp::kActTransform:
      return "of which online activation transform";
    case ForwardOp::kActQuant:
      return "of which activation quantization";
    case ForwardOp::kCount:
      break;
  }
  return "?";
}

ForwardProfile*& active_profile() {
  thread_local ForwardProfile* p = nullptr;
  return p;
}

}  // namespace lowbit
