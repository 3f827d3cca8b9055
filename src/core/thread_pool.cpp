#include "core/thread_pool.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace lowbit {
namespace {

// Polls before blocking: 20000 pause instructions, from about a hundred microseconds to about a
// millisecond depending on the core's pause latency. Long enough that a decode step's worker
// (serve: one short parallel region after another) rarely sleeps between regions.
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or the budget runs out; returns done().
template <class Done>
bool spin_until(Done done) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  return done();
}

// The pool whose task this thread is running, if any: a parallel region opened from inside a task
// runs its tasks inline on that thread instead of re-entering the pool (which would overwrite the
// running job and deadlock or corrupt it).
thread_local const ThreadPool* tl_running_task_of = nullptr;

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

// Takes tasks until none are left; called by workers and by the thread that called run().
void ThreadPool::drain() {
  std::unique_lock lock(mutex_);
  while (job_ != nullptr && next_task_ < num_tasks_) {
    const size_t task = next_task_++;
    const auto* job = job_;
    lock.unlock();
    const ThreadPool* outer = tl_running_task_of;  // another pool's task, in tests
    tl_running_task_of = this;
    try {
      (*job)(task);
    } catch (...) {
      std::lock_guard guard(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    tl_running_task_of = outer;
    lock.lock();
    if (++finished_tasks_ == num_tasks_) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  size_t seen_generation = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen_generation; });
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen_generation; });
      if (stop_) return;
      seen_generation = generation_;
    }
    drain();
  }
}

void ThreadPool::run(size_t num_tasks, const std::function<void(size_t)>& fn) {
  if (num_tasks == 0) return;
  if (num_threads_ == 1 || num_tasks == 1 || tl_running_task_of == this) {
    for (size_t i = 0; i < num_tasks; ++i) fn(i);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    num_tasks_ = num_tasks;
    next_task_ = 0;
    finished_tasks_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::exception_ptr error;
  spin_until([&] { return finished_tasks_.load(std::memory_order_acquire) == num_tasks; });
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return finished_tasks_ == num_tasks_; });
    job_ = nullptr;
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  const size_t units = (n + grain - 1) / grain;
  const size_t chunks = std::min<size_t>(units, static_cast<size_t>(num_threads_));
  run(chunks, [&](size_t c) {
    const size_t begin = std::min(n, units * c / chunks * grain);
    const size_t end = std::min(n, units * (c + 1) / chunks * grain);
    if (begin < end) fn(begin, end);
  });
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

ThreadPool& thread_pool() {
  auto& pool = pool_slot();
  if (!pool) set_num_threads(0);
  return *pool;
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto& pool = pool_slot();
  if (pool && pool->size() == n) return;
  pool.reset();
  pool = std::make_unique<ThreadPool>(n);
}

}  // namespace lowbit
