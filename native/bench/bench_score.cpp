// bench_score.cpp: throughput of the exact-search scorer (rir_score, cpu/score.h) on rows generated in memory.
//
//   bench_score [--rows N] [--dim D] [--dtype f16|f32] [--block B] [--batch-rows M] [--reps R] [--threads 1,2]
//
// Two figures per thread count, each the median (and best) of R passes:
//   batch  64 queries over the first M rows (default 100000): GFLOP/s (2 x rows x dim x 64 per pass), the
//          compute-bound case; compare with bench_gemm's fma_peak (the fp32 FMA issue rate of the same ISA).
//   single 1 query over all N rows (default 1000000 x 4096 f16 = 8 GB): GB/s of rows read, the memory-bound case;
//          compare with bench_gemm's mem_read.
// T threads each score a contiguous 1/T of the rows in blocks of B rows (default 768, ExactSearch's block), one
// rir_score call per block, as ExactSearch's workers do.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cpu/isa.h"
#include "cpu/score.h"
#include "reasonir.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char *msg) {
    std::fprintf(stderr,
                 "error: %s\nusage: bench_score [--rows N] [--dim D] [--dtype f16|f32] [--block B] [--batch-rows M] "
                 "[--reps R] [--threads 1,2]\n",
                 msg);
    std::exit(2);
}

int64_t parse_int(const char *flag, const char *v) {
    char *end = nullptr;
    long long x = std::strtoll(v, &end, 10);
    if (!*v || *end || x <= 0) usage((std::string(flag) + " needs a positive integer").c_str());
    return x;
}

uint64_t splitmix(uint64_t &s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Seconds of one pass: `threads` threads, each over its share of rows [0, n) in blocks.
double pass(const char *rows, size_t esize, int32_t dtype, int64_t n, int32_t dim, const float *queries, int nq,
            int64_t block, int threads) {
    std::vector<std::thread> ts;
    std::vector<int> failed(threads, 0);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            const int64_t b = n / threads * t, e = t + 1 == threads ? n : n / threads * (t + 1);
            std::vector<float> scores(static_cast<size_t>(nq) * block);
            for (int64_t r = b; r < e; r += block) {
                const int64_t m = std::min(block, e - r);
                if (rir_score(rows + static_cast<size_t>(r) * dim * esize, dtype, m, dim, queries, nq, scores.data(),
                              block) != RIR_OK)
                    failed[t] = 1;
            }
        });
    }
    for (auto &t : ts) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int f : failed)
        if (f) {
            std::fprintf(stderr, "rir_score failed: %s\n", rir_score_last_error());
            std::exit(1);
        }
    return secs;
}

}  // namespace

