#pragma once
// What the GEMM drivers (qgemm.cpp, qgemm_lut_rows.cpp: baseline code, not ISA files) share: the
// output checks every entry point makes and the size below which a product stays on one thread.
#include <cstddef>
#include <span>

#include "core/error.h"

namespace lowbit::kernels::detail {

// Below this many multiply-adds a parallel region (a few microseconds to wake the workers, and the
// activations and outputs crossing between cores) costs more than the second thread saves. At
// 1 M a 4-row decode step's gate/up (3.1 M) and down (1.6 M) products on ref-llama-s were split
// over the 2 cores here and took longer than on one (`lowbit profile --decode-rows 4`: 0.105 and
// 0.072 ms per step against 0.089 and 0.052 on one thread); at 4 M they stay on one and the step
// went from ~0.50 to ~0.46 ms. A one-row step's products stay below either threshold except the
// output head.
inline constexpr size_t kParallelMinMacs = size_t{1} << 22;

// y holds m rows of n outputs at stride ldy; bias is empty or n values. `what` names the call.
inline void check_output(const char* what, size_t m, size_t n, std::span<const float> bias,
                         std::span<float> y, size_t ldy) {
  if (!bias.empty() && bias.size() != n)
    fail("{}: bias of {} for {} outputs", what, bias.size(), n);
  if (ldy < n) fail("{}: output stride {} < {} outputs", what, ldy, n);
  if (m > 0 && y.size() < (m - 1) * ldy + n)
    fail("{}: output of {} floats for {} rows of stride {}", what, y.size(), m, ldy);
}

}  // namespace lowbit::kernels::detail
