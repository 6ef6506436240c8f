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

__global__ void __launch_bounds__(kThreads) residual_rmsnorm_kernel(bf16 *__restrict__ h, const bf16 *__restrict__ d,
                                                                    int hidden, const bf16 *__restrict__ w,
                                                                    float eps, bf16 *__restrict__ y) {
    __shared__ double scratch[32];
    const int64_t row = blockIdx.x;
    bf16 *hr = h + row * hidden;
    const bf16 *dr = d ? d + row * hidden : nullptr;
    bf16 *yr = y + row * hidden;
    double ss = 0.0;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        float x = __bfloat162float(hr[i]);
        if (dr) {
            x = round_bf16(x + __bfloat162float(dr[i]));  // h = r(h + d)
            hr[i] = __float2bfloat16_rn(x);
        }
        ss += static_cast<double>(x) * x;
    }
    ss = block_sum(ss, scratch);
    const float var = static_cast<float>(ss / hidden);
    const float inv = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        const float x = __bfloat162float(hr[i]);  // this thread's own write above (or the input)
        yr[i] = __float2bfloat16_rn(round_bf16(x * inv) * __bfloat162float(w[i]));
    }
}

}  // namespace

void residual_rmsnorm(bf16 *h, const bf16 *d, int64_t T, int hidden, const bf16 *w, float eps, bf16 *y,
                      cudaStream_t stream) {
    if (T <= 0) return;
    RIR_LAUNCH(residual_rmsnorm_kernel, static_cast<unsigned>(T), kThreads, 0, stream, h, d, hidden, w, eps, y);
}

}  // namespace cuda
}  // namespace rir
