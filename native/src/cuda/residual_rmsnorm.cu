// residual_rmsnorm.cu: residual add fused with RMSNorm (kernels.h, residual_rmsnorm).
// CPU twin: cpu::residual_add + cpu::rmsnorm in BF16 mode. The mean of squares is accumulated in double, like the
// twin, so that both compute the same fp32 inverse RMS (each square of an fp32 value is exact in double; only the
// order of the double additions differs), and the two bf16 roundings then agree bit for bit.
#include "cuda/device_util.cuh"
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// VEC = 8: 16-byte loads and stores (hidden % 8 == 0, the usual case); VEC = 1: any hidden size.
template <int VEC>
__global__ void __launch_bounds__(kThreads) residual_rmsnorm_kernel(bf16 *__restrict__ h, const bf16 *__restrict__ d,
                                                                    int hidden, const bf16 *__restrict__ w,
                                                                    float eps, bf16 *__restrict__ y) {
    __shared__ double scratch[32];
    const int64_t row = blockIdx.x;
    bf16 *hr = h + row * hidden;
    const bf16 *dr = d ? d + row * hidden : nullptr;
    bf16 *yr = y + row * hidden;
    double ss = 0.0;
    for (int i = threadIdx.x * VEC; i < hidden; i += blockDim.x * VEC) {
        float x[8], dd[8];
        if (VEC == 8) {
            load8(hr + i, x);
            if (dr) load8(dr + i, dd);
        } else {
            x[0] = __bfloat162float(hr[i]);
            if (dr) dd[0] = __bfloat162float(dr[i]);
        }
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
            if (dr) x[e] = round_bf16(x[e] + dd[e]);  // h = r(h + d)
            ss += static_cast<double>(x[e]) * x[e];
        }
        if (dr) {
            if (VEC == 8) store8(hr + i, x);
            else hr[i] = __float2bfloat16_rn(x[0]);
        }
    }
    ss = block_sum(ss, scratch);
    const float var = static_cast<float>(ss / hidden);
    const float inv = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x * VEC; i < hidden; i += blockDim.x * VEC) {  // this thread's own elements again
        float x[8], wv[8], o[8];
        if (VEC == 8) {
            load8(hr + i, x);
            load8(w + i, wv);
        } else {
            x[0] = __bfloat162float(hr[i]);
            wv[0] = __bfloat162float(w[i]);
        }
#pragma unroll
        for (int e = 0; e < VEC; ++e) o[e] = round_bf16(x[e] * inv) * wv[e];
        if (VEC == 8) store8(yr + i, o);
        else yr[i] = __float2bfloat16_rn(o[0]);
    }
}

}  // namespace

void residual_rmsnorm(bf16 *h, const bf16 *d, int64_t T, int hidden, const bf16 *w, float eps, bf16 *y,
                      cudaStream_t stream) {
    if (T <= 0) return;
    if (hidden % 8 == 0) {
        auto *k = residual_rmsnorm_kernel<8>;
        RIR_LAUNCH(k, static_cast<unsigned>(T), kThreads, 0, stream, h, d, hidden, w, eps, y);
    } else {
        auto *k = residual_rmsnorm_kernel<1>;
        RIR_LAUNCH(k, static_cast<unsigned>(T), kThreads, 0, stream, h, d, hidden, w, eps, y);
    }
}

}  // namespace cuda
}  // namespace rir
