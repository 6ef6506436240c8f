// swiglu.cu: SiLU(gate) * up (kernels.h, swiglu). CPU twin: cpu::swiglu (BF16). silu(g) = g / (1 + exp(-g)) is
// evaluated in double and rounded to fp32 on both sides, so that the result agrees bit for bit with the twin
// (the cost is negligible next to the memory traffic of this op).
#include "cuda/device_util.cuh"
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {

__device__ __forceinline__ float silu(float g) {
    return static_cast<float>(static_cast<double>(g) / (1.0 + exp(-static_cast<double>(g))));
}

__global__ void swiglu_kernel(const bf16 *__restrict__ gu, int64_t n, int inter, bf16 *__restrict__ out) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    const int64_t t = idx / inter;
    const int i = static_cast<int>(idx % inter);
    const bf16 *row = gu + t * 2 * static_cast<int64_t>(inter);
    const float g = __bfloat162float(row[i]), u = __bfloat162float(row[inter + i]);
    out[idx] = __float2bfloat16_rn(round_bf16(silu(g)) * u);
}

}  // namespace

void swiglu(const bf16 *gu, int64_t T, int inter, bf16 *out, cudaStream_t stream) {
    const int64_t n = T * inter;
    if (n <= 0) return;
    const int threads = 256;
    RIR_LAUNCH(swiglu_kernel, static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream, gu, n, inter,
               out);
}

}  // namespace cuda
}  // namespace rir
