// The architecture rule, checked on every build: src/ folders form one stack and a file may
// include headers from its own folder or from folders below it, never above. The order is the
// one in docs/architecture.md; a new folder must be placed in it before anything can include it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Bottom to top. `train` (distillation QAT's gradients) and `serve` (the HTTP server) are named
// now so they land in the right place when they arrive.
const std::vector<std::string> kLayers = {"core",  "kernels", "text", "layers", "model", "io",
                                          "train", "quant",   "eval", "serve",  "cli"};

// Includes of one file, as written ("core/error.h").
using IncludeMap = std::map<std::string, std::vector<std::string>>;

int layer_of(const std::string& folder) {
  const auto it = std::find(kLayers.begin(), kLayers.end(), folder);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

std::string top_folder(const std::string& path) {
  return path.substr(0, path.find('/'));
}

// Every violation as "file: message"; `files` maps paths relative to src/ to their includes.
std::vector<std::string> layering_violations(const IncludeMap& files) {
  std::vector<std::string> out;
  for (const auto& [file, includes] : files) {
    const std::string folder = top_folder(file);
    const int own = layer_of(folder);
    if (own < 0 || file.find('/') == std::string::npos) {
      out.push_back(file + ": folder '" + folder + "' is not in the layer order");
      continue;
    }
    for (const auto& inc : includes) {
      if (inc.find('/') == std::string::npos) continue;  // a system or third-party header
      const std::string target = top_folder(inc);
      const int theirs = layer_of(target);
      if (theirs < 0)
        out.push_back(file + ": includes \"" + inc + "\" from unknown folder '" + target + "'");
      else if (theirs > own)
        out.push_back(file + ": includes \"" + inc + "\" from '" + target + "', above '" + folder +
                      "'");
    }
  }
  return out;
}

IncludeMap read_tree(const fs::path& src) {
  static const std::regex include_re(R"re(^\s*#\s*include\s*"([^"]+)")re");
  IncludeMap files;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
    auto& includes = files[fs::relative(entry.path(), src).generic_string()];
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, include_re)) includes.push_back(m[1]);
    }
  }
  return files;
}

TEST(Layering, AcceptsDownwardAndSameFolderIncludes) {
  const IncludeMap files = {
      {"model/llama.cpp", {"model/llama.h", "layers/linear.h", "core/error.h", "cblas.h"}},
      {"cli/main.cpp", {"eval/perplexity.h", "io/model_loader.h"}},
  };
  EXPECT_TRUE(layering_violations(files).empty());
}

TEST(Layering, RejectsUpwardUnknownAndLooseFiles) {
  const IncludeMap files = {
      {"model/kv_cache.h", {"quant/pipeline.h"}},    // upward
      {"io/hf_checkpoint.h", {"model/config.h"}},    // fine
      {"model/loader.cpp", {"io/hf_checkpoint.h"}},  // upward: the old model <-> io loop
      {"kernels/qgemm.cpp", {"third/party.h"}},      // unknown folder
      {"misc/thing.cpp", {}},                        // folder not placed in the order
      {"loose.cpp", {}},                             // no folder at all
  };
  const auto v = layering_violations(files);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_NE(v[0].find("kernels/qgemm.cpp"), std::string::npos);
  EXPECT_NE(v[1].find("loose.cpp"), std::string::npos);
  EXPECT_NE(v[2].find("misc/thing.cpp"), std::string::npos);
  EXPECT_NE(v[3].find("\"quant/pipeline.h\" from 'quant', above 'model'"), std::string::npos);
  EXPECT_NE(v[4].find("\"io/hf_checkpoint.h\" from 'io', above 'model'"), std::string::npos);
}

TEST(Layering, SourceTreeIncludesOnlyDownward) {
  const fs::path src = fs::path(LOWBIT_SOURCE_DIR) / "src";
  const auto files = read_tree(src);
  ASSERT_GT(files.size(), 50u) << "read nothing under " << src;
  std::string report;
  for (const auto& v : layering_violations(files)) report += v + "\n";
  EXPECT_TRUE(report.empty()) << report;
}

}  // namespace
