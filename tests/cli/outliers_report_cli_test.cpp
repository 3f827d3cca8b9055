// `lowbit outliers --method`: on stories260K with a short calibration, the report has a plot per
// selected layer and a table row per layer, site and stage with the numbers printed on stdout;
// bad flags fail with one line and write nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::run_lowbit;
using testing::TempDir;

std::string q(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).push_back('\'');
  return s;
}

void expect_one_line_error(const testing::CommandResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lowbit: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

class OutlierCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    for (int i = 0; i < 30; ++i)
      text += "Once upon a time there was a little girl named Lily. She liked to play. ";
    testing::write_file(dir_ / "calib.txt", text);
  }
  std::string args(const std::string& out) const {
    return "outliers -m " + q(testing::shared_dir() / "models/stories260K/stories260K.bin") +
           " --calib " + q(dir_ / "calib.txt") +
           " --calib-samples 2 --calib-len 48 --duquant-block 4 --duquant-steps 4 -o " + q(out);
  }
  TempDir dir_;
};

TEST_F(OutlierCli, DuQuantReportHasEveryStageOfEveryLayer) {
  const auto r = run_lowbit(args((dir_ / "r.html").string()) + " --method duquant --layers 0,4" +
                            " --png " + q(dir_ / "png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // PNGs of the plotted layers only, every site.
  size_t pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "png")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.rfind("layer00_", 0) == 0 || name.rfind("layer04_", 0) == 0) << name;
    ++pngs;
  }
  EXPECT_EQ(pngs, 2u * 4u);
  const std::string html = testing::read_file(dir_ / "r.html");
  // stdout's rows: 5 layers x 4 sites x 5 stages, each in the report's table with its numbers.
  const std::regex row(
      R"(\| (\d+) \| (\w+) \| ([^|]+) \| (\d+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|)");
  size_t rows = 0;
  for (auto m = std::sregex_iterator(r.out.begin(), r.out.end(), row); m != std::sregex_iterator();
       ++m, ++rows) {
    const std::string cell = "<tr><td>" + (*m)[1].str() + "</td><td class=\"l\">" + (*m)[2].str() +
                             "</td><td class=\"l\">" + (*m)[3].str() + "</td><td>" + (*m)[4].str() +
                             "</td><td>96</td><td>" + (*m)[5].str() + "</td><td>" + (*m)[6].str() +
                             "</td><td>" + (*m)[7].str() + "</td>";
    EXPECT_NE(html.find(cell), std::string::npos) << cell;
  }
  EXPECT_EQ(rows, 5u * 4u * 5u) << r.out;
  for (const char* stage :
       {"| 2 | down_input | original |", "| 2 | down_input | smoothed |",
        "| 2 | down_input | rotated (block 4) |", "| 2 | down_input | permuted |"})
    EXPECT_NE(r.out.find(stage), std::string::npos) << stage;
  // Plots of layers 0 and 4: 4 sites x 5 panels each.
  EXPECT_NE(html.find("<section id=\"layer-0\">"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"layer-4\">"), std::string::npos);
  EXPECT_EQ(html.find("<section id=\"layer-2\">"), std::string::npos);
  size_t series = 0;
  for (size_t p = html.find("class=\"series\""); p != std::string::npos;
       p = html.find("class=\"series\"", p + 1))
    ++series;
  EXPECT_EQ(series, 2u * 4u * 5u);
}

TEST_F(OutlierCli, BadFlagsFailWithOneLineAndWriteNothing) {
  const std::string out = (dir_ / "r.html").string();
  expect_one_line_error(run_lowbit(args(out) + " --method duquant --layers 5"), "--layers");
  expect_one_line_error(run_lowbit(args(out) + " --method duquant --duquant-block 5"),
                        "--duquant-block");
  expect_one_line_error(run_lowbit(args((dir_ / "calib.txt").string()) + " --method duquant"),
                        "-o");
  expect_one_line_error(
      run_lowbit(args((dir_ / "missing" / "r.html").string()) + " --method duquant"),
      "no such folder");
  testing::write_file(dir_ / "file", "");
  expect_one_line_error(run_lowbit(args(out) + " --method duquant --png " + q(dir_ / "file")),
                        "--png");
  expect_one_line_error(
      run_lowbit("outliers -m " + q(testing::shared_dir() / "models/stories260K/stories260K.bin") +
                 " --method duquant -o " + q(out)),
      "--calib");
  // The report's flags without --method: the table mode refuses them rather than ignore them.
  expect_one_line_error(
      run_lowbit("outliers -m " + q(testing::shared_dir() / "models/stories260K/stories260K.bin") +
                 " -f " + q(dir_ / "calib.txt") + " --ctx 32 -o " + q(out)),
      "--method");
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace lowbit
