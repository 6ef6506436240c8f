// thread_pool.cpp: see thread_pool.h.
#include "cpu/thread_pool.h"

#include <algorithm>

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

void ThreadPool::worker_loop(int thread) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        work(thread);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--busy_ == 0) done_cv_.notify_one();
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
        busy_ = static_cast<int>(workers_.size());
        error_ = nullptr;
        ++generation_;
    }
    start_cv_.notify_all();
    work(0);
    std::exception_ptr error;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait(lock, [&] { return busy_ == 0; });
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
