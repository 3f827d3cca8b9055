// `lowbit qat` from the command line: bad settings fail in one line before any training, a run
// writes an ordinary .lowbit file the integer kernels run, and an interrupted run (SIGINT) leaves
// its last checkpoint intact, resumable, and no output file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "io/safetensors.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

std::string q(const std::filesystem::path& p) {
  std::string s = "'";
  s += p.string();
  s += "'";
  return s;
}

class CliQat : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_checkpoint(dir_ / "m", {});
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "Once upon a time there was a little girl who liked cats. ";
    testing::write_file(dir_ / "train.txt", text);
    testing::write_file(dir_ / "heldout.txt", text.substr(0, 600));
    base_ = "qat -q -m " + q(dir_ / "m") + " --heldout " + q(dir_ / "heldout.txt") +
            " --wbits 3 --w-asym --batch 2 --eval-windows 2 ";
  }

  // The command with `args`, plus the default data and window length where args gives none.
  std::string command(const std::string& args) const {
    std::string c = base_ + args;
    if (args.find("--data") == std::string::npos) c += " --data " + q(dir_ / "train.txt");
    if (args.find("--seq") == std::string::npos) c += " --seq 16";
    return c;
  }

  void expect_fails(const std::string& args, const std::string& message) {
    const auto r = testing::run_lowbit(command(args));
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.err.find("kd-qat ["), std::string::npos) << "training started: " << args;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "out.lowbit")) << args;
  }

  testing::TempDir dir_;
  std::string base_;
};

TEST_F(CliQat, BadSettingsFailBeforeTraining) {
  const std::string out = "-o " + q(dir_ / "out.lowbit") + " ";
  expect_fails(out + "--steps 3 --freeze o,vproj", "unknown part \"vproj\"");
  expect_fails(out + "--steps 0", "--steps must be at least 1");
  expect_fails(out + "--steps 3 --seq 4096", "exceeds the model's context");
  testing::write_file(dir_ / "empty.txt", "");
  expect_fails(out + "--steps 3 --data " + q(dir_ / "empty.txt"), "file is empty");
  testing::write_file(dir_ / "short.txt", "Once upon a time");
  expect_fails(out + "--steps 3 --data " + q(dir_ / "short.txt"), "too short for one window");
  expect_fails(out + "--steps 3 --resume", "no checkpoint");
  expect_fails(out + "--steps 3 --grid sometimes", "--grid");
  expect_fails("--steps 3 -o " + q(dir_ / "train.txt"), "-o");
  EXPECT_NE(testing::read_file(dir_ / "train.txt").size(), 0u);
}

TEST_F(CliQat, WritesAModelEveryCommandRunsAndRefusesAForeignCheckpoint) {
  const auto out = dir_ / "out.lowbit";
  auto r = testing::run_lowbit(command("--steps 3 --freeze o,v --checkpoint-every 2 -o " + q(out) +
                                       " --report " + q(dir_ / "log.json") + " --grad-plot " +
                                       q(dir_ / "g.svg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| 0 |"), std::string::npos) << r.out;  // the gradient-norm table
  EXPECT_NE(r.out.find("frozen"), std::string::npos) << r.out;
  EXPECT_NE(testing::read_file(dir_ / "g.svg").find("<svg"), std::string::npos);
  EXPECT_NE(testing::read_file(dir_ / "log.json").find("\"grad_norm\""), std::string::npos);
  r = testing::run_lowbit("perplexity -q -m " + q(out) + " -f " + q(dir_ / "heldout.txt") +
                          " --ctx 16");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::run_lowbit("inspect -m " + q(out));
  EXPECT_NE(r.out.find("kd-qat"), std::string::npos) << r.out;

  // Another model's checkpoint: a checkpoint of a wider tiny model.
  testing::TinyModelSpec wide;
  wide.dim = 64, wide.hidden = 96;
  testing::write_tiny_checkpoint(dir_ / "wide", wide);
  r = testing::run_lowbit("qat -q -m " + q(dir_ / "wide") + " --data " + q(dir_ / "train.txt") +
                          " --heldout " + q(dir_ / "heldout.txt") +
                          " --wbits 3 --seq 16 --batch 2 --steps 3 --resume --checkpoint " +
                          q(dir_ / "out.lowbit.ckpt") + " -o " + q(dir_ / "wide.lowbit"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("another model or format"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"dim\""), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "wide.lowbit"));
}

TEST_F(CliQat, InterruptedRunKeepsItsCheckpointAndResumes) {
  const auto out = dir_ / "out.lowbit", ckpt = dir_ / "out.lowbit.ckpt";
  const std::string cmd = std::string(LOWBIT_BINARY) + " " +
                          command("--steps 100000 --checkpoint-every 1 -o " + q(out));
  // Start, wait for a checkpoint, interrupt.
  const std::string script = "(" + cmd + " > /dev/null 2>&1 & pid=$!; i=0; while [ ! -f " +
                             q(ckpt) +
                             " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.3; "
                             "kill -INT $pid; wait $pid; echo $? > " +
                             q(dir_ / "rc") + ")";
  ASSERT_EQ(std::system(script.c_str()), 0);
  EXPECT_EQ(testing::read_file(dir_ / "rc"), "130\n");  // killed by SIGINT
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // The checkpoint is whole: it reads, and a run resumes from it and finishes.
  const SafetensorsFile file(ckpt);
  const size_t step = std::stoul(file.metadata().at("step"));
  EXPECT_GE(step, 1u);
  const auto r = testing::run_lowbit(command("--checkpoint-every 1000 -o " + q(out) +
                                             " --resume --steps " + std::to_string(step + 2)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace lowbit
