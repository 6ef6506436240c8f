// bench_gemm.cpp: the CPU's measured ceilings, against which the benchmark suite states "achieved vs ceiling".
//
//   bench_gemm [--threads T] [--size N] [--iters I] [--json]
//
// Figures, all FLOP/s over T threads (default: all cores), for each precision's kernels:
//   fma_peak     a register-only loop of independent fp32 fused multiply-adds of the widest vector ISA the engine
//                picks (24 accumulators, no memory traffic): what the cores can issue at most in fp32.
//   bf16_peak    the same for the instruction the BF16 mode's products use at the engine's level: vdpbf16ps
//                (AVX512_BF16), tdpbf16ps (AMX tiles, four 16 x 16 x 32 products per step), or the fp32 FMA where the
//                BF16 mode runs on the fp32 kernels (AVX2, AVX-512 without a faster bf16 instruction).
//   kernel       the engine's own GEMM microkernel (the one the forward pass uses) on a tile and a panel that stay in
//                L1/L2, one instance per thread: the kernel without packing or memory stalls. bf16_kernel: the same
//                for the BF16 mode's kernel.
//   gemm         the engine's full threaded GEMM (cpu::Gemm::run on weights packed as the backend packs them),
//                Y[N, N] = X[N, N] W[N, N]^T, best of I calls: the ceiling the forward pass's projections can reach.
//                bf16_gemm: the same with bf16-exact X (the BF16 mode's kernels).
//   mem_read     GB/s of a streaming read of a 1 GiB buffer by all threads at once (best of 3): the bound of
//                memory-bound work such as one search query over an index.
// The suite states each precision's "of ceiling" against its own kernel-in-cache figure.
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

