// test_parallel.cpp: the one-shot parallel_for of parallel.h (used by the loader's NaN/Inf scan and the CUDA weight
// upload): every item is covered exactly once by contiguous ranges of ceil(n / parts), part 0 runs on the calling
// thread, degenerate splits start no thread, and an exception comes back to the caller (the lowest part's) only once
// every thread has finished.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "parallel.h"

using rir::parallel_for;

namespace {

struct Range {
    unsigned part;
    uint64_t begin, end;
    std::thread::id thread;
};

std::vector<Range> ranges_of(uint64_t n, unsigned parts) {
    std::mutex m;
    std::vector<Range> out;
    parallel_for(n, parts, [&](unsigned part, uint64_t begin, uint64_t end) {
        std::lock_guard<std::mutex> lock(m);
        out.push_back({part, begin, end, std::this_thread::get_id()});
    });
    return out;
}

}  // namespace

TEST_CASE(covers_every_item_once_in_ceil_sized_ranges) {
    for (uint64_t n : {1ull, 2ull, 7ull, 8ull, 9ull, 1000ull, 1001ull})
        for (unsigned parts : {1u, 2u, 3u, 4u, 8u}) {
            std::vector<Range> rs = ranges_of(n, parts);
            const uint64_t per = (n + parts - 1) / parts;
            std::vector<int> hits(n, 0);
            std::vector<int> seen(parts, 0);
            for (const Range &r : rs) {
                REQUIRE(r.part < parts);
                CHECK_MSG(r.begin < r.end, "empty range given to fn, n " << n << " parts " << parts);
                CHECK_MSG(r.begin == r.part * per && r.end == std::min(n, r.begin + per),
                          "part " << r.part << " got [" << r.begin << ", " << r.end << ") for n " << n << " parts "
                                  << parts);
                ++seen[r.part];
                for (uint64_t i = r.begin; i < r.end; ++i) ++hits[i];
            }
            for (uint64_t i = 0; i < n; ++i) CHECK_MSG(hits[i] == 1, "item " << i << " of " << n << " hit " << hits[i]);
            for (unsigned p = 0; p < parts; ++p) CHECK(seen[p] <= 1);
        }
}

TEST_CASE(part_zero_runs_on_the_calling_thread) {
    std::vector<Range> rs = ranges_of(100, 4);
    REQUIRE(rs.size() == 4);
    for (const Range &r : rs)
        if (r.part == 0) CHECK(r.thread == std::this_thread::get_id());
}

TEST_CASE(degenerate_splits_stay_on_the_calling_thread) {
    CHECK(ranges_of(0, 4).empty());  // nothing to do: fn is never called
    for (unsigned parts : {0u, 1u}) {
        std::vector<Range> rs = ranges_of(5, parts);
        REQUIRE(rs.size() == 1);
        CHECK(rs[0].part == 0 && rs[0].begin == 0 && rs[0].end == 5);
        CHECK(rs[0].thread == std::this_thread::get_id());
    }
    // More parts than items: one item each, the parts past n get no range.
    std::vector<Range> rs = ranges_of(3, 8);
    CHECK(rs.size() == 3);
}

TEST_CASE(the_lowest_parts_exception_is_rethrown_after_every_part_finished) {
    std::atomic<int> finished{0};
    std::string what;
    try {
        parallel_for(400, 4, [&](unsigned part, uint64_t, uint64_t) {
            if (part == 3) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));  // still running when part 0 throws
                finished.fetch_add(1);
                throw std::runtime_error("part 3");
            }
            finished.fetch_add(1);
            if (part >= 1) throw std::runtime_error("part " + std::to_string(part));
            throw std::logic_error("part 0");
        });
    } catch (const std::exception &e) {
        what = e.what();
    }
    CHECK_MSG(what == "part 0", "caught '" << what << "'");
    CHECK(finished.load() == 4);  // nothing left running behind the exception
    // A worker's exception alone reaches the caller too.
    what.clear();
    try {
        parallel_for(10, 2, [&](unsigned part, uint64_t, uint64_t) {
            if (part == 1) throw std::runtime_error("worker");
        });
    } catch (const std::runtime_error &e) {
        what = e.what();
    }
    CHECK(what == "worker");
}

TEST_CASE(hardware_threads_is_clamped_to_one_and_the_cap) {
    CHECK(rir::hardware_threads(1) == 1);
    const unsigned t = rir::hardware_threads(1000);
    CHECK(t >= 1 && t <= 1000);
    CHECK(rir::hardware_threads(2) >= 1 && rir::hardware_threads(2) <= 2);
    CHECK(rir::hardware_threads(0) == 1);  // a cap of 0 still allows the calling thread
}

RUN_TESTS()
