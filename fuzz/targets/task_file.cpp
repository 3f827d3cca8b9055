// Zero-shot task files (JSON Lines, plain text, bzip2): the first byte picks the task, the rest
// is the file.
#include "eval/task_data.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  if (size == 0) return 0;
  const auto& tasks = task_registry();
  const TaskInfo& task = tasks[data[0] % tasks.size()];
  const auto path = fuzz::write_input("task.data", data + 1, size - 1);
  fuzz::expect_clean([&] { (void)load_task(task.name, path); });
  return 0;
}
