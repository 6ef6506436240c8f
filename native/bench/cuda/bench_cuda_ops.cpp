// bench_cuda_ops.cpp: where the time of one layer goes on the GPU, the GEMM ceiling of this machine, and the attention
// kernels' rate over sequence lengths.
//
//   bench_cuda_ops --gemm-ceiling [--gemm-size N] [--json]
//       bf16 N x N x N (default 8192) through the engine's cuBLASLt path: the achievable rate the forward is measured
//       against.
//   bench_cuda_ops --layer --model DIR [--tokens T] [--seq-len S] [--iters N] [--attention-kernels LIST] [--json]
//       every op of one decoder layer of DIR's config (random weights), at T tokens in sequences of S, timed with CUDA
//       events: milliseconds per op and its achieved TFLOP/s (GEMMs, attention) or GB/s (the memory-bound ops). The
//       attention op is timed once per kernel of LIST (default sm80); the first kernel's time is the table's
//       "attention" row, every kernel's layer total is printed (the other ops do not depend on the kernel).
//   bench_cuda_ops --attention-sweep S1,S2,.. [--attention-kernels sm80,sm90] [--attention-heads 32,8]
//       [--attention-head-dim 128] [--attention-tokens 16384] [--peak-tflops 989.4] [--iters N] [--json]
//       the attention kernels alone (called directly through kernels.h) on random Q/K/V of 8B-shaped heads: for
//       S <= tokens a packed varlen batch of tokens / S sequences of length S, above it one sequence of S. FLOPs =
//       4 * S^2 * head_dim * heads per sequence (non-causal QK^T and PV); TFLOP/s against --peak-tflops (the H100
//       SXM dense bf16 peak); median of --iters timed runs after one warm-up, by CUDA events.
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
                         "       bench_cuda_ops --layer --model DIR [--tokens T] [--seq-len S] [--iters N]\n"
                         "                      [--attention-kernels sm80,sm90] [--json]\n"
                         "       bench_cuda_ops --attention-sweep S1,S2,.. [--attention-kernels sm80,sm90]\n"
                         "                      [--attention-heads 32,8] [--attention-head-dim 128]\n"
                         "                      [--attention-tokens 16384] [--peak-tflops 989.4] [--iters N] [--json]\n",
                 msg);
    std::exit(2);
}

// One attention kernel as the tool runs it: `run` is empty when the kernel cannot run here, `why` says why (not
// built, wrong compute capability, head_dim it does not support) and `status` is "not built" or "skip".
// q_tile: the query rows of one block, which the kernel's tile list must be built with (attention_tiles).
struct AttentionKernel {
    std::string name, status, why;
    std::function<void(const AttentionArgs &, int64_t, cudaStream_t)> run;
    int q_tile = kAttnQueryTile;
};


AttentionKernel attention_kernel(const std::string &name, int head_dim, const cudaDeviceProp &prop) {
    AttentionKernel k{name, "ok", "", {}};
    if (name == "sm80") {
        if (head_dim > kMaxAttentionHeadDim) {
            k.status = "skip";
            k.why = "head_dim " + std::to_string(head_dim) + " > " + std::to_string(kMaxAttentionHeadDim);
            return k;
        }
        k.run = [](const AttentionArgs &a, int64_t, cudaStream_t s) { attention(a, s); };
        return k;
    }
    if (name == "sm90") {
        k.q_tile = kAttnSm90QueryTile;
        if (prop.major != 9 || prop.minor != 0) {
            k.status = "skip";
            k.why = "compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                    " (the sm90 kernel needs 9.0)";
        } else if (!attention_sm90_supports(head_dim)) {
            k.status = "skip";
            k.why = "head_dim " + std::to_string(head_dim) + " is not supported by the sm90 kernel";
        } else {
            attention_sm90_prepare(head_dim);
            k.run = [](const AttentionArgs &a, int64_t total_tokens, cudaStream_t s) { attention_sm90(a, total_tokens, s); };
        }
        return k;
    }
    usage(("unknown attention kernel '" + name + "' (sm80, sm90)").c_str());
}

