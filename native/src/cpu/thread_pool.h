// thread_pool.h: a small persistent pool owned by one CPU backend (no global state). run(n, fn) calls fn(task, thread)
// for every task in [0, n), handing tasks out dynamically; the calling thread works too, so a pool of size N has
// N - 1 worker threads. `thread` is in [0, size()) and indexes per-thread scratch buffers. The first exception a task
// throws is rethrown by run() after all threads stopped taking tasks.
// A forward pass is a few hundred run() calls back to back; waking a sleeping thread costs tens of microseconds
// (futex), which at batch 1 was a large part of a short query. So idle workers spin for a short while (kSpinNs)
// before sleeping, and the caller spins before it waits for the last worker: between the ops of one forward pass no
// thread sleeps, and a pool left idle sleeps within kSpinNs.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rir {
namespace cpu {

class ThreadPool {
public:
    using Task = std::function<void(int64_t task, int thread)>;

    explicit ThreadPool(int num_threads);  // num_threads >= 1
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }
    void run(int64_t n_tasks, const Task &fn);

    // Splits [0, n) into about `size() * per_thread` contiguous chunks of at least `min_chunk` items and calls
    // fn(begin, end, thread) for each: the helper for elementwise and row-wise ops.
    void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)> &fn,
                      int per_thread = 4);

private:
    void worker_loop(int thread);
    void work(int thread);

    static constexpr int64_t kSpinNs = 200'000;  // 0.2 ms: longer than any gap between two ops of a forward pass

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable start_cv_, done_cv_;
    const Task *job_ = nullptr;
    int64_t n_tasks_ = 0;
    std::atomic<int64_t> next_{0};
    std::atomic<int> busy_{0};               // workers still inside the current job
    std::atomic<uint64_t> generation_{0};    // bumped for every job so waiting workers know a new one arrived
    std::atomic<int> sleepers_{0};           // workers blocked on start_cv_ (the caller notifies only then)
    bool stop_ = false;
    std::exception_ptr error_;  // first exception of the current job
};

}  // namespace cpu
}  // namespace rir
