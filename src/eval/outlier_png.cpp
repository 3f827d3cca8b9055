#include "eval/outlier_png.h"

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/outlier_plot.h"

namespace lowbit {
namespace {

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

void set_colour(cairo_t* cr, const Rgb& c) {
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

void text(cairo_t* cr, double x, double y, const std::string& s, double anchor) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - anchor * e.x_advance, y);
  cairo_show_text(cr, s.c_str());
}

// The panels of the SVG (outlier_report.cpp's site_svg), on a white background.
Surface draw_site(const SiteStages& site) {
  const SitePlot p = layout_site_plot(site);
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(p.width),
                                             static_cast<int>(p.height)));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    fail("outliers --png: cannot create a {:.0f} x {:.0f} image", p.width, p.height);
  Context ctx(cairo_create(surface.get()));
  cairo_t* cr = ctx.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 11);
  for (size_t i = 0; i < p.panels.size(); ++i) {
    const PanelScale& a = p.panels[i];
    const StageOutliers& st = site.stages[i];
    cairo_rectangle(cr, a.left, a.top, a.width, a.height);
    cairo_set_source_rgb(cr, 0xfa / 255.0, 0xfa / 255.0, 0xfa / 255.0);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0x99 / 255.0, 0x99 / 255.0, 0x99 / 255.0);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    text(cr, a.left, 14, fmt::format("{}. {}", i, st.name), 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    text(cr, a.left - 4, a.top + 4, fmt::format("{:.3g}", a.ymax), 1);
    text(cr, a.left - 4, a.bottom() + 4, "0", 1);
    text(cr, a.left, a.bottom() + 13, "0", 0);
    text(cr, a.left + a.width, a.bottom() + 13, fmt::format("{}", a.channels - 1), 1);
    text(cr, a.left + a.width / 2, a.bottom() + 25, panel_caption(st), 0.5);
    // The bars: butt caps, so a bar ends exactly at its value.
    const double slot = a.width / double(std::max<size_t>(1, p.bars[i].size()));
    set_colour(cr, stage_colour(i));
    cairo_set_line_width(cr, std::clamp(0.8 * slot, 1.0, 6.0));
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (const PlotBar& b : p.bars[i]) {
      cairo_move_to(cr, a.x(b.channel), a.bottom());
      cairo_line_to(cr, a.x(b.channel), a.y(b.value));
    }
    cairo_stroke(cr);
  }
  cairo_surface_flush(surface.get());
  return surface;
}

cairo_status_t write_to_stream(void* closure, const unsigned char* data, unsigned int length) {
  auto* out = static_cast<std::ostream*>(closure);
  out->write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(length));
  return *out ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

}  // namespace

void write_site_png(const std::filesystem::path& path, const SiteStages& site) {
  const Surface surface = draw_site(site);
  write_file_atomically(path, [&](std::ostream& out) {
    if (cairo_surface_write_to_png_stream(surface.get(), write_to_stream, &out) !=
        CAIRO_STATUS_SUCCESS)
      fail("{}: cannot encode the PNG", path.string());
  });
}

std::vector<std::filesystem::path> write_outlier_pngs(const std::filesystem::path& dir,
                                                      const std::vector<SiteStages>& sites,
                                                      const std::vector<int>& layers) {
  const std::set<int> plotted(layers.begin(), layers.end());
  if (std::filesystem::exists(dir) && !std::filesystem::is_directory(dir))
    fail("--png {}: is not a folder", dir.string());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("--png {}: cannot create the folder: {}", dir.string(), ec.message());
  std::vector<std::filesystem::path> written;
  for (const SiteStages& s : sites) {
    if (!plotted.empty() && plotted.count(s.layer) == 0) continue;
    const auto path = dir / fmt::format("layer{:02}_{}.png", s.layer, site_name(s.site));
    write_site_png(path, s);
    written.push_back(path);
  }
  return written;
}

PngImage read_png(const std::filesystem::path& path) {
  const Surface surface(cairo_image_surface_create_from_png(path.c_str()));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    fail("{}: not a readable PNG ({})", path.string(),
         cairo_status_to_string(cairo_surface_status(surface.get())));
  cairo_surface_flush(surface.get());
  const cairo_format_t format = cairo_image_surface_get_format(surface.get());
  if (format != CAIRO_FORMAT_ARGB32 && format != CAIRO_FORMAT_RGB24)
    fail("{}: PNG decoded to an unexpected pixel format {}", path.string(),
         static_cast<int>(format));
  PngImage img;
  img.width = cairo_image_surface_get_width(surface.get());
  img.height = cairo_image_surface_get_height(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  const unsigned char* data = cairo_image_surface_get_data(surface.get());
  img.pixels.resize(static_cast<size_t>(img.width) * static_cast<size_t>(img.height));
  for (int y = 0; y < img.height; ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<ptrdiff_t>(y) * stride);
    for (int x = 0; x < img.width; ++x) {
      uint32_t v = row[x];
      if (format == CAIRO_FORMAT_RGB24) v |= 0xff000000u;  // the unused byte is undefined
      img.pixels[static_cast<size_t>(y * img.width + x)] = v;
    }
  }
  return img;
}

}  // namespace lowbit
