#pragma once
// PNG export of the outlier plots (`lowbit outliers --method ... --png DIR`): one image per layer
// and site with the panels of the HTML report (eval/outlier_plot.h), drawn with cairo. The only
// file that includes cairo's headers is outlier_png.cpp.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/outlier_stages.h"

namespace lowbit {

// Draws one site's panels and writes them as a PNG, atomically.
void write_site_png(const std::filesystem::path& path, const SiteStages& site);

// Writes DIR/layerNN_<site>.png for every site of the plotted layers (all when `layers` is
// empty), creating DIR if it does not exist. Returns the files written.
std::vector<std::filesystem::path> write_outlier_pngs(const std::filesystem::path& dir,
                                                      const std::vector<SiteStages>& sites,
                                                      const std::vector<int>& layers);

// A decoded image, 0xAARRGGBB per pixel, row-major (cairo's ARGB32 / RGB24 without the padding).
struct PngImage {
  int width = 0, height = 0;
  std::vector<uint32_t> pixels;
  uint32_t at(int x, int y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};
// Reads a PNG with cairo; throws lowbit::Error naming the file when it is not a readable PNG.
PngImage read_png(const std::filesystem::path& path);

}  // namespace lowbit
