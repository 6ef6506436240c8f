// ops.h: the non-GEMM operations of the forward pass (cpu_backend.cpp), each a named function over fp32 activations
// with the BF16 mode's rounding points (docs/numerics.md and the backend's header comment) behind a `bf16` flag.
// Row-wise and elementwise ops run on the thread pool with the kernels of `isa` (ops_kernel.inc, on simd.h); the result
// of every row never depends on the other rows or on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/isa.h"
#include "cpu/thread_pool.h"
#include "model.h"

namespace rir {
namespace cpu {

// pos[t] = position of token t inside its sequence (0 .. len-1); positions restart for every sequence.
void token_positions(const PackedBatch &batch, int32_t *pos);

// out[t] = embed[ids[t]] widened to fp32 (exact; already bf16 values in both modes).
void embed_rows(ThreadPool &pool, Isa isa, const int32_t *ids, int64_t T, const bf16_t *embed, int hidden,
                float *out);

// Llama RMSNorm of each row: y = x / sqrt(mean(x^2) + eps) (mean accumulated in double, then fp32);
// out = y * w (FP32) or r(r(y) * w) (BF16). out may equal x.
void rmsnorm(ThreadPool &pool, Isa isa, const float *x, int64_t T, int hidden, const bf16_t *w, float eps, bool bf16,
             float *out);

// h = h + d (FP32) or r(h + d) (BF16), then out = RMSNorm(h) as above: the residual add fused with the norm that
// reads the residual stream next.
void residual_rmsnorm(ThreadPool &pool, Isa isa, float *h, const float *d, int64_t T, int hidden, const bf16_t *w,
                      float eps, bool bf16, float *out);

// cos/sin tables [n_pos][head_dim/2] from inv_freq (rope_inv_freq, rope.h): angle = float(p) * inv_freq[i] in fp32, cos and sin of it rounded to fp32;
// rounded to bf16 as well in the BF16 mode (HF casts cos/sin to the model dtype).
void rope_tables(const std::vector<float> &inv_freq, int64_t n_pos, bool bf16, float *cos_out, float *sin_out);

// Rotate-half RoPE in place on x [T, n_heads * head_dim] at positions pos[t]:
//   FP32: x'[i] = x[i] c - x[i+h] s, x'[i+h] = x[i+h] c + x[i] s   (h = head_dim/2, c/s indexed by i)
//   BF16: x'[i] = r(r(x[i] c) + r(-x[i+h] s)), x'[i+h] = r(r(x[i+h] c) + r(x[i] s)).
// x has row stride ld (>= n_heads * head_dim: the q or k part of a fused QKV row).
void rope_apply(ThreadPool &pool, Isa isa, float *x, int64_t ld, int64_t T, int n_heads, int head_dim,
                const int32_t *pos, const float *cos_table, const float *sin_table, bool bf16);

// kt[h][d][t] = k[t * ld + h * head_dim + d]: keys transposed so that the score loop runs over contiguous keys.
void transpose_keys(ThreadPool &pool, const float *k, int64_t ld, int64_t T, int kv_heads, int head_dim, float *kt);

// Bidirectional GQA attention confined to each sequence of the packed batch. q [T, heads * head_dim] with row stride
// ldq, k and v [T, kv_heads * head_dim] with row stride ldkv (parts of one fused QKV row, or separate arrays); out
// [T, heads * head_dim], dense. Query head h reads kv head h / (heads / kv_heads). Flash-style (attention_kernel.inc):
// keys in blocks of kAttnKeyBlock with an online softmax, scores (q . k) / sqrt(head_dim) and softmax in fp32,
// out = P V / l. BF16 mode: the CUDA kernel's steps (docs/numerics.md): P rounded to bf16 before P V, the row sum of
// the unrounded P, out = r(O / l); q, k, v must be bf16 values (on AVX512_BF16 the products run as vdpbf16ps).
// Work is split over (sequence, kv head, block of query positions), all query heads of a kv head together.
// kv_scratch holds attention_kv_floats() (keys and values laid out for the kernels), thread_scratch
// pool.size() x attention_thread_floats(): nothing grows with a length squared.
// BF16 mode: keys per step of the online softmax, equal to the CUDA kernel's key tile (cuda/schedule.h
// kAttnKeyTile), so that both round the probabilities P at the same points. FP32 mode uses the same blocks.
constexpr int kAttnKeyBlock = 64;
size_t attention_kv_floats(int64_t T, int n_seqs, int kv_heads, int head_dim);
size_t attention_thread_floats(int heads, int kv_heads, int head_dim);
void attention(ThreadPool &pool, Isa isa, const float *q, int64_t ldq, const float *k, const float *v, int64_t ldkv,
               const int32_t *cu_seqlens, int n_seqs, int heads, int kv_heads, int head_dim, bool bf16, float *out,
               float *kv_scratch, float *thread_scratch);

// g = silu(g) * u (FP32, silu in fp32) or g = r(r(silu(g)) * u) (BF16, silu in double rounded to fp32, as the
// CUDA kernel); silu(x) = x / (1 + exp(-x)).
void swiglu(ThreadPool &pool, Isa isa, float *g, const float *u, int64_t n, bool bf16);
// The same on the calling thread over a block (the gate/up GEMM's epilogue): rows of n values, out = silu(g) * u, g and
// u rows ld_in apart, out rows ld_out apart. The kernel of an ISA, looked up once.
using SwigluBlockFn = void (*)(const float *g, const float *u, int64_t ld_in, float *out, int64_t ld_out, int rows,
                               int64_t n, bool bf16);
SwigluBlockFn swiglu_block_kernel(Isa isa);

// h = h + d (FP32) or h = r(h + d) (BF16).
void residual_add(ThreadPool &pool, Isa isa, float *h, const float *d, int64_t n, bool bf16);

// out[s] = mean of x rows [cu_seqlens[s] + pool_start[s], cu_seqlens[s+1]) (accumulated in double, stored fp32),
// then divided by max(||.||2, 1e-12) when normalize.
void mean_pool(ThreadPool &pool, const float *x, int hidden, const PackedBatch &batch, bool normalize, float *out);

}  // namespace cpu
}  // namespace rir
