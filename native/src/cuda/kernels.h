// kernels.h: the handwritten kernels of the CUDA backend, one op per .cu file, each behind a host launch function
// (asynchronous, on `stream`; errors surface at the next checked call). Activations are bf16 row-major; `ld` is the
// row stride in elements. Each op names its CPU twin: the CPU backend's BF16 mode (cpu/ops.h, cpu/attention.cpp)
// computes the same function with the same rounding points, and native/tests/cuda/test_cuda_ops.cpp compares them.
#pragma once
#include <cstdint>
#include <string>

#include "cuda/cuda_compat.h"
#include "cuda/schedule.h"

namespace rir {
namespace cuda {

using bf16 = __nv_bfloat16;

// embed.cu -- twin: cpu::embed_rows. out[t] = table[ids[t]] (bit copy).
void embed_gather(const int32_t *ids, int64_t T, const bf16 *table, int hidden, bf16 *out, cudaStream_t stream);

// residual_rmsnorm.cu -- twin: cpu::residual_add then cpu::rmsnorm (BF16 mode).
// If d != nullptr: h = r(h + d) (written back). Then y = r(r(h * inv) * w), inv = 1 / sqrt(mean(h^2) + eps) with
// the mean of squares accumulated in fp32.
void residual_rmsnorm(bf16 *h, const bf16 *d, int64_t T, int hidden, const bf16 *w, float eps, bf16 *y,
                      cudaStream_t stream);

// rope.cu -- twin: cpu::rope_tables (BF16) + cpu::rope_apply (BF16).
// rope_table: cs[t][i] = {r(cos(a)), r(sin(a))}, a = float(pos[t]) * inv_freq[i] in fp32, cos/sin evaluated in double
// and rounded to fp32 then bf16 (as the CPU twin, so tables agree bit for bit).
void rope_table(const int32_t *pos, int64_t T, const float *inv_freq, int half, float2 *cs, cudaStream_t stream);
// In place on the first n_heads heads of each row of x (row stride ld): rotate-half with the bf16 rounding points of
// HF: x'[i] = r(r(x[i] c) + r(-x[i+h] s)), x'[i+h] = r(r(x[i+h] c) + r(x[i] s)).
void rope_apply(bf16 *x, int64_t ld, int64_t T, int n_heads, int head_dim, const float2 *cs, cudaStream_t stream);

// attention.cu -- twin: cpu::attention (BF16 mode, online softmax over kAttnKeyBlock keys).
// Bidirectional GQA attention inside each packed sequence. q/k/v point at head 0 of row 0 of each part of the fused
// QKV buffer (row stride ld_qkv); out [T, heads * head_dim] (row stride ld_out). `tiles` is the device copy of
// schedule.h's attention_tiles() for this batch.
struct AttentionArgs {
    const bf16 *q, *k, *v;
    int64_t ld_qkv;
    bf16 *out;
    int64_t ld_out;
    const AttnTile *tiles;
    int n_tiles;
    int heads, kv_heads, head_dim;
    float scale;  // 1 / sqrt(head_dim)
};
// Largest head_dim the kernel supports (it is instantiated for padded widths 64, 128 and 256).
constexpr int kMaxAttentionHeadDim = 256;
void attention(const AttentionArgs &args, cudaStream_t stream);
// Shared memory bytes one block of the kernel uses for this head_dim (for the open-time check).
size_t attention_smem_bytes(int head_dim);
// Raises the kernels' dynamic shared memory limit once per device (call at backend creation).
void attention_prepare(int head_dim);

// attention_sm90.cu -- the same function (twin: cpu::attention, BF16 mode; same 64-key softmax blocks and rounding
// points) for sm_90 devices only: TMA + wgmma, 128 query rows per block (docs/attention-sm90.md). The caller builds
// `tiles` with attention_tiles(cu, n, kAttnSm90QueryTile). Requirements beyond attention(): head_dim 64 or 128
// (attention_sm90_supports), q the start of the fused QKV rows with k and v the following column ranges (k = q +
// heads * head_dim, v = k + kv_heads * head_dim, or anywhere after inside the row), q 16-byte aligned and ld_qkv % 8
// == 0; total_tokens = the rows of the QKV buffer that exist (the tensor map's height: TMA reads zeros past it).
// Throws rir::Error(RIR_ERR_INVALID_ARGUMENT) when they do not hold, RIR_ERR_DEVICE when the tensor map cannot be
// built. Never launch it on a device other than 9.x: its machine code exists only for sm_90a.
constexpr int kAttnSm90QueryTile = 128;
bool attention_sm90_supports(int head_dim);
size_t attention_sm90_smem_bytes(int head_dim);  // 0 when unsupported
void attention_sm90_prepare(int head_dim);       // once per device; throws for an unsupported head_dim
// "" when this library has the kernel's sm_90a code; else why not (a library built without 90a in
// CMAKE_CUDA_ARCHITECTURES would run the compute_80 PTX on an H100, whose kernel body is a trap).
std::string attention_sm90_unavailable();
void attention_sm90(const AttentionArgs &args, int64_t total_tokens, cudaStream_t stream);

// swiglu.cu -- twin: cpu::swiglu (BF16). gu [T, 2I] holds gate in columns [0, I) and up in [I, 2I);
// out[t][i] = r(r(silu(g)) * u), silu(g) = g / (1 + exp(-g)) in fp32.
void swiglu(const bf16 *gu, int64_t T, int inter, bf16 *out, cudaStream_t stream);

// final_norm_pool.cu -- twin: cpu::residual_add + cpu::rmsnorm + cpu::mean_pool (BF16 mode).
// For the pooled tokens only: h = r(h + d), y = r(r(h * inv) * w) (the final hidden state in bf16), summed in fp32
// over each chunk of schedule.h's pool_chunks(); a sequence of one chunk is finished in the same kernel (mean, then
// L2 normalization when `normalize`), longer ones by a second kernel that adds their chunk partials in order.
struct PoolArgs {
    const bf16 *h, *d;        // residual stream and the last layer's MLP output
    int hidden;
    const bf16 *w;            // norm.weight
    float eps;
    const PoolChunk *chunks;  // device copy of pool_chunks()
    int n_chunks;
    const PoolSeq *seqs;      // device copy of pool_seqs(): chunk range and token count per sequence
    int n_seqs;
    double *partial;          // [n_partials, hidden] scratch (exact sums of bf16 values)
    float *out;               // [n_seqs, hidden]
    bool normalize;
};
void final_norm_pool(const PoolArgs &args, cudaStream_t stream);
size_t final_norm_pool_smem_bytes(int hidden);
void final_norm_pool_prepare(int hidden);  // raises the kernels' dynamic shared memory limit (once per device)

// nonfinite.cu -- twin: the loader's host scan (checkpoint.cpp). For each buffer i, first_bad[i] = index of the
// first bf16 NaN/Inf element, or INT64_MAX; first_bad must be initialized to INT64_MAX by the caller.
void find_nonfinite(const bf16 *data, int64_t n, unsigned long long *first_bad, cudaStream_t stream);

}  // namespace cuda
}  // namespace rir
