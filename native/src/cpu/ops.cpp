// ops.cpp: elementwise and row-wise ops of the forward pass (see ops.h). Attention is in attention.cpp.
#include "cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "bf16.h"
#include "cpu/simd.h"
#include "cpu/vexp.h"

namespace rir {
namespace cpu {

#define RIR_OPS_NS ops_scalar
#define RIR_SIMD_NS simd_scalar
#define RIR_OPS_TARGET
#include "cpu/ops_kernel.inc"
#undef RIR_OPS_NS
#undef RIR_SIMD_NS
#undef RIR_OPS_TARGET
#if defined(__x86_64__)
#define RIR_OPS_NS ops_avx2
#define RIR_SIMD_NS simd_avx2
#define RIR_OPS_TARGET __attribute__((target("avx2,fma")))
#include "cpu/ops_kernel.inc"
#undef RIR_OPS_NS
#undef RIR_SIMD_NS
#undef RIR_OPS_TARGET
#define RIR_OPS_NS ops_avx512
#define RIR_SIMD_NS simd_avx512
#define RIR_OPS_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#include "cpu/ops_kernel.inc"
#undef RIR_OPS_NS
#undef RIR_SIMD_NS
#undef RIR_OPS_TARGET
#endif

namespace {
// Rows or elements per parallel chunk: below this the hand-off costs more than the work.
constexpr int64_t kMinRowsPerChunk = 4;
constexpr int64_t kMinElemsPerChunk = 16384;

struct OpsKernels {
    decltype(&ops_scalar::embed_range) embed;
    decltype(&ops_scalar::rmsnorm_range) rmsnorm;
    decltype(&ops_scalar::rope_range) rope;
    decltype(&ops_scalar::swiglu_range) swiglu;
    decltype(&ops_scalar::residual_range) residual;
    decltype(&ops_scalar::swiglu_block) swiglu_block;
};

#define RIR_OPS_SET(ns) \
    OpsKernels { ns::embed_range, ns::rmsnorm_range, ns::rope_range, ns::swiglu_range, ns::residual_range, \
                 ns::swiglu_block }

const OpsKernels &ops_for(Isa isa) {
    static const OpsKernels scalar = RIR_OPS_SET(ops_scalar);
#if defined(__x86_64__)
    static const OpsKernels avx2 = RIR_OPS_SET(ops_avx2), avx512 = RIR_OPS_SET(ops_avx512);
    if (isa >= Isa::Avx512) return avx512;
    if (isa == Isa::Avx2) return avx2;
#endif
    return scalar;
}
#undef RIR_OPS_SET
}  // namespace

void token_positions(const PackedBatch &batch, int32_t *pos) {
    for (int s = 0; s < batch.n_seqs; ++s)
        for (int32_t t = batch.cu_seqlens[s]; t < batch.cu_seqlens[s + 1]; ++t) pos[t] = t - batch.cu_seqlens[s];
}

void embed_rows(ThreadPool &pool, Isa isa, const int32_t *ids, int64_t T, const bf16_t *embed, int hidden,
                float *out) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) { k.embed(ids, t0, t1, embed, hidden, out); });
}

void rmsnorm(ThreadPool &pool, Isa isa, const float *x, int64_t T, int hidden, const bf16_t *w, float eps, bool bf16,
             float *out) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) {
        k.rmsnorm(const_cast<float *>(x), nullptr, t0, t1, hidden, w, eps, bf16, out);  // x is not written
    });
}

void residual_rmsnorm(ThreadPool &pool, Isa isa, float *h, const float *d, int64_t T, int hidden, const bf16_t *w,
                      float eps, bool bf16, float *out) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(T, kMinRowsPerChunk,
                      [&](int64_t t0, int64_t t1, int) { k.rmsnorm(h, d, t0, t1, hidden, w, eps, bf16, out); });
}

void rope_tables(const std::vector<float> &inv_freq, int64_t n_pos, bool bf16, float *cos_out, float *sin_out) {
    const int64_t half = static_cast<int64_t>(inv_freq.size());
    for (int64_t p = 0; p < n_pos; ++p) {
        for (int64_t i = 0; i < half; ++i) {
            float angle = static_cast<float>(p) * inv_freq[i];  // fp32 product, as torch's fp32 matmul of K = 1
            // cos/sin of the fp32 angle, evaluated in double and rounded once: the correctly rounded fp32 value.
            float c = static_cast<float>(std::cos(static_cast<double>(angle)));
            float s = static_cast<float>(std::sin(static_cast<double>(angle)));
            cos_out[p * half + i] = bf16 ? round_bf16(c) : c;
            sin_out[p * half + i] = bf16 ? round_bf16(s) : s;
        }
    }
}

void rope_apply(ThreadPool &pool, Isa isa, float *x, int64_t ld, int64_t T, int n_heads, int head_dim,
                const int32_t *pos, const float *cos_table, const float *sin_table, bool bf16) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) {
        k.rope(x, ld, t0, t1, n_heads, head_dim, pos, cos_table, sin_table, bf16);
    });
}

void transpose_keys(ThreadPool &pool, const float *k, int64_t ld, int64_t T, int kv_heads, int head_dim, float *kt) {
    const int64_t width = static_cast<int64_t>(kv_heads) * head_dim;
    constexpr int64_t kBlock = 64;  // tokens per cache block of the transpose
    pool.parallel_for(T, kBlock, [&](int64_t t0, int64_t t1, int) {
        for (int64_t tb = t0; tb < t1; tb += kBlock) {
            int64_t te = std::min(t1, tb + kBlock);
            for (int64_t c = 0; c < width; ++c)
                for (int64_t t = tb; t < te; ++t) kt[c * T + t] = k[t * ld + c];
        }
    });
}

void swiglu(ThreadPool &pool, Isa isa, float *g, const float *u, int64_t n, bool bf16) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(n, kMinElemsPerChunk, [&](int64_t i0, int64_t i1, int) { k.swiglu(g, u, g, i0, i1, bf16); });
}

SwigluBlockFn swiglu_block_kernel(Isa isa) { return ops_for(isa).swiglu_block; }

void residual_add(ThreadPool &pool, Isa isa, float *h, const float *d, int64_t n, bool bf16) {
    const OpsKernels &k = ops_for(isa);
    pool.parallel_for(n, kMinElemsPerChunk, [&](int64_t i0, int64_t i1, int) { k.residual(h, d, i0, i1, bf16); });
}

void mean_pool(ThreadPool &pool, const float *x, int hidden, const PackedBatch &batch, bool normalize, float *out) {
    pool.run(batch.n_seqs, [&](int64_t s, int) {
        const int64_t begin = batch.cu_seqlens[s] + batch.pool_start[s], end = batch.cu_seqlens[s + 1];
        std::vector<double> acc(hidden, 0.0);
        for (int64_t t = begin; t < end; ++t)
            for (int i = 0; i < hidden; ++i) acc[i] += x[t * hidden + i];
        float *o = out + s * hidden;
        const double count = static_cast<double>(end - begin);
        double ss = 0.0;
        for (int i = 0; i < hidden; ++i) {
            o[i] = static_cast<float>(acc[i] / count);
            ss += double(o[i]) * o[i];
        }
        if (normalize) {
            float norm = std::max(static_cast<float>(std::sqrt(ss)), 1e-12f);  // torch F.normalize's eps
            for (int i = 0; i < hidden; ++i) o[i] = o[i] / norm;
        }
    });
}

}  // namespace cpu
}  // namespace rir
