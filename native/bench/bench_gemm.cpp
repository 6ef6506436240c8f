// bench_gemm.cpp: the CPU's measured ceilings, against which the benchmark suite states "achieved vs ceiling".
//
//   bench_gemm [--threads T] [--size N] [--iters I] [--json]
//
// Three figures, all fp32 FLOP/s over T threads (default: all cores):
//   fma_peak   a register-only loop of independent fused multiply-adds of the widest vector ISA the engine picks
//              (24 accumulators, no memory traffic): what the cores can issue at most.
//   kernel     the engine's own GEMM microkernel (the one the forward pass uses) on a tile and a panel that stay in
//              L1/L2, one instance per thread: the kernel without packing or memory stalls.
//   gemm       the engine's full threaded GEMM (cpu::Gemm::run, bf16 weights widened on the fly, fp32 activations),
//              Y[N, N] = X[N, N] W[N, N]^T, best of I calls: the ceiling the forward pass's projections can reach.
// "gemm" is the figure the suite calls the machine's measured GEMM ceiling.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char *msg) {
    std::fprintf(stderr, "error: %s\nusage: bench_gemm [--threads T] [--size N] [--iters I] [--json]\n", msg);
    std::exit(2);
}

int64_t parse_int(const char *flag, const char *v) {
    char *end = nullptr;
    long long x = std::strtoll(v, &end, 10);
    if (!*v || *end || x <= 0) usage((std::string(flag) + " needs a positive integer").c_str());
    return x;
}

constexpr int64_t kFmaIters = 100'000'000;  // ~0.2 s per thread at 100 GFLOP/s

// Returns FLOPs done by one thread; 24 independent accumulators hide the FMA latency on any current core.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) double fma_loop_avx512(float seed) {
    __m512 a[24];
    const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(seed);
    for (int i = 0; i < 24; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
    for (int64_t it = 0; it < kFmaIters / 4; ++it)
#pragma GCC unroll 24
        for (int i = 0; i < 24; ++i) a[i] = _mm512_fmadd_ps(a[i], x, y);
    alignas(64) float out[16];
    float sink = 0;
    for (int i = 0; i < 24; ++i) {
        _mm512_store_ps(out, a[i]);
        for (float f : out) sink += f;
    }
    if (sink == 12345.0f) std::puts("");  // keeps the loop alive
    return 2.0 * 16 * 24 * (kFmaIters / 4);
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(float seed) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(seed);
    for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(static_cast<float>(i));
    for (int64_t it = 0; it < kFmaIters / 2; ++it)
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], x, y);
    alignas(32) float out[8];
    float sink = 0;
    for (int i = 0; i < 12; ++i) {
        _mm256_store_ps(out, a[i]);
        for (float f : out) sink += f;
    }
    if (sink == 12345.0f) std::puts("");
    return 2.0 * 8 * 12 * (kFmaIters / 2);
}
#endif

double fma_loop_scalar(float seed) {
    float a[8];
    for (int i = 0; i < 8; ++i) a[i] = static_cast<float>(i);
    for (int64_t it = 0; it < kFmaIters / 8; ++it)
        for (int i = 0; i < 8; ++i) a[i] = a[i] * 1.0000001f + seed;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return 2.0 * 8 * (kFmaIters / 8);
}

// Runs fn on `threads` threads at once; returns total FLOPs / wall seconds.
template <typename Fn>
double on_threads(int threads, Fn fn) {
    std::vector<double> flops(threads);
    std::atomic<int> ready{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < threads) {
            }
            flops[t] = fn(t);
        });
    for (auto &t : ts) t.join();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    return total / s;
}

}  // namespace

