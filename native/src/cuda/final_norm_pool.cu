// final_norm_pool.cu: the last residual add, the final RMSNorm and masked mean pooling with L2 normalization, fused
// (kernels.h, final_norm_pool). CPU twin: cpu::residual_add + cpu::rmsnorm + cpu::mean_pool (BF16 mode).
// Only pooled tokens are computed: instruction tokens and their final hidden states are never needed. Sums of the
// bf16 hidden states are kept in double, where adding up to 2^45 bf16 values is exact in any order, so the means
// equal the twin's bit for bit; the chunk partials are added in a fixed order (no atomics: the result is
// deterministic).
#include "cuda/device_util.cuh"
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// Mean of the accumulated sums, then L2 normalization (e / max(||e||, 1e-12), norm in double like the twin).
__device__ void finish_row(const double *acc, int hidden, int32_t count, bool normalize, float *out,
                           double *scratch) {
    double ss = 0.0;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        const float o = static_cast<float>(acc[i] / count);
        ss += static_cast<double>(o) * o;
    }
    ss = block_sum(ss, scratch);
    const float norm = fmaxf(static_cast<float>(sqrt(ss)), 1e-12f);
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        const float o = static_cast<float>(acc[i] / count);
        out[i] = normalize ? o / norm : o;
    }
}

__global__ void __launch_bounds__(kThreads) pool_chunk_kernel(PoolArgs a) {
    __shared__ double scratch[32];
    RIR_DYNAMIC_SMEM(double, acc);  // [hidden]
    const PoolChunk c = a.chunks[blockIdx.x];
    const int H = a.hidden;
    for (int i = threadIdx.x; i < H; i += blockDim.x) acc[i] = 0.0;
    for (int32_t t = c.t_begin; t < c.t_end; ++t) {
        const bf16 *hr = a.h + static_cast<int64_t>(t) * H, *dr = a.d + static_cast<int64_t>(t) * H;
        double ss = 0.0;
        for (int i = threadIdx.x; i < H; i += blockDim.x) {
            const float x = round_bf16(__bfloat162float(hr[i]) + __bfloat162float(dr[i]));
            ss += static_cast<double>(x) * x;
        }
        ss = block_sum(ss, scratch);
        const float inv = 1.0f / sqrtf(static_cast<float>(ss / H) + a.eps);
        for (int i = threadIdx.x; i < H; i += blockDim.x) {
            const float x = round_bf16(__bfloat162float(hr[i]) + __bfloat162float(dr[i]));
            acc[i] += round_bf16(round_bf16(x * inv) * __bfloat162float(a.w[i]));
        }
    }
    if (c.slot >= 0) {
        double *p = a.partial + static_cast<int64_t>(c.slot) * H;
        for (int i = threadIdx.x; i < H; i += blockDim.x) p[i] = acc[i];
    } else {
        __syncthreads();
        finish_row(acc, H, a.seqs[c.seq].count, a.normalize, a.out + static_cast<int64_t>(c.seq) * H, scratch);
    }
}

__global__ void __launch_bounds__(kThreads) pool_merge_kernel(PoolArgs a) {
    __shared__ double scratch[32];
    RIR_DYNAMIC_SMEM(double, acc);
    const PoolSeq s = a.seqs[blockIdx.x];
    if (s.n_slots == 0) return;  // finished by its single chunk
    const int H = a.hidden;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        double v = 0.0;
        for (int32_t k = 0; k < s.n_slots; ++k) v += a.partial[static_cast<int64_t>(s.first_slot + k) * H + i];
        acc[i] = v;
    }
    __syncthreads();
    finish_row(acc, H, s.count, a.normalize, a.out + static_cast<int64_t>(blockIdx.x) * H, scratch);
}

}  // namespace

size_t final_norm_pool_smem_bytes(int hidden) { return static_cast<size_t>(hidden) * sizeof(double); }

void final_norm_pool_prepare(int hidden) {
    const int bytes = static_cast<int>(final_norm_pool_smem_bytes(hidden));
    cudaFuncSetAttribute(pool_chunk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(pool_merge_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

void final_norm_pool(const PoolArgs &a, cudaStream_t stream) {
    if (a.n_chunks <= 0) return;
    const size_t smem = final_norm_pool_smem_bytes(a.hidden);
    RIR_LAUNCH(pool_chunk_kernel, static_cast<unsigned>(a.n_chunks), kThreads, smem, stream, a);
    RIR_LAUNCH(pool_merge_kernel, static_cast<unsigned>(a.n_seqs), kThreads, smem, stream, a);
}

}  // namespace cuda
}  // namespace rir
