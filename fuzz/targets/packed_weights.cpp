// A packed-weight blob's header (the kernels' layout descriptor) as stored in .lowbit files.
#include <span>

#include "fuzz/fuzz_common.h"
#include "kernels/packed_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lowbit::fuzz::expect_clean([&] {
    const auto view = lowbit::kernels::PackedWeightsView::parse(
        std::span(reinterpret_cast<const std::byte*>(data), size));
    (void)view.n();
    (void)view.k();
  });
  return 0;
}
