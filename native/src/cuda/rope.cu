// rope.cu: rotary position embedding (kernels.h, rope_table / rope_apply). CPU twin: cpu::rope_tables (BF16) and
// cpu::rope_apply (BF16). cos/sin are evaluated in double and rounded to fp32 then bf16 exactly as the twin does, so
// the tables, and with them the rotated q and k, agree bit for bit.
#include "cuda/device_util.cuh"
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {

__global__ void rope_table_kernel(const int32_t *__restrict__ pos, int64_t n, const float *__restrict__ inv_freq,
                                  int half, float2 *__restrict__ cs) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    const int64_t t = idx / half;
    const int i = static_cast<int>(idx % half);
    const float angle = static_cast<float>(pos[t]) * inv_freq[i];  // one fp32 product, as torch
    const float c = static_cast<float>(cos(static_cast<double>(angle)));
    const float s = static_cast<float>(sin(static_cast<double>(angle)));
    cs[idx] = make_float2(round_bf16(c), round_bf16(s));
}

// One block per token row; threads walk the (head, i) pairs of the row.
__global__ void rope_apply_kernel(bf16 *__restrict__ x, int64_t ld, int n_heads, int head_dim,
                                  const float2 *__restrict__ cs) {
    const int64_t t = blockIdx.x;
    const int half = head_dim / 2;
    const float2 *c = cs + t * half;
    bf16 *row = x + t * ld;
    for (int p = threadIdx.x; p < n_heads * half; p += blockDim.x) {
        const int hd = p / half, i = p % half;
        bf16 *a = row + static_cast<int64_t>(hd) * head_dim + i;
        const float x1 = __bfloat162float(a[0]), x2 = __bfloat162float(a[half]);
        const float2 k = c[i];
        const float y1 = round_bf16(round_bf16(x1 * k.x) + round_bf16(-x2 * k.y));
        const float y2 = round_bf16(round_bf16(x2 * k.x) + round_bf16(x1 * k.y));
        a[0] = __float2bfloat16_rn(y1);
        a[half] = __float2bfloat16_rn(y2);
    }
}

}  // namespace

void rope_table(const int32_t *pos, int64_t T, const float *inv_freq, int half, float2 *cs, cudaStream_t stream) {
    const int64_t n = T * half;
    if (n <= 0) return;
    const int threads = 256;
    RIR_LAUNCH(rope_table_kernel, static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream, pos, n,
               inv_freq, half, cs);
}

void rope_apply(bf16 *x, int64_t ld, int64_t T, int n_heads, int head_dim, const float2 *cs, cudaStream_t stream) {
    if (T <= 0) return;
    RIR_LAUNCH(rope_apply_kernel, static_cast<unsigned>(T), 256, 0, stream, x, ld, n_heads, head_dim, cs);
}

}  // namespace cuda
}  // namespace rir
