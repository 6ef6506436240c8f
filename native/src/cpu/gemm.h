// gemm.h: the CPU matrix multiply, where nearly all the time of a forward pass goes.
//   Y[T, N] = X[T, K] * W[N, K]^T      X fp32 row-major, W bf16 row-major (PyTorch Linear layout [out, in]), Y fp32.
// The bf16 weights are never converted as a whole: each thread widens one block of W (NC x KC) at a time into a packed
// panel ("pack"), then a register-blocked microkernel ("ukr") multiplies MR rows of X by NR columns of the panel.
// Kernels exist for scalar C++, AVX2+FMA, AVX-512F (fp32, bf16 widened exactly) and AVX512_BF16 (vdpbf16ps, only when
// the caller says every X value is a bf16 value: the BF16 mode, where products of bf16 are exact in fp32 and only the
// accumulation order differs). Each row's sum runs over K in the same order whatever T, the other rows or the thread
// count, so results are batch- and thread-invariant.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/bf16.h"
#include "cpu/isa.h"
#include "cpu/thread_pool.h"
#include "model.h"

namespace rir {
namespace cpu {

// One ISA's kernels (gemm_kernels.cpp, gemm_x86.cpp). A "unit" of the packed panel is 4 bytes: one fp32 weight, or
// for the bf16 kernels one pair of bf16 weights adjacent in K (the operand of vdpbf16ps).
struct GemmKernels {
    static constexpr int kMaxMr = 16;
    const char *name;
    int mr;       // rows of X per microkernel call
    int nr;       // columns of W per panel (and per microkernel call)
    int kc;       // K per block
    bool bf16_x;  // X is passed as bf16 (pairs along K), panels hold bf16 pairs
    // Packs W[n0 : n0+ncp, k0 : k0+kcb] into ncp/nr panels of nr*units(kcb) units each (unit-major, then column);
    // rows n >= N and the pad of an odd kcb (bf16) are zero.
    void (*pack)(const bf16_t *w, int64_t K, int64_t N, int64_t n0, int ncp, int64_t k0, int kcb, void *dst);
    // ukr[m], m in [1, mr]: Y[m, ncols] = (accumulate ? Y : 0) + X[m, kcb] * panel. x points at X[t][k0] (fp32 or
    // bf16 elements, row stride ldx elements), y at Y[t][n], row stride ldy.
    void (*ukr[kMaxMr + 1])(int kcb, const void *x, int64_t ldx, const void *panel, float *y, int64_t ldy,
                            int ncols, bool accumulate);
};

// The plain GemmKernels::pack for fp32 panels of NR columns: W rows widened from bf16, rows n >= N zero. Shared by
// the scalar and AVX2 kernels (AVX-512 packs with an in-register transpose instead).
template <int NR>
void pack_widened(const bf16_t *w, int64_t K, int64_t N, int64_t n0, int ncp, int64_t k0, int kcb, void *dst) {
    float *out = static_cast<float *>(dst);
    for (int s = 0; s < ncp / NR; ++s) {
        float *panel = out + static_cast<int64_t>(s) * NR * kcb;
        for (int j = 0; j < NR; ++j) {
            const int64_t n = n0 + s * NR + j;
            const bf16_t *row = w + n * K + k0;
            for (int k = 0; k < kcb; ++k) panel[k * NR + j] = n < N ? bf16_to_f32(row[k]) : 0.0f;
        }
    }
}

const GemmKernels &gemm_kernels_scalar();
const GemmKernels &gemm_kernels_avx2();
const GemmKernels &gemm_kernels_avx512();
const GemmKernels &gemm_kernels_avx512bf16();

class Gemm {
public:
    Gemm(ThreadPool &pool, Isa isa);

    // Y = X W^T (see above). x_bf16_exact: every X value is exactly a bf16 value, which allows the AVX512_BF16
    // kernel. round_out: Y = r(Y), rounded to bf16 (the BF16 mode's rounding of every projection).
    void run(const float *x, int64_t T, int64_t K, const bf16_t *w, int64_t N, float *y, bool x_bf16_exact,
             bool round_out);

    // The kernel set run() uses for the given kind of input.
    const GemmKernels &kernels(bool x_bf16_exact) const;
    Isa isa() const { return isa_; }
    // Bytes of scratch held (per-thread panels and the bf16 copy of X).
    size_t scratch_bytes() const;

    static constexpr int kMaxNc = 256;
    static constexpr int kPanelRowPad = 64;  // bytes added to each row of the X tile copy (one cache line)  // columns per thread block: 256 x KC(256) fp32 = 256 KiB of panel, fits L2

private:
    ThreadPool &pool_;
    Isa isa_;
    std::vector<std::vector<uint32_t>> panels_;  // per thread, kMaxNc * 256 units (kc <= 256 units in every set)
    std::vector<std::vector<uint32_t>> xtiles_;  // per thread, the current mr x kc tile of X (padded rows)
    std::vector<bf16_t> xb_;                     // X in bf16 for the AVX512_BF16 kernel, [T, K rounded up to even]
};

}  // namespace cpu
}  // namespace rir
