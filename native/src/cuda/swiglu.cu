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

// Each thread computes VEC consecutive outputs of a row: VEC = 8 uses 16-byte accesses (intermediate % 8 == 0).
template <int VEC>
__global__ void swiglu_kernel(const bf16 *__restrict__ gu, int64_t n_vec, int inter, bf16 *__restrict__ out) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n_vec) return;
    const int per_row = inter / VEC;
    const int64_t t = idx / per_row;
    const int i = static_cast<int>(idx % per_row) * VEC;
    const bf16 *row = gu + t * 2 * static_cast<int64_t>(inter);
    float g[8], u[8], o[8];
    if (VEC == 8) {
        load8(row + i, g);
        load8(row + inter + i, u);
    } else {
        g[0] = __bfloat162float(row[i]);
        u[0] = __bfloat162float(row[inter + i]);
    }
#pragma unroll
    for (int e = 0; e < VEC; ++e) o[e] = round_bf16(silu(g[e])) * u[e];
    bf16 *dst = out + t * inter + i;
    if (VEC == 8) store8(dst, o);
    else dst[0] = __float2bfloat16_rn(o[0]);
}

}  // namespace

void swiglu(const bf16 *gu, int64_t T, int inter, bf16 *out, cudaStream_t stream) {
    const int threads = 256;
    if (inter % 8 == 0) {
        const int64_t n = T * (inter / 8);
        if (n <= 0) return;
        auto *k = swiglu_kernel<8>;
        RIR_LAUNCH(k, static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream, gu, n, inter, out);
    } else {
        const int64_t n = T * inter;
        if (n <= 0) return;
        auto *k = swiglu_kernel<1>;
        RIR_LAUNCH(k, static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream, gu, n, inter, out);
    }
}

}  // namespace cuda
}  // namespace rir
