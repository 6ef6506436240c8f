// thread_pool.cpp: see thread_pool.h.
#include "cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rir {
namespace cpu {

ThreadPool::ThreadPool(int num_threads) {
    int workers = std::max(1, num_threads) - 1;
    workers_.reserve(workers);
    try {
        for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_loop(i + 1); });
    } catch (...) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        start_cv_.notify_all();
        for (auto &t : workers_) t.join();
        throw;
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    start_cv_.notify_all();
    for (auto &t : workers_) t.join();
}

void ThreadPool::work(int thread) {
    for (;;) {
        int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
        if (task >= n_tasks_) return;
        try {
            (*job_)(task, thread);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
            next_.store(n_tasks_, std::memory_order_relaxed);  // stop handing out tasks
        }
    }
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#endif
}

// Spins until pred() holds or kSpinNs passed; returns pred().
template <typename Pred>
bool spin_until(Pred pred, int64_t ns) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
    for (int i = 0;; ++i) {
        if (pred()) return true;
        cpu_relax();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return pred();
    }
}

}  // namespace

void ThreadPool::worker_loop(int thread) {
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpinNs)) {
            std::unique_lock<std::mutex> lock(mutex_);
            sleepers_.fetch_add(1);
            start_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
            sleepers_.fetch_sub(1);
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_) return;
            seen = generation_.load();
        }
        work(thread);
        if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);  // the caller may be about to wait on done_cv_
            done_cv_.notify_one();
        }
    }
}

void ThreadPool::run(int64_t n_tasks, const Task &fn) {
    if (n_tasks <= 0) return;
    if (workers_.empty() || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        n_tasks_ = n_tasks;
        next_.store(0, std::memory_order_relaxed);
        busy_.store(static_cast<int>(workers_.size()));
        error_ = nullptr;
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load() > 0) start_cv_.notify_all();
    work(0);
    std::exception_ptr error;
    if (!spin_until([&] { return busy_.load(std::memory_order_acquire) == 0; }, kSpinNs)) {
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait(lock, [&] { return busy_.load() == 0; });
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = nullptr;
        error = error_;
        error_ = nullptr;
    }
    if (error) std::rethrow_exception(error);
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)> &fn,
                              int per_thread) {
    if (n <= 0) return;
    int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(int64_t(size()) * per_thread, n / std::max<int64_t>(1, min_chunk)));
    int64_t step = (n + chunks - 1) / chunks;
    chunks = (n + step - 1) / step;
    run(chunks, [&](int64_t c, int thread) { fn(c * step, std::min(n, (c + 1) * step), thread); });
}

}  // namespace cpu
}  // namespace rir