int main(int argc, char **argv) {
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int64_t size = 2048, iters = 5;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * {
            if (i + 1 >= argc) usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            std::printf("usage: bench_gemm [--threads T] [--size N] [--iters I] [--json]\n"
                        "Measures the fp32 FMA peak, the engine's GEMM microkernel in cache, and its full GEMM "
                        "(N x N x N, bf16 weights) on T threads.\n");
            return 0;
        } else if (a == "--threads") {
            threads = static_cast<int>(parse_int("--threads", value()));
        } else if (a == "--size") {
            size = parse_int("--size", value());
        } else if (a == "--iters") {
            iters = parse_int("--iters", value());
        } else if (a == "--json") {
            json = true;
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    using namespace rir::cpu;
    using rir::bf16_t;
    const Isa isa = select_isa();

    // 1. FMA peak
    double fma_peak = on_threads(threads, [&](int t) {
#if defined(__x86_64__)
        if (isa >= Isa::Avx512) return fma_loop_avx512(0.5f + t);
        if (isa == Isa::Avx2) return fma_loop_avx2(0.5f + t);
#endif
        return fma_loop_scalar(0.5f + t);
    });

    // 2. the microkernel in cache: an MR x KC tile of X against one panel, repeated
    ThreadPool one(1);
    Gemm probe(one, isa);
    const GemmKernels &ks = probe.kernels(false);  // the fp32-input kernels the FP32 forward uses
    double kernel = on_threads(threads, [&](int) {
        const int kc = ks.kc, mr = ks.mr, nr = ks.nr;
        std::vector<float> x(static_cast<size_t>(mr) * kc, 0.5f), panel(static_cast<size_t>(nr) * kc, 0.25f);
        std::vector<float> y(static_cast<size_t>(mr) * nr, 0.0f);
        const int64_t calls = 20'000'000'000 / (2 * int64_t(mr) * nr * kc) + 1;  // 20 GFLOP per thread
        for (int64_t c = 0; c < calls; ++c) ks.ukr[mr](kc, x.data(), kc, panel.data(), y.data(), nr, nr, c > 0);
        return 2.0 * mr * nr * kc * calls;
    });

    // 3. the full GEMM
    ThreadPool pool(threads);
    Gemm gemm(pool, isa);
    const int64_t n = size;
    std::vector<float> x(static_cast<size_t>(n * n)), y(static_cast<size_t>(n * n));
    std::vector<bf16_t> w(static_cast<size_t>(n * n));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto &v : x) v = u(rng);
    for (auto &v : w) v = f32_to_bf16(u(rng));
    double best = 1e30;
    gemm.run(x.data(), n, n, w.data(), n, y.data(), false, false);  // warm-up
    for (int64_t i = 0; i < iters; ++i) {
        auto t0 = Clock::now();
        gemm.run(x.data(), n, n, w.data(), n, y.data(), false, false);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    double gemm_flops = 2.0 * n * n * n / best;

    std::printf("isa %s, %d threads, kernel %s (%d x %d, kc %d)\n", isa_name(isa), threads, ks.name, ks.mr, ks.nr,
                ks.kc);
    std::printf("fma_peak  %8.1f GFLOP/s  register-only FMA loop\n", fma_peak / 1e9);
    std::printf("kernel    %8.1f GFLOP/s  GEMM microkernel, data in cache\n", kernel / 1e9);
    std::printf("gemm      %8.1f GFLOP/s  full GEMM %lld x %lld x %lld, bf16 weights, best of %lld\n", gemm_flops / 1e9,
                static_cast<long long>(n), static_cast<long long>(n), static_cast<long long>(n),
                static_cast<long long>(iters));
    if (json)
        std::printf("{\"isa\": \"%s\", \"threads\": %d, \"kernel_name\": \"%s\", \"fma_peak_gflops\": %.3f, "
                    "\"kernel_gflops\": %.3f, \"gemm_gflops\": %.3f, \"size\": %lld, \"iters\": %lld}\n",
                    isa_name(isa), threads, ks.name, fma_peak / 1e9, kernel / 1e9, gemm_flops / 1e9,
                    static_cast<long long>(n), static_cast<long long>(iters));
    return 0;
}
