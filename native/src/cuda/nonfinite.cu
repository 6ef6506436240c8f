// nonfinite.cu: finds the first NaN/Inf of a bf16 buffer (kernels.h, find_nonfinite). CPU twin: the loader's host
// scan (checkpoint.cpp, LoadOptions::scan_nonfinite). Used once per tensor after the upload, so a bad weight is
// reported by name at open instead of as a non-finite embedding later.
#include "cuda/kernels.h"

namespace rir {
namespace cuda {

namespace {

__global__ void nonfinite_kernel(const uint16_t *__restrict__ data, int64_t n, unsigned long long *first_bad) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        if ((data[i] & 0x7f80u) == 0x7f80u) {  // exponent all ones: Inf or NaN
            atomicMin(first_bad, static_cast<unsigned long long>(i));
            return;  // later elements of this thread have larger indices
        }
    }
}

}  // namespace

void find_nonfinite(const bf16 *data, int64_t n, unsigned long long *first_bad, cudaStream_t stream) {
    if (n <= 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    const unsigned grid = static_cast<unsigned>(blocks < 4096 ? blocks : 4096);  // grid-stride beyond that
    RIR_LAUNCH(nonfinite_kernel, grid, threads, 0, stream, reinterpret_cast<const uint16_t *>(data), n, first_bad);
}

}  // namespace cuda
}  // namespace rir
