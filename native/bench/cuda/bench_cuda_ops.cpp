// bench_cuda_ops.cpp: where the time of one layer goes on the GPU, and the GEMM ceiling of this machine.
//
//   bench_cuda_ops --gemm-ceiling [--gemm-size N] [--json]
//       bf16 N x N x N (default 8192) through the engine's cuBLASLt path: the achievable rate the forward is measured
//       against.
//   bench_cuda_ops --layer --model DIR [--tokens T] [--seq-len S] [--iters N] [--json]
//       every op of one decoder layer of DIR's config (random weights), at T tokens in sequences of S, timed with CUDA
//       events: milliseconds per op and its achieved TFLOP/s (GEMMs, attention) or GB/s (the memory-bound ops).
// Built only with the CUDA backend (it calls the kernels directly, below the C API).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "config.h"
#include "cuda/check.h"
#include "cuda/cublaslt.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernels.h"
#include "cuda/schedule.h"
#include "json.h"
#include "rope.h"

using namespace rir::cuda;

namespace {

[[noreturn]] void usage(const char *msg) {
    std::fprintf(stderr, "error: %s\nusage: bench_cuda_ops --gemm-ceiling [--gemm-size N] [--json]\n"
                         "       bench_cuda_ops --layer --model DIR [--tokens T] [--seq-len S] [--iters N] [--json]\n", msg);
    std::exit(2);
}

template <typename T>
T *dev(size_t n) {
    void *p = nullptr;
    check(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
    return static_cast<T *>(p);
}

// Random bf16 in [-scale, scale] filled on the host once per buffer size class (a few distinct patterns suffice).
void fill(bf16 *p, size_t n, float scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<uint16_t> h(std::min<size_t>(n, size_t(1) << 24));
    for (auto &x : h) {
        float f = u(rng);
        uint32_t b;
        std::memcpy(&b, &f, 4);
        x = static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
    }
    for (size_t off = 0; off < n; off += h.size()) {
        const size_t k = std::min(h.size(), n - off);
        check(cudaMemcpy(p + off, h.data(), k * 2, cudaMemcpyHostToDevice), "fill");
    }
}

// Median time in ms of fn over iters runs, by CUDA events.
double time_ms(cudaStream_t s, int iters, const std::function<void()> &fn) {
    fn();  // warm-up (plans, caches)
    check(cudaStreamSynchronize(s), "warm-up");
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> t;
    for (int i = 0; i < iters; ++i) {
        cudaEventRecord(a, s);
        fn();
        cudaEventRecord(b, s);
        check(cudaEventSynchronize(b), "timed op");
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        t.push_back(ms);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
    bool ceiling = false, layer = false, json = false;
    std::string model;
    int64_t T = 8192, S = 512;
    int iters = 10, gemm_n = 8192;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> const char * { if (i + 1 >= argc) usage(("missing value after " + a).c_str()); return argv[++i]; };
        if (a == "--gemm-ceiling") ceiling = true;
        else if (a == "--layer") layer = true;
        else if (a == "--json") json = true;
        else if (a == "--model") model = val();
        else if (a == "--tokens") T = std::atoll(val());
        else if (a == "--seq-len") S = std::atoll(val());
        else if (a == "--iters") iters = std::atoi(val());
        else if (a == "--gemm-size") gemm_n = std::atoi(val());
        else if (a == "-h" || a == "--help") usage("help");
        else usage(("unknown flag " + a).c_str());
    }
    if (!ceiling && !layer) usage("give --gemm-ceiling or --layer");
    if (iters < 1 || gemm_n < 16 || T < 1 || S < 1) usage("--iters, --gemm-size, --tokens and --seq-len must be positive");
    try {
        std::string why;
        if (usable_device_count(&why) == 0) {
            std::fprintf(stderr, "no usable CUDA device: %s\n", why.c_str());
            return 77;
        }
        const LtLibrary *lib = load_cublaslt(&why);
        cudaStream_t s;
        check(cudaStreamCreate(&s), "stream");
        Gemm gemm(*lib);
        if (ceiling) {
            const int n = gemm_n;
            bf16 *A = dev<bf16>(size_t(n) * n), *B = dev<bf16>(size_t(n) * n), *C = dev<bf16>(size_t(n) * n);
            fill(A, size_t(n) * n, 1.0f, 1);
            fill(B, size_t(n) * n, 1.0f, 2);
            const double ms = time_ms(s, iters, [&] { gemm.nt(A, n, n, B, n, C, s); });
            const double tflops = 2.0 * n * n * n / (ms * 1e-3) / 1e12;
            std::printf("gemm bf16 %dx%dx%d: %.3f ms, %.1f TFLOP/s (cuBLASLt %zu, %s)\n", n, n, n, ms, tflops,
                        lib->version, lib->path.c_str());
            if (json) std::printf("{\"gemm_tflops\": %.3f, \"gemm_ms\": %.4f, \"n\": %d}\n", tflops, ms, n);
        }
        if (layer) {
            if (model.empty()) usage("--layer needs --model DIR");
            const std::string cp = model + "/config.json";
            const rir::LlamaConfig c = rir::parse_config(rir::json::read_file(cp), cp);
            S = std::min(S, T);
            const int64_t n_seqs = std::max<int64_t>(1, T / S);
            T = n_seqs * S;
            const int H = c.hidden, I = c.intermediate, hd = c.head_dim;
            const int qd = c.heads * hd, kvd = c.kv_heads * hd, qkvd = qd + 2 * kvd;
            const int64_t tm = std::min<int64_t>(T, 8192);
            bf16 *wqkv = dev<bf16>(size_t(qkvd) * H), *wo = dev<bf16>(size_t(H) * qd), *wgu = dev<bf16>(size_t(2) * I * H),
                 *wd = dev<bf16>(size_t(H) * I), *norm = dev<bf16>(H);
            bf16 *h = dev<bf16>(size_t(T) * H), *y = dev<bf16>(size_t(T) * H), *d = dev<bf16>(size_t(T) * H),
                 *qkv = dev<bf16>(size_t(T) * qkvd), *attn = dev<bf16>(size_t(T) * qd), *gu = dev<bf16>(size_t(tm) * 2 * I),
                 *act = dev<bf16>(size_t(tm) * I);
            fill(wqkv, size_t(qkvd) * H, 0.02f, 3);
            fill(wo, size_t(H) * qd, 0.02f, 4);
            fill(wgu, size_t(2) * I * H, 0.02f, 5);
            fill(wd, size_t(H) * I, 0.02f, 6);
            fill(norm, H, 1.0f, 7);
            fill(h, size_t(T) * H, 1.0f, 8);
            fill(d, size_t(T) * H, 1.0f, 9);
            fill(qkv, size_t(T) * qkvd, 1.0f, 10);
            std::vector<int32_t> cu(static_cast<size_t>(n_seqs) + 1), pos(static_cast<size_t>(T)), start(static_cast<size_t>(n_seqs), 0);
            for (int64_t i = 0; i <= n_seqs; ++i) cu[static_cast<size_t>(i)] = static_cast<int32_t>(i * S);
            token_positions(cu.data(), static_cast<int>(n_seqs), pos.data());
            const auto tiles = attention_tiles(cu.data(), static_cast<int>(n_seqs));
            const PoolPlan plan = pool_plan(cu.data(), start.data(), static_cast<int>(n_seqs));
            int32_t *dpos = dev<int32_t>(pos.size());
            AttnTile *dtiles = dev<AttnTile>(tiles.size());
            PoolChunk *dchunks = dev<PoolChunk>(plan.chunks.size());
            PoolSeq *dseqs = dev<PoolSeq>(plan.seqs.size());
            double *partial = dev<double>(size_t(std::max(plan.n_partials, 1)) * H);
            float *out = dev<float>(size_t(n_seqs) * H);
            float2 *cs = dev<float2>(size_t(T) * (hd / 2));
            float *inv = dev<float>(hd / 2);
            const std::vector<float> invh = rir::rope_inv_freq(c);
            check(cudaMemcpy(inv, invh.data(), invh.size() * 4, cudaMemcpyHostToDevice), "copy");
            check(cudaMemcpy(dpos, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice), "copy");
            check(cudaMemcpy(dtiles, tiles.data(), tiles.size() * sizeof(AttnTile), cudaMemcpyHostToDevice), "copy");
            check(cudaMemcpy(dchunks, plan.chunks.data(), plan.chunks.size() * sizeof(PoolChunk), cudaMemcpyHostToDevice), "copy");
            check(cudaMemcpy(dseqs, plan.seqs.data(), plan.seqs.size() * sizeof(PoolSeq), cudaMemcpyHostToDevice), "copy");
            attention_prepare(hd);
            final_norm_pool_prepare(H);
            rope_table(dpos, T, inv, hd / 2, cs, s);
            AttentionArgs a{qkv, qkv + qd, qkv + qd + kvd, qkvd, attn, qd, dtiles, static_cast<int>(tiles.size()),
                            c.heads, c.kv_heads, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
            PoolArgs p{h, d, H, norm, static_cast<float>(c.rms_eps), dchunks, static_cast<int>(plan.chunks.size()),
                       dseqs, static_cast<int>(n_seqs), partial, out, true};
            struct Op { const char *name; double ms, flop, bytes; };
            std::vector<Op> ops;
            const double t = static_cast<double>(T);
            auto add = [&](const char *name, double flop, double bytes, const std::function<void()> &fn) {
                ops.push_back({name, time_ms(s, iters, fn), flop, bytes});
            };
            add("qkv_gemm", 2 * t * H * qkvd, 0, [&] { gemm.nt(y, T, H, wqkv, qkvd, qkv, s); });
            add("rope", 0, t * (qd + kvd) * 2 * 2, [&] { rope_apply(qkv, qkvd, T, c.heads + c.kv_heads, hd, cs, s); });
            fill(qkv, size_t(T) * qkvd, 1.0f, 10);  // rope rotated it many times: fresh values for attention
            add("attention", 4 * t * S * qd, 0, [&] { attention(a, s); });
            add("o_gemm", 2 * t * qd * H, 0, [&] { gemm.nt(attn, T, qd, wo, H, d, s); });
            add("residual_rmsnorm", 0, t * H * 2 * 4, [&] { residual_rmsnorm(h, d, T, H, norm, 1e-5f, y, s); });
            add("gate_up_gemm", 2 * t * H * 2 * I, 0, [&] {
                for (int64_t t0 = 0; t0 < T; t0 += tm) gemm.nt(y + t0 * H, std::min(tm, T - t0), H, wgu, 2 * I, gu, s);
            });
            add("swiglu", 0, t * I * 2 * 3, [&] {
                for (int64_t t0 = 0; t0 < T; t0 += tm) swiglu(gu, std::min(tm, T - t0), I, act, s);
            });
            add("down_gemm", 2 * t * I * H, 0, [&] {
                for (int64_t t0 = 0; t0 < T; t0 += tm) gemm.nt(act, std::min(tm, T - t0), I, wd, H, d + t0 * H, s);
            });
            add("final_norm_pool (once per forward)", 0, t * H * 2 * 2, [&] { final_norm_pool(p, s); });
            check(cudaGetLastError(), "ops");
            double layer_ms = 0;
            std::printf("one layer of %s: %lld tokens in sequences of %lld (median of %d)\n", model.c_str(),
                        static_cast<long long>(T), static_cast<long long>(S), iters);
            for (const Op &o : ops) {
                if (std::strncmp(o.name, "final", 5) != 0) layer_ms += o.ms;
                if (o.flop > 0)
                    std::printf("  %-36s %8.3f ms  %7.1f TFLOP/s\n", o.name, o.ms, o.flop / (o.ms * 1e-3) / 1e12);
                else
                    std::printf("  %-36s %8.3f ms  %7.1f GB/s\n", o.name, o.ms, o.bytes / (o.ms * 1e-3) / 1e9);
            }
            std::printf("  layer total %.3f ms -> %.0f tokens/s for %d layers (ops only, no launch gaps)\n", layer_ms,
                        t / (layer_ms * c.layers * 1e-3), c.layers);
            if (json) {
                std::printf("{\"tokens\": %lld, \"seq_len\": %lld, \"layer_ms\": %.4f", static_cast<long long>(T),
                            static_cast<long long>(S), layer_ms);
                for (const Op &o : ops) {
                    std::string key = o.name;
                    key = key.substr(0, key.find(' '));
                    std::printf(", \"%s_ms\": %.4f", key.c_str(), o.ms);
                }
                std::printf("}\n");
            }
        }
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_cuda_ops: %s\n", e.what());
        return 1;
    }
}