std::vector<std::string> split(const std::string &list) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at <= list.size()) {
        const size_t comma = std::min(list.find(',', at), list.size());
        if (comma > at) out.push_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

std::vector<int64_t> split_ints(const std::string &list, const char *flag) {
    std::vector<int64_t> out;
    for (const std::string &x : split(list)) {
        char *end = nullptr;
        const long long v = std::strtoll(x.c_str(), &end, 10);
        if (!end || *end != 0 || v < 1) usage((std::string(flag) + " takes positive integers, got '" + x + "'").c_str());
        out.push_back(v);
    }
    if (out.empty()) usage((std::string(flag) + " needs at least one value").c_str());
    return out;
}

// A JSON string literal (the error texts of a kernel that failed).
std::string quoted(const std::string &text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
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

template <typename T>
void release(T *p) {
    check(cudaFree(p), "cudaFree");
}

// The tiles of `kernel` for the batch `cu` (n_seqs sequences), on the device; `a` with them.
AttentionArgs with_tiles(AttentionArgs a, const AttentionKernel &kernel, const std::vector<int32_t> &cu) {
    const auto tiles = attention_tiles(cu.data(), static_cast<int>(cu.size()) - 1, kernel.q_tile);
    AttnTile *dtiles = dev<AttnTile>(tiles.size());
    check(cudaMemcpy(dtiles, tiles.data(), tiles.size() * sizeof(AttnTile), cudaMemcpyHostToDevice), "copy");
    a.tiles = dtiles;
    a.n_tiles = static_cast<int>(tiles.size());
    return a;
}

// The attention sweep: each kernel alone at each S on the same random Q/K/V (see the header comment).
void attention_sweep(const std::vector<int64_t> &seq_lens, const std::vector<std::string> &kernel_names, int heads,
                     int kv_heads, int head_dim, int64_t batch_tokens, double peak_tflops, int iters, bool json,
                     const cudaDeviceProp &prop, cudaStream_t s) {
    if (heads % kv_heads != 0) usage("--attention-heads: heads must be a multiple of kv_heads");
    if (head_dim % 8 != 0) usage("--attention-head-dim must be a multiple of 8");
    std::vector<AttentionKernel> kernels;
    for (const std::string &n : kernel_names) kernels.push_back(attention_kernel(n, head_dim, prop));
    const int qd = heads * head_dim, kvd = kv_heads * head_dim, qkvd = qd + 2 * kvd;
    // Packed varlen batch of batch_tokens / S sequences up to batch_tokens; one sequence of S above it.
    auto n_seqs_of = [&](int64_t S) { return S <= batch_tokens ? std::max<int64_t>(1, batch_tokens / S) : int64_t(1); };
    int64_t max_t = 0;
    for (const int64_t S : seq_lens) max_t = std::max(max_t, n_seqs_of(S) * S);
    bf16 *qkv = dev<bf16>(size_t(max_t) * qkvd), *out = dev<bf16>(size_t(max_t) * qd);
    fill(qkv, size_t(max_t) * qkvd, 1.0f, 21);
    for (const AttentionKernel &k : kernels)
        if (k.name == "sm80" && k.run) attention_prepare(head_dim);  // sm90's prepare ran in attention_kernel()
    std::printf("attention sweep: %d query heads, %d kv heads, head_dim %d; peak %.1f TFLOP/s (dense bf16); "
                "median of %d runs after a warm-up\n", heads, kv_heads, head_dim, peak_tflops, iters);
    std::string rows;
    for (const int64_t S : seq_lens) {
        const int64_t n_seqs = n_seqs_of(S), T = n_seqs * S;
        if (T > INT32_MAX) usage("--attention-sweep: a batch above 2^31 tokens");
        const char *layout = n_seqs > 1 ? "packed varlen batch" : "one sequence";
        const double flop = 4.0 * double(S) * double(S) * head_dim * heads * double(n_seqs);
        std::vector<int32_t> cu(static_cast<size_t>(n_seqs) + 1);
        for (int64_t i = 0; i <= n_seqs; ++i) cu[static_cast<size_t>(i)] = static_cast<int32_t>(i * S);
        const auto tiles = attention_tiles(cu.data(), static_cast<int>(n_seqs));
        AttnTile *dtiles = dev<AttnTile>(tiles.size());
        check(cudaMemcpy(dtiles, tiles.data(), tiles.size() * sizeof(AttnTile), cudaMemcpyHostToDevice), "copy");
        const AttentionArgs a{qkv, qkv + qd, qkv + qd + kvd, qkvd, out, qd, dtiles, static_cast<int>(tiles.size()),
                              heads, kv_heads, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};
        for (const AttentionKernel &k : kernels) {
            char head[256];
            std::snprintf(head, sizeof head,
                          "{\"kernel\": \"%s\", \"seq_len\": %lld, \"n_seqs\": %lld, \"tokens\": %lld, "
                          "\"layout\": \"%s\", \"tflop\": %.6g", k.name.c_str(), static_cast<long long>(S),
                          static_cast<long long>(n_seqs), static_cast<long long>(T), layout, flop / 1e12);
            std::string row = head;
            if (!k.run) {
                std::printf("  %-5s S=%-6lld %s: %s\n", k.name.c_str(), static_cast<long long>(S), k.status.c_str(),
                            k.why.c_str());
                row += ", \"status\": " + quoted(k.status) + ", \"reason\": " + quoted(k.why) + "}";
            } else {
                try {
                    const AttentionArgs ka = with_tiles(a, k, cu);
                    const double ms = time_ms(s, iters, [&] { k.run(ka, T, s); });
                    release(const_cast<AttnTile *>(ka.tiles));
                    check(cudaGetLastError(), "attention");
                    const double tflops = flop / (ms * 1e-3) / 1e12;
                    std::printf("  %-5s S=%-6lld %-19s x %5lld: %9.3f ms  %7.1f TFLOP/s  %5.1f %% of peak\n",
                                k.name.c_str(), static_cast<long long>(S), layout, static_cast<long long>(n_seqs), ms,
                                tflops, 100.0 * tflops / peak_tflops);
                    char tail[160];
                    std::snprintf(tail, sizeof tail, ", \"status\": \"ok\", \"ms\": %.6g, \"tflops\": %.6g, \"pct_peak\": %.6g}",
                                  ms, tflops, 100.0 * tflops / peak_tflops);
                    row += tail;
                } catch (const std::exception &e) {  // a failed kernel is that row's error; the others still run
                    std::printf("  %-5s S=%-6lld error: %s\n", k.name.c_str(), static_cast<long long>(S), e.what());
                    row += ", \"status\": \"error\", \"reason\": " + quoted(e.what()) + "}";
                }
            }
            rows += (rows.empty() ? "" : ", ") + row;
        }
        release(dtiles);
    }
    release(qkv);
    release(out);
    if (json)
        std::printf("{\"attention_sweep\": {\"heads\": %d, \"kv_heads\": %d, \"head_dim\": %d, \"batch_tokens\": %lld, "
                    "\"peak_tflops\": %.1f, \"iters\": %d, \"device\": %s, \"compute_capability\": \"%d.%d\", "
                    "\"rows\": [%s]}}\n", heads, kv_heads, head_dim, static_cast<long long>(batch_tokens), peak_tflops,
                    iters, quoted(prop.name).c_str(), prop.major, prop.minor, rows.c_str());
}

}  // namespace

int main(int argc, char **argv) {
    bool ceiling = false, layer = false, json = false;
    std::string model, sweep_list, kernel_list = "sm80", heads_list = "32,8";
    int64_t T = 8192, S = 512, sweep_tokens = 16384;
    int iters = 10, gemm_n = 8192, sweep_head_dim = 128;
    double peak_tflops = 989.4;  // H100 SXM dense bf16 (datasheet)
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
        else if (a == "--attention-sweep") sweep_list = val();
        else if (a == "--attention-kernels") kernel_list = val();
        else if (a == "--attention-heads") heads_list = val();
        else if (a == "--attention-head-dim") sweep_head_dim = std::atoi(val());
        else if (a == "--attention-tokens") sweep_tokens = std::atoll(val());
        else if (a == "--peak-tflops") peak_tflops = std::atof(val());
        else if (a == "-h" || a == "--help") usage("help");
        else usage(("unknown flag " + a).c_str());
    }
    const bool sweep = !sweep_list.empty();
    if (!ceiling && !layer && !sweep) usage("give --gemm-ceiling, --layer or --attention-sweep");
    if (iters < 1 || gemm_n < 16 || T < 1 || S < 1) usage("--iters, --gemm-size, --tokens and --seq-len must be positive");
    if (sweep_head_dim < 1 || sweep_tokens < 1 || !(peak_tflops > 0))
        usage("--attention-head-dim, --attention-tokens and --peak-tflops must be positive");
    const std::vector<std::string> kernel_names = split(kernel_list);
    if (kernel_names.empty()) usage("--attention-kernels needs at least one kernel");
    const std::vector<int64_t> sweep_lens = sweep ? split_ints(sweep_list, "--attention-sweep") : std::vector<int64_t>{};
    const std::vector<int64_t> sweep_heads = split_ints(heads_list, "--attention-heads");
    if (sweep_heads.size() != 2) usage("--attention-heads takes HEADS,KV_HEADS");
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
        int ordinal = 0;
        check(cudaGetDevice(&ordinal), "cudaGetDevice");
        cudaDeviceProp prop;
        check(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties");
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
            // The attention op once per kernel: the first is the table's "attention" row (and layer total), the
            // others are timed on the same inputs and only change the layer total (printed per kernel below).
            std::vector<AttentionKernel> kernels;
            for (const std::string &n : kernel_names) kernels.push_back(attention_kernel(n, hd, prop));
            struct KernelTime { double ms; std::string error; };
            std::vector<KernelTime> ktimes;
            for (size_t ki = 0; ki < kernels.size(); ++ki) {
                const AttentionKernel &k = kernels[ki];
                KernelTime kt{-1, ""};
                if (!k.run) {
                    kt.error = k.why;
                } else {
                    try {
                        const AttentionArgs ka = with_tiles(a, k, cu);
                        kt.ms = time_ms(s, iters, [&] { k.run(ka, T, s); });
                        release(const_cast<AttnTile *>(ka.tiles));
                        check(cudaGetLastError(), "attention");
                    } catch (const std::exception &e) {
                        kt.ms = -1;
                        kt.error = e.what();
                    }
                }
                ktimes.push_back(kt);
                if (ki == 0) {
                    if (kt.ms < 0) throw std::runtime_error("attention " + k.name + ": " + kt.error);
                    ops.push_back({"attention", kt.ms, 4 * t * S * qd, 0});
                }
            }
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
            const double others_ms = layer_ms - ktimes[0].ms;  // every op but attention
            std::string kjson;
            for (size_t ki = 0; ki < kernels.size(); ++ki) {
                const KernelTime &kt = ktimes[ki];
                std::string row;
                if (kt.ms < 0) {
                    std::printf("  attention %s: %s: %s\n", kernels[ki].name.c_str(),
                                kernels[ki].run ? "error" : kernels[ki].status.c_str(), kt.error.c_str());
                    row = "{\"status\": " + quoted(kernels[ki].run ? "error" : kernels[ki].status) +
                          ", \"reason\": " + quoted(kt.error) + "}";
                } else {
                    const double tf = 4 * t * S * qd / (kt.ms * 1e-3) / 1e12;
                    std::printf("  attention %s: %.3f ms, %.1f TFLOP/s; layer total %.3f ms\n", kernels[ki].name.c_str(),
                                kt.ms, tf, others_ms + kt.ms);
                    char buf[200];
                    std::snprintf(buf, sizeof buf,
                                  "{\"status\": \"ok\", \"attention_ms\": %.6g, \"attention_tflops\": %.6g, \"layer_ms\": %.6g}",
                                  kt.ms, tf, others_ms + kt.ms);
                    row = buf;
                }
                kjson += (ki ? ", " : "") + quoted(kernels[ki].name) + ": " + row;
            }
            if (json) {
                std::printf("{\"tokens\": %lld, \"seq_len\": %lld, \"layer_ms\": %.4f", static_cast<long long>(T),
                            static_cast<long long>(S), layer_ms);
                for (const Op &o : ops) {
                    std::string key = o.name;
                    key = key.substr(0, key.find(' '));
                    std::printf(", \"%s_ms\": %.4f", key.c_str(), o.ms);
                }
                std::printf(", \"attention_kernel\": %s, \"attention_kernels\": {%s}}\n",
                            quoted(kernels[0].name).c_str(), kjson.c_str());
            }
        }
        if (sweep)
            attention_sweep(sweep_lens, kernel_names, static_cast<int>(sweep_heads[0]), static_cast<int>(sweep_heads[1]),
                            sweep_head_dim, sweep_tokens, peak_tflops, iters, json, prop, s);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_cuda_ops: %s\n", e.what());
        return 1;
    }
}
