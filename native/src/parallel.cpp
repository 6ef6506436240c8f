// parallel.cpp: see parallel.h.
#include "parallel.h"

#include <algorithm>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace rir {

unsigned hardware_threads(unsigned cap) { return std::max(1u, std::min(std::thread::hardware_concurrency(), cap)); }

void parallel_for(uint64_t n, unsigned parts, const std::function<void(unsigned, uint64_t, uint64_t)> &fn) {
    if (n == 0) return;
    if (parts <= 1) {
        fn(0, 0, n);
        return;
    }
    const uint64_t per = n / parts + (n % parts != 0);  // ceil(n / parts) without overflow
    auto range = [&](unsigned p, uint64_t &begin, uint64_t &end) {
        begin = std::min(n, per * p);  // per * p <= n + per: no overflow
        end = std::min(n, begin + per);
        return begin < end;
    };
    // Every exception is caught where it is thrown: one escaping a thread's function would std::terminate, and the
    // calling thread must join every thread before it may leave.
    std::vector<std::exception_ptr> errors(parts);
    auto run = [&](unsigned p, uint64_t begin, uint64_t end) {
        try {
            fn(p, begin, end);
        } catch (...) {
            errors[p] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(parts - 1);  // the only allocation; may throw before any thread exists
    unsigned first_inline = parts;  // parts from here on run on the calling thread
    for (unsigned p = 1; p < parts; ++p) {
        uint64_t b, e;
        if (!range(p, b, e)) break;
        try {
            threads.emplace_back(run, p, b, e);
        } catch (const std::system_error &) {
            // No thread to be had (thread limit, memory): the calling thread takes this part and the rest; starting
            // more threads would most likely fail the same way.
            first_inline = p;
            break;
        }
    }
    uint64_t b, e;
    range(0, b, e);
    run(0, b, e);
    for (unsigned p = first_inline; p < parts && range(p, b, e); ++p) run(p, b, e);
    for (std::thread &t : threads) t.join();
    for (const std::exception_ptr &error : errors)
        if (error) std::rethrow_exception(error);
}

}  // namespace rir
