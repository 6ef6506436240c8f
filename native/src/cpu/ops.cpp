// ops.cpp: elementwise and row-wise ops of the forward pass (see ops.h). Attention is in attention.cpp.
#include "cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "cpu/bf16.h"
#include "cpu/vexp.h"

namespace rir {
namespace cpu {

namespace {
// Rows or elements per parallel chunk: below this the hand-off costs more than the work.
constexpr int64_t kMinRowsPerChunk = 4;
constexpr int64_t kMinElemsPerChunk = 16384;
}  // namespace

void token_positions(const PackedBatch &batch, int32_t *pos) {
    for (int s = 0; s < batch.n_seqs; ++s)
        for (int32_t t = batch.cu_seqlens[s]; t < batch.cu_seqlens[s + 1]; ++t) pos[t] = t - batch.cu_seqlens[s];
}

void embed_rows(ThreadPool &pool, const int32_t *ids, int64_t T, const bf16_t *embed, int hidden, float *out) {
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
            const bf16_t *row = embed + static_cast<int64_t>(ids[t]) * hidden;
            float *o = out + t * hidden;
            for (int i = 0; i < hidden; ++i) o[i] = bf16_to_f32(row[i]);
        }
    });
}

void rmsnorm(ThreadPool &pool, const float *x, int64_t T, int hidden, const bf16_t *w, float eps, bool bf16,
             float *out) {
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
            const float *xr = x + t * hidden;
            float *o = out + t * hidden;
            double ss = 0.0;
            for (int i = 0; i < hidden; ++i) ss += double(xr[i]) * xr[i];
            float var = static_cast<float>(ss / hidden);
            float inv = 1.0f / std::sqrt(var + eps);
            if (bf16) {
                for (int i = 0; i < hidden; ++i) o[i] = round_bf16(round_bf16(xr[i] * inv) * bf16_to_f32(w[i]));
            } else {
                for (int i = 0; i < hidden; ++i) o[i] = (xr[i] * inv) * bf16_to_f32(w[i]);
            }
        }
    });
}

std::vector<float> rope_inv_freq(const LlamaConfig &c) {
    const int half = c.head_dim / 2;
    std::vector<float> inv(half);
    const float theta = static_cast<float>(c.rope_theta);
    for (int i = 0; i < half; ++i) {
        float expo = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);  // torch: arange(0,d,2).float()/d
        inv[i] = 1.0f / std::pow(theta, expo);                                    // float pow, float division
    }
    if (!c.rope_scaling.llama3) return inv;
    // transformers' _compute_llama3_parameters, all in fp32.
    const float factor = static_cast<float>(c.rope_scaling.factor);
    const float low = static_cast<float>(c.rope_scaling.low_freq_factor);
    const float high = static_cast<float>(c.rope_scaling.high_freq_factor);
    const float old_ctx = static_cast<float>(c.rope_scaling.original_max_position_embeddings);
    const float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    const float two_pi = static_cast<float>(2.0 * M_PI);
    for (int i = 0; i < half; ++i) {
        float wavelen = two_pi / inv[i];
        if (wavelen > low_wavelen) {
            inv[i] = inv[i] / factor;
        } else if (!(wavelen < high_wavelen)) {  // medium band: smooth interpolation
            float smooth = (old_ctx / wavelen - low) / (high - low);
            inv[i] = (1.0f - smooth) * inv[i] / factor + smooth * inv[i];
        }
    }
    return inv;
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

void rope_apply(ThreadPool &pool, float *x, int64_t T, int n_heads, int head_dim, const int32_t *pos,
                const float *cos_table, const float *sin_table, bool bf16) {
    const int half = head_dim / 2;
    const int64_t ld = static_cast<int64_t>(n_heads) * head_dim;
    pool.parallel_for(T, kMinRowsPerChunk, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
            const float *c = cos_table + static_cast<int64_t>(pos[t]) * half;
            const float *s = sin_table + static_cast<int64_t>(pos[t]) * half;
            for (int h = 0; h < n_heads; ++h) {
                float *a = x + t * ld + static_cast<int64_t>(h) * head_dim;
                float *b = a + half;
                for (int i = 0; i < half; ++i) {
                    float x1 = a[i], x2 = b[i];
                    if (bf16) {
                        a[i] = round_bf16(round_bf16(x1 * c[i]) + round_bf16(-x2 * s[i]));
                        b[i] = round_bf16(round_bf16(x2 * c[i]) + round_bf16(x1 * s[i]));
                    } else {
                        a[i] = x1 * c[i] - x2 * s[i];
                        b[i] = x2 * c[i] + x1 * s[i];
                    }
                }
            }
        }
    });
}

void transpose_keys(ThreadPool &pool, const float *k, int64_t T, int kv_heads, int head_dim, float *kt) {
    const int64_t width = static_cast<int64_t>(kv_heads) * head_dim;
    constexpr int64_t kBlock = 64;  // tokens per cache block of the transpose
    pool.parallel_for(T, kBlock, [&](int64_t t0, int64_t t1, int) {
        for (int64_t tb = t0; tb < t1; tb += kBlock) {
            int64_t te = std::min(t1, tb + kBlock);
            for (int64_t c = 0; c < width; ++c)
                for (int64_t t = tb; t < te; ++t) kt[c * T + t] = k[t * width + c];
        }
    });
}

void swiglu(ThreadPool &pool, float *g, const float *u, int64_t n, bool bf16) {
    pool.parallel_for(n, kMinElemsPerChunk, [&](int64_t i0, int64_t i1, int) {
        if (bf16) {
            // silu in double, rounded once to fp32: the CUDA kernel (cuda/swiglu.cu) does the same, so both agree
            // bit for bit (an fp32 exp differs between libraries in the last bit).
            for (int64_t i = i0; i < i1; ++i) {
                const double x = g[i];
                float a = round_bf16(static_cast<float>(x / (1.0 + std::exp(-x))));
                g[i] = round_bf16(a * u[i]);
            }
        } else {
            // exp_fast: a loop the compiler vectorizes, where libm's expf was a scalar call per element.
            for (int64_t i = i0; i < i1; ++i) g[i] = g[i] / (1.0f + exp_fast(-g[i])) * u[i];
        }
    });
}

void residual_add(ThreadPool &pool, float *h, const float *d, int64_t n, bool bf16) {
    pool.parallel_for(n, kMinElemsPerChunk, [&](int64_t i0, int64_t i1, int) {
        if (bf16) {
            for (int64_t i = i0; i < i1; ++i) h[i] = round_bf16(h[i] + d[i]);
        } else {
            for (int64_t i = i0; i < i1; ++i) h[i] += d[i];
        }
    });
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
