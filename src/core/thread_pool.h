#pragma once
// A fixed pool of worker threads with a blocking parallel_for. Every parallel region in lowbit
// (GEMM slices, attention heads, elementwise passes) goes through one pool, so the thread count
// set by `-t` is the thread count used, and no second runtime (e.g. BLAS threads) competes.
//
// A decode step opens about a hundred short regions (each linear layer, attention, norms), so
// waking a sleeping thread through the kernel (a futex round trip) on every one would cost a large
// share of a step. Idle workers, and the caller waiting for the last task, therefore spin for a
// few tens of microseconds on the atomic counters before they block on the condition variables.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lowbit {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls fn(task) for task in [0, num_tasks), spread over the workers and the calling thread;
  // returns when all are done. The first exception thrown by a task is rethrown here. Called from
  // inside one of this pool's tasks, it runs the tasks inline on the calling thread.
  void run(size_t num_tasks, const std::function<void(size_t)>& fn);

  // Splits [0, n) into about size() contiguous chunks (multiples of `grain`) and calls
  // fn(begin, end) on each.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

 private:
  void worker_loop();
  void drain();

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t num_tasks_ = 0;
  size_t next_task_ = 0;
  // Written under mutex_; atomic so that spinning threads may poll them without the lock.
  std::atomic<size_t> finished_tasks_ = 0;
  std::atomic<size_t> generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// The process-wide pool. set_num_threads() (re)creates it; 0 means hardware concurrency.
ThreadPool& thread_pool();
void set_num_threads(int n);

}  // namespace lowbit
