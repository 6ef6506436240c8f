// embed.cu: embedding row gather (kernels.h, embed_gather). CPU twin: cpu::embed_rows (bit copy).
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {
// One block per token; 16-byte copies when rows are 16-byte aligned (hidden % 8 == 0), else 2-byte copies.
__global__ void embed_kernel(const int32_t *__restrict__ ids, const uint16_t *__restrict__ table, int hidden,
                             uint16_t *__restrict__ out) {
    const int64_t t = blockIdx.x;
    const uint16_t *src = table + static_cast<int64_t>(ids[t]) * hidden;
    uint16_t *dst = out + t * hidden;
    if ((hidden & 7) == 0) {
        const uint4 *s4 = reinterpret_cast<const uint4 *>(src);
        uint4 *d4 = reinterpret_cast<uint4 *>(dst);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) d4[i] = s4[i];
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = src[i];
    }
}
}  // namespace

void embed_gather(const int32_t *ids, int64_t T, const bf16 *table, int hidden, bf16 *out, cudaStream_t stream) {
    if (T <= 0) return;
    RIR_LAUNCH(embed_kernel, static_cast<unsigned>(T), 128, 0, stream, ids,
               reinterpret_cast<const uint16_t *>(table), hidden, reinterpret_cast<uint16_t *>(out));
}

}  // namespace cuda
}  // namespace rir
