// A packed-weight blob's header (the kernels' layout descriptor) as stored in .lowbit files.
#include <span>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "kernels/packed_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lowbit::fuzz::expect_clean([&] {
    const auto view = lowbit::kernels::PackedWeightsView::parse(
        std::span(reinterpret_cast<const std::byte*>(data), size));
    // Small matrices are also read back, which walks the codes section of every container (the
    // bit-plane ones decode their planes here).
    if (view.n() <= 4096 && view.k() <= 4096 && view.n() * view.k() <= (size_t{1} << 16)) {
      std::vector<float> row(view.k());
      view.dequantize_row(view.n() - 1, row);
      (void)lowbit::kernels::unpack_weights(view);
    }
  });
  return 0;
}
