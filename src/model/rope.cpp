#include "model/rope.h"

#include <cmath>
#include <numbers>

namespace lowbit {

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const size_t half = static_cast<size_t>(c.head_dim / 2);
  std::vector<double> inv(half);
  for (size_t i = 0; i < half; ++i)
    inv[i] =
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
  if (c.rope_scaling.type != "llama3") return inv;
  const auto& r = c.rope_scaling;
  const double old_len = r.original_max_positions;
  const double low_freq_wavelen = old_len / r.low_freq_factor;
  const double high_freq_wavelen = old_len / r.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen > low_freq_wavelen) {
      f /= r.factor;  // low frequencies: interpolated by the full factor
    } else if (wavelen >= high_freq_wavelen) {
      // The band between: (1 - s) * f / factor + s * f with s rising from 0 to 1 across it.
      const double s =
          (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      f = (1.0 - s) * f / r.factor + s * f;
    }  // high frequencies (wavelen < high_freq_wavelen): unchanged
  }
  return inv;
}

}  // namespace lowbit
