// The HTML report as a browser shows it: headless Chromium (the Debian `chromium` package,
// scripts/install_deps.sh) renders a report to a PNG screenshot, and every plot area in it holds
// the bars of its stage. Fails, never skips, when Chromium is missing; Chromium runs in its own
// process group and the whole group is killed after the run or at the time limit.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "eval/outlier_plot.h"
#include "eval/outlier_png.h"
#include "eval/outlier_report.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// The first `chromium` on PATH (then the Debian location).
fs::path find_chromium() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d);
  }
  dirs.push_back("/usr/bin");
  for (const auto& d : dirs) {
    const fs::path p = fs::path(d) / "chromium";
    if (!d.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

struct ChildRun {
  bool finished = false;  // exited before the limit
  int status = 0;         // as from waitpid
};

// Runs argv (argv[0] a path) with stdout and stderr into `log`, in a new process group; the
// group is killed when it exits (leftover helpers) or at `limit`.
ChildRun run_with_limit(const std::vector<std::string>& args, const fs::path& log,
                        std::chrono::seconds limit) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t pid = ::fork();
  if (pid < 0) return {};
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::setpgid(0, 0);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with the child's own call
  ChildRun run;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &run.status, WNOHANG) == pid) {
      run.finished = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid, SIGKILL);
  if (!run.finished) ::waitpid(pid, &run.status, 0);
  return run;
}

StageOutliers stage(std::string name, std::vector<float> channel_max) {
  OutlierAccumulator acc;
  acc.add(channel_max, 1, channel_max.size());
  return {std::move(name), acc.summary(0, ActivationSite::kQkvInput), std::move(channel_max)};
}

// One contiguous run of columns (or rows) that hold plot-area background.
struct Span {
  int begin, end;  // [begin, end)
};

// The runs of indices with at least `min_count` hits, joined across gaps of up to `max_gap` (a
// full-height bar hides the background of its columns).
std::vector<Span> runs_of(const std::vector<int>& count, int min_count, int max_gap) {
  std::vector<Span> out;
  for (int i = 0; i < static_cast<int>(count.size()); ++i) {
    if (count[static_cast<size_t>(i)] < min_count) continue;
    if (!out.empty() && i - out.back().end <= max_gap)
      out.back().end = i + 1;
    else
      out.push_back({i, i + 1});
  }
  return out;
}

bool near(uint32_t pixel, const Rgb& c, int tolerance) {
  const auto ch = [&](int shift, double v) {
    return std::abs(int((pixel >> shift) & 0xff) - int(v * 255 + 0.5)) <= tolerance;
  };
  return ch(16, c.r) && ch(8, c.g) && ch(0, c.b);
}

TEST(OutlierChromium, ScreenshotShowsTheBarsOfEveryPanel) {
  const fs::path chromium = find_chromium();
  ASSERT_FALSE(chromium.empty())
      << "chromium is not installed (Debian package `chromium`, scripts/install_deps.sh)";
  testing::TempDir dir;
  SiteStages site{0, ActivationSite::kDownInput, {}};
  std::vector<float> outlier(256, 1.0f), flat(256, 1.5f);
  for (size_t c = 0; c < outlier.size(); c += 37) outlier[c] = 12.0f;
  for (size_t c = 0; c < flat.size(); ++c) flat[c] += 0.5f * float(c % 5);
  site.stages = {stage("original", outlier), stage("smoothed", flat), stage("rotated", flat)};
  write_outlier_report(
      dir / "report.html", {site},
      {.model = "m", .method = "duquant", .windows = 1, .seq_len = 256, .plot_layers = {}});

  const fs::path shot = dir / "shot.png";
  const ChildRun run = run_with_limit(
      {chromium.string(), "--headless", "--no-sandbox", "--disable-background-networking",
       "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
       "--user-data-dir=" + (dir / "profile").string(), "--screenshot=" + shot.string(),
       "--window-size=1000,1000", "file://" + (dir / "report.html").string()},
      dir / "chromium.log", std::chrono::seconds(60));
  const std::string log = testing::read_file(dir / "chromium.log");
  ASSERT_TRUE(run.finished) << "chromium ran past 60 s and was killed\n" << log;
  ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << log;
  const PngImage img = read_png(shot);
  ASSERT_EQ(img.width, 1000);
  ASSERT_EQ(img.height, 1000);  // room for the text above the plots in any font

  // The plot areas: the columns and rows holding many pixels of their background (#fafafa;
  // elsewhere only a few anti-aliased text edges) or of a coloured bar, joined across the
  // columns a full-height grey bar covers.
  const Rgb area{0xfa / 255.0, 0xfa / 255.0, 0xfa / 255.0};
  const auto saturated = [](uint32_t px) {
    const int r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
    return std::max({r, g, b}) - std::min({r, g, b}) >= 40;
  };
  std::vector<int> cols(static_cast<size_t>(img.width)), rows(static_cast<size_t>(img.height));
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      if (near(img.at(x, y), area, 0) || saturated(img.at(x, y))) {
        ++cols[static_cast<size_t>(x)];
        ++rows[static_cast<size_t>(y)];
      }
    }
  const auto panels = runs_of(cols, 40, 8);
  const auto bands = runs_of(rows, 200, 0);
  std::string found;
  for (const Span& sp : panels)
    found += " [" + std::to_string(sp.begin) + "," + std::to_string(sp.end) + ")";
  ASSERT_EQ(panels.size(), 3u) << "plot areas found across the page:" << found;
  ASSERT_EQ(bands.size(), 1u) << "plot areas found down the page";
  const double plot_w = kPanelWidth - kPlotLeft - kPlotRight,
               plot_h = kPanelHeight - kPlotTop - kPlotBottom;
  const Span band = bands[0];
  EXPECT_NEAR(band.end - band.begin, plot_h, 3);
  for (size_t p = 0; p < panels.size(); ++p) {
    EXPECT_NEAR(panels[p].end - panels[p].begin, plot_w, 3) << p;
    // Non-background pixels inside the plot area, how high they reach, and how many have the
    // stage's own colour (the right series in the right panel).
    size_t drawn = 0, own = 0;
    int highest = band.end;
    for (int y = band.begin; y < band.end; ++y)
      for (int x = panels[p].begin; x < panels[p].end; ++x) {
        if (near(img.at(x, y), area, 6)) continue;
        ++drawn;
        highest = std::min(highest, y);
        if (near(img.at(x, y), stage_colour(p), 24)) ++own;
      }
    const double area_px = double(panels[p].end - panels[p].begin) * (band.end - band.begin);
    EXPECT_GT(double(drawn), 0.05 * area_px) << "panel " << p;
    EXPECT_GT(own, 100u) << "panel " << p;
    // Each panel's scale ends at its largest value, which reaches the top. The outliers (12 over
    // a floor of 1) leave most of the area empty; the flat stages (1.5 to 3.5 of 3.5) fill most
    // of it.
    const double reach = double(band.end - highest) / double(band.end - band.begin);
    EXPECT_GT(reach, 0.95) << "panel " << p;
    if (p == 0)
      EXPECT_LT(double(drawn), 0.3 * area_px);
    else
      EXPECT_GT(double(drawn), 0.5 * area_px) << "panel " << p;
  }
}

}  // namespace
}  // namespace lowbit