#include "bf16.h"
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
__attribute__((target("avx512f,avx512bf16"))) double dpbf16_loop(float seed) {
    __m512 a[24];
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80);  // (1, 1) in bf16
    const __m512bh y = (__m512bh)_mm512_set1_epi32(0x3c003c00 + static_cast<int>(seed));
    for (int i = 0; i < 24; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
    for (int64_t it = 0; it < kFmaIters / 8; ++it)
#pragma GCC unroll 24
        for (int i = 0; i < 24; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    alignas(64) float out[16];
    float sink = 0;
    for (int i = 0; i < 24; ++i) {
        _mm512_store_ps(out, a[i]);
        for (float f : out) sink += f;
    }
    if (sink == 12345.0f) std::puts("");
    return 2.0 * 32 * 24 * (kFmaIters / 8);  // 32 products per instruction
}

struct alignas(64) AmxConfig {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

// Four independent 16 x 16 accumulator tiles, operands loaded once: tdpbf16ps back to back.
__attribute__((target("amx-tile,amx-bf16"))) double amx_loop(float) {
    AmxConfig cfg{};
    cfg.palette = 1;
    for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
    alignas(64) static thread_local uint16_t buf[16 * 32] = {};
    alignas(64) static thread_local float out[16 * 16];
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, buf, 64);
    _tile_loadd(5, buf, 64);
    _tile_loadd(6, buf, 64);
    _tile_loadd(7, buf, 64);
    const int64_t iters = kFmaIters / 64;
    for (int64_t it = 0; it < iters; ++it) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    if (out[3] == 12345.0f) std::puts("");
    return 2.0 * 16 * 16 * 32 * 4 * iters;
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
                        "Measures, for the fp32 and the bf16 kernels, the register-only peak of the instruction, the "
                        "engine's GEMM microkernel in cache, and its full GEMM (N x N x N, packed bf16 weights) on T "
                        "threads.\n");
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
    using rir::f32_to_bf16;
    using rir::round_bf16;
    const Isa isa = select_isa();

    // 1. FMA peak
    double fma_peak = on_threads(threads, [&](int t) {
#if defined(__x86_64__)
        if (isa >= Isa::Avx512) return fma_loop_avx512(0.5f + t);
        if (isa == Isa::Avx2) return fma_loop_avx2(0.5f + t);
#endif
        return fma_loop_scalar(0.5f + t);
    });

    // 1a. memory read bandwidth: every thread sums its share of a 1 GiB buffer (4 independent sums: the loads, not
    // the additions, bound the loop), best of 3.
    double mem_gbps = 0;
    {
        const size_t n = size_t(1) << 28;  // floats: 1 GiB
        std::vector<float> buf(n, 1.0f);
        for (int rep = 0; rep < 3; ++rep) {
            std::vector<std::thread> ts;
            std::vector<float> sums(threads);
            const auto t0 = Clock::now();
            for (int t = 0; t < threads; ++t)
                ts.emplace_back([&, t] {
                    const size_t b = n / threads * t, e = t + 1 == threads ? n : n / threads * (t + 1);
                    float s[8] = {};
                    for (size_t i = b; i + 8 <= e; i += 8)
                        for (int j = 0; j < 8; ++j) s[j] += buf[i + j];
                    sums[t] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
                });
            for (auto &t : ts) t.join();
            const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
            if (sums[0] == 12345.0f) std::puts("");
            mem_gbps = std::max(mem_gbps, n * sizeof(float) / secs / 1e9);
        }
    }

    // 1b. the BF16 mode's instruction at this level
    const char *bf16_instr = "fma";
    double bf16_peak = fma_peak;
#if defined(__x86_64__)
    if (isa == Isa::Amx) {
        bf16_instr = "tdpbf16ps";
        bf16_peak = on_threads(threads, [&](int t) { return amx_loop(0.5f + t); });
    } else if (isa == Isa::Avx512Bf16) {
        bf16_instr = "vdpbf16ps";
        bf16_peak = on_threads(threads, [&](int t) { return dpbf16_loop(0.5f + t); });
    }
#endif

    // 2. each precision's microkernel in cache: an MR x KC tile of X against one panel, repeated
    ThreadPool one(1);
    Gemm probe(one, isa);
    auto in_cache = [&](const GemmKernels &ks) {
        return on_threads(threads, [&](int) {
            const int kc = ks.kc, mr = ks.mr, nr = ks.nr;
            // X: mr rows (at least 32: the AMX kernel reads whole row tiles), fp32 or bf16; panel: kc x nr fp32, or
            // kc/2 x nr bf16 pairs.
            const int64_t ldx = kc + 64;
            std::vector<float> xf(static_cast<size_t>(std::max(mr, 32)) * ldx, 0.5f);
            std::vector<uint16_t> xb(xf.size(), 0x3f00);  // 0.5 in bf16
            std::vector<float> panel(static_cast<size_t>(nr) * kc, 0.25f);
            std::vector<uint32_t> pairs(static_cast<size_t>(nr) * kc / 2, 0x3e803e80u);  // (0.25, 0.25)
            std::vector<float> y(static_cast<size_t>(mr) * nr, 0.0f);
            const void *x = ks.bf16_x ? static_cast<const void *>(xb.data()) : xf.data();
            const void *p = ks.bf16_x ? static_cast<const void *>(pairs.data()) : panel.data();
            const int64_t calls = 20'000'000'000 / (2 * int64_t(mr) * nr * kc) + 1;  // 20 GFLOP per thread
            if (ks.begin) ks.begin();
            for (int64_t c = 0; c < calls; ++c) ks.ukr[mr](kc, x, ldx, p, y.data(), nr, nr, c > 0);
            if (ks.end) ks.end();
            return 2.0 * mr * nr * kc * calls;
        });
    };
    const GemmKernels &ks = probe.kernels(false), &ks16 = probe.kernels(true);
    const double kernel = in_cache(ks), kernel16 = &ks16 == &ks ? kernel : in_cache(ks16);

    // 3. the full GEMM, both kinds of input
    ThreadPool pool(threads);
    Gemm gemm(pool, isa);
    const int64_t n = size;
    std::vector<float> x(static_cast<size_t>(n * n)), xr(x.size()), y(static_cast<size_t>(n * n));
    std::vector<bf16_t> w(static_cast<size_t>(n * n));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto &v : x) v = u(rng);
    for (size_t i = 0; i < x.size(); ++i) xr[i] = round_bf16(x[i]);
    for (auto &v : w) v = f32_to_bf16(u(rng));
    const PackedWeights pw = PackedWeights::of(pool, isa, w.data(), n, n);
    auto best_of = [&](const std::vector<float> &in, bool bf16) {
        double best = 1e30;
        gemm.run(in.data(), n, pw, y.data(), bf16, false);  // warm-up
        for (int64_t i = 0; i < iters; ++i) {
            auto t0 = Clock::now();
            gemm.run(in.data(), n, pw, y.data(), bf16, false);
            best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
        }
        return 2.0 * n * n * n / best;
    };
    const double gemm_flops = best_of(x, false), gemm16 = best_of(xr, true);

    std::printf("isa %s, %d threads; fp32 kernel %s (%d x %d, kc %d), bf16 kernel %s (%d x %d, kc %d)\n",
                isa_name(isa), threads, ks.name, ks.mr, ks.nr, ks.kc, ks16.name, ks16.mr, ks16.nr, ks16.kc);
    std::printf("fma_peak     %8.1f GFLOP/s  register-only fp32 FMA loop\n", fma_peak / 1e9);
    std::printf("kernel       %8.1f GFLOP/s  fp32 GEMM microkernel, data in cache\n", kernel / 1e9);
    std::printf("gemm         %8.1f GFLOP/s  fp32 full GEMM %lld x %lld x %lld, best of %lld\n", gemm_flops / 1e9,
                static_cast<long long>(n), static_cast<long long>(n), static_cast<long long>(n),
                static_cast<long long>(iters));
    std::printf("bf16_peak    %8.1f GFLOP/s  register-only %s loop\n", bf16_peak / 1e9, bf16_instr);
    std::printf("bf16_kernel  %8.1f GFLOP/s  BF16 mode's GEMM microkernel, data in cache\n", kernel16 / 1e9);
    std::printf("bf16_gemm    %8.1f GFLOP/s  BF16 mode's full GEMM (bf16-exact X)\n", gemm16 / 1e9);
    std::printf("mem_read     %8.1f GB/s     streaming read, all threads\n", mem_gbps);
    if (json)
        std::printf("{\"isa\": \"%s\", \"threads\": %d, \"kernel_name\": \"%s\", \"fma_peak_gflops\": %.3f, "
                    "\"kernel_gflops\": %.3f, \"gemm_gflops\": %.3f, \"bf16_kernel_name\": \"%s\", "
                    "\"bf16_instr\": \"%s\", \"bf16_peak_gflops\": %.3f, \"bf16_kernel_gflops\": %.3f, "
                    "\"bf16_gemm_gflops\": %.3f, \"mem_read_gbps\": %.3f, \"size\": %lld, \"iters\": %lld}\n",
                    isa_name(isa), threads, ks.name, fma_peak / 1e9, kernel / 1e9, gemm_flops / 1e9, ks16.name,
                    bf16_instr, bf16_peak / 1e9, kernel16 / 1e9, gemm16 / 1e9, mem_gbps, static_cast<long long>(n),
                    static_cast<long long>(iters));
    return 0;
}
