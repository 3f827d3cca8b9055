#pragma once
// Round-to-nearest: every weight row quantized on its own grid (per channel or per group, with
// the MSE clip search unless --no-mse-clip), no calibration. The baseline weight quantizer, and
// the one a run gets when --method names none.
#include <memory>

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

std::unique_ptr<QuantPass> make_rtn_pass(const QuantizeOptions& options);

}  // namespace lowbit