int main(int argc, char **argv) {
    int64_t rows = 1000000, dim = 4096, block = 768, batch_rows = 100000, reps = 3, batch_queries = 64;
    bool half = true;
    std::vector<int> thread_counts = {1, 2};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "--rows") rows = parse_int("--rows", next());
        else if (a == "--dim") dim = parse_int("--dim", next());
        else if (a == "--block") block = parse_int("--block", next());
        else if (a == "--batch-rows") batch_rows = parse_int("--batch-rows", next());
        else if (a == "--reps") reps = parse_int("--reps", next());
        else if (a == "--batch-queries") batch_queries = parse_int("--batch-queries", next());
        else if (a == "--dtype") {
            std::string v = next();
            if (v != "f16" && v != "f32") usage("--dtype is f16 or f32");
            half = v == "f16";
        } else if (a == "--threads") {
            thread_counts.clear();
            std::string v = next();
            for (size_t p = 0; p < v.size();) {
                size_t c = v.find(',', p);
                std::string tok = v.substr(p, c == std::string::npos ? std::string::npos : c - p);
                thread_counts.push_back(static_cast<int>(parse_int("--threads", tok.c_str())));
                p = c == std::string::npos ? v.size() : c + 1;
            }
        } else usage(("unknown argument " + a).c_str());
    }
    batch_rows = std::min(batch_rows, rows);
    const size_t esize = half ? 2 : 4;
    const int32_t dtype = half ? RIR_DTYPE_F16 : RIR_DTYPE_F32;
    const size_t n = static_cast<size_t>(rows) * dim;
    std::fprintf(stderr, "generating %lld x %lld %s rows (%.2f GB)...\n", (long long)rows, (long long)dim,
                 half ? "f16" : "f32", n * esize / 1e9);
    // Values of magnitude 2^-8 .. 2^-1 with random signs and mantissas (no subnormals), written by 2 threads.
    char *data = static_cast<char *>(std::aligned_alloc(64, (n * esize + 63) / 64 * 64));
    if (!data) usage("not enough memory for the rows");
    {
        std::vector<std::thread> ts;
        for (int t = 0; t < 2; ++t)
            ts.emplace_back([&, t] {
                uint64_t s = 12345 + t;
                const size_t b = n / 2 * t, e = t ? n : n / 2;
                for (size_t i = b; i < e; ++i) {
                    const uint64_t r = splitmix(s);
                    const uint16_t h = static_cast<uint16_t>((r & 0x83ffu) | ((7 + (r >> 16) % 7) << 10));
                    if (half) reinterpret_cast<uint16_t *>(data)[i] = h;
                    else reinterpret_cast<float *>(data)[i] = rir::cpu::half_to_float(h);
                }
            });
        for (auto &t : ts) t.join();
    }
    // Queries 64-byte aligned, as ExactSearch allocates them.
    const size_t nqf = static_cast<size_t>(batch_queries) * dim;
    float *qbuf = static_cast<float *>(std::aligned_alloc(64, (nqf * 4 + 63) / 64 * 64));
    struct { float *p; float *data() { return p; } } queries{qbuf};
    uint64_t s = 99;
    for (size_t i = 0; i < nqf; ++i)
        qbuf[i] = static_cast<float>(static_cast<int64_t>(splitmix(s) % 2001) - 1000) / 64000.0f;

    const rir::cpu::Isa isa = rir::cpu::score_isa(rir::cpu::select_isa());
    std::printf("bench_score: kernels %s, %lld x %lld %s, blocks of %lld rows, median (best) of %lld\n",
                rir::cpu::isa_name(isa), (long long)rows, (long long)dim, half ? "f16" : "f32", (long long)block,
                (long long)reps);
    for (int threads : thread_counts) {
        for (int nq : {static_cast<int>(batch_queries), 1}) {
            const int64_t nr = nq == 1 ? rows : batch_rows;
            pass(data, esize, dtype, std::min<int64_t>(nr, 20000), static_cast<int32_t>(dim), queries.data(), nq,
                 block, threads);  // warm-up (page faults were taken by the generator)
            std::vector<double> secs;
            for (int64_t r = 0; r < reps; ++r)
                secs.push_back(pass(data, esize, dtype, nr, static_cast<int32_t>(dim), queries.data(), nq, block,
                                    threads));
            std::vector<double> sorted = secs;
            std::sort(sorted.begin(), sorted.end());
            const double med = sorted[sorted.size() / 2], best = sorted[0];
            const double flop = 2.0 * nr * dim * nq, bytes = static_cast<double>(nr) * dim * esize;
            std::printf("  threads %d, %2d queries, %lld rows: %.3f s  %.1f (%.1f) GFLOP/s  %.2f (%.2f) GB/s  "
                        "%.1f queries/s over all rows\n",
                        threads, nq, (long long)nr, med, flop / med / 1e9, flop / best / 1e9, bytes / med / 1e9,
                        bytes / best / 1e9, nq * (static_cast<double>(nr) / rows) / med);
            std::printf("{\"benchmark\":\"score\",\"isa\":\"%s\",\"dtype\":\"%s\",\"rows\":%lld,\"dim\":%lld,"
                        "\"queries\":%d,\"threads\":%d,\"block\":%lld,\"seconds\":%.6f,\"gflops\":%.3f,"
                        "\"gflops_best\":%.3f,\"gbytes_per_s\":%.3f}\n",
                        rir::cpu::isa_name(isa), half ? "f16" : "f32", (long long)nr, (long long)dim, nq, threads,
                        (long long)block, med, flop / med / 1e9, flop / best / 1e9, bytes / med / 1e9);
            std::fflush(stdout);
        }
    }
    std::free(data);
    std::free(qbuf);
    return 0;
}
