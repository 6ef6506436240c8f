// device_util.cuh: small device helpers shared by the kernels.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda/cuda_compat.h"

namespace rir {
namespace cuda {

// r(x) of the BF16 mode: round to the nearest bf16 (ties to even) and widen back.
__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// 8 bf16 <-> 8 floats through one 16-byte access (callers guarantee 16-byte alignment).
__device__ __forceinline__ void load8(const __nv_bfloat16 *p, float f[8]) {
    const uint4 v = *reinterpret_cast<const uint4 *>(p);
    __nv_bfloat162 h[4];
    memcpy(h, &v, sizeof v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __low2float(h[i]);
        f[2 * i + 1] = __high2float(h[i]);
    }
}
__device__ __forceinline__ void store8(__nv_bfloat16 *p, const float f[8]) {
    __nv_bfloat162 h[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    uint4 v;
    memcpy(&v, h, sizeof v);
    *reinterpret_cast<uint4 *>(p) = v;
}

// Sum over the block, reduced in a fixed tree (deterministic). `scratch` holds 32 values; every thread of the block
// must call it; blockDim.x must be a multiple of 32. Returns the total to every thread.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T *scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T total = T(0);
    for (int w = 0; w < n_warps; ++w) total += scratch[w];  // same order in every thread
    return total;
}

}  // namespace cuda
}  // namespace rir
