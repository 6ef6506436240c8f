// gemm_x86.cpp: AVX2+FMA, AVX-512F and AVX512_BF16 GEMM kernels (see gemm.h). Each function carries its own target
// attribute, so this file builds for any x86-64 and the kernels are only called after run-time detection (isa.cpp).
// On other architectures the x86 kernel sets fall back to the scalar one.
#include <algorithm>
#include <cstring>
#include <iterator>

#include "bf16.h"
#include "cpu/gemm.h"
#include "cpu/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>


#define RIR_AVX2 __attribute__((target("avx2,fma")))
#define RIR_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define RIR_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace rir {
namespace cpu {
namespace {

// ------------------------------------------------------------------------------------------------ AVX2 + FMA
// MR = 6 rows x NR = 16 columns: 12 ymm accumulators + 2 panel registers + 1 broadcast (of 16 ymm registers).
constexpr int kAvx2Mr = 6, kAvx2Nr = 16, kAvx2Kc = 256;

template <int M>
RIR_AVX2 void ukr_avx2(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy, int ncols,
                       bool accumulate) {
    const float *x = static_cast<const float *>(xv);
    const float *p = static_cast<const float *>(pv);
    __m256 acc[M][2];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kcb; ++k) {
        __m256 w0 = _mm256_loadu_ps(p + k * kAvx2Nr), w1 = _mm256_loadu_ps(p + k * kAvx2Nr + 8);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            __m256 xb = _mm256_broadcast_ss(x + i * ldx + k);
            acc[i][0] = _mm256_fmadd_ps(xb, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xb, w1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        float *yi = y + i * ldy;
        if (ncols == kAvx2Nr) {
            if (accumulate) {
                acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(yi), acc[i][0]);
                acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(yi + 8), acc[i][1]);
            }
            _mm256_storeu_ps(yi, acc[i][0]);
            _mm256_storeu_ps(yi + 8, acc[i][1]);
        } else {
            alignas(32) float tmp[kAvx2Nr];
            _mm256_store_ps(tmp, acc[i][0]);
            _mm256_store_ps(tmp + 8, acc[i][1]);
            for (int j = 0; j < ncols; ++j) yi[j] = accumulate ? yi[j] + tmp[j] : tmp[j];
        }
    }
}

// The same products read straight from the packed pairs, for a few rows of X (short inputs), where widening each
// panel block first would cost more than the products: pair row p gives k = 2p (its low halves) and k = 2p + 1 (its
// high halves). Every accumulator adds the same products in the same order as ukr_avx2 over the widened block, so the
// two give equal bits. MR = 4: 8 accumulators + 4 widened operands + the mask + a broadcast fit 16 registers.
constexpr int kAvx2DirectMr = 4;
template <int M>
RIR_AVX2 void ukr_avx2_pairs(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy, int ncols,
                             bool accumulate) {
    const float *x = static_cast<const float *>(xv);
    const uint32_t *p = static_cast<const uint32_t *>(pv);
    const __m256i hi = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    __m256 acc[M][2];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kcb; k += 2) {
        const __m256i u0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + (k / 2) * kAvx2Nr));
        const __m256i u1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + (k / 2) * kAvx2Nr + 8));
        const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(u0, 16));
        const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(u1, 16));
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const __m256 xb = _mm256_broadcast_ss(x + i * ldx + k);
            acc[i][0] = _mm256_fmadd_ps(xb, e0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xb, e1, acc[i][1]);
        }
        if (k + 1 == kcb) break;  // odd K: the last pair's high half is padding
        const __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(u0, hi));
        const __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(u1, hi));
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const __m256 xb = _mm256_broadcast_ss(x + i * ldx + k + 1);
            acc[i][0] = _mm256_fmadd_ps(xb, o0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xb, o1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        float *yi = y + i * ldy;
        alignas(32) float tmp[kAvx2Nr];
        _mm256_store_ps(tmp, acc[i][0]);
        _mm256_store_ps(tmp + 8, acc[i][1]);
        for (int j = 0; j < ncols; ++j) yi[j] = accumulate ? yi[j] + tmp[j] : tmp[j];
    }
}

RIR_AVX2 void widen_avx2(const uint32_t *src, int kcb, int nr, float *dst) {
    const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    int k = 0;
    for (; k + 2 <= kcb; k += 2, src += kAvx2Nr, dst += 2 * kAvx2Nr) {
        const __m256i u0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src));
        const __m256i u1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + 8));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst), _mm256_slli_epi32(u0, 16));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 8), _mm256_slli_epi32(u1, 16));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 16), _mm256_and_si256(u0, hi_mask));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 24), _mm256_and_si256(u1, hi_mask));
    }
    if (k < kcb) {
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst),
                            _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(src)), 16));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 8),
                            _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + 8)), 16));
    }
}

RIR_AVX2 void round_rows_avx2(float *y, int64_t ldy, int m, int ncols) {
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < ncols; j += 8) {
            const int n = ncols - j;
            simd_avx2::vstore_n(y + i * ldy + j, simd_avx2::vround_bf16(simd_avx2::vload_n(y + i * ldy + j, n)), n);
        }
}

// ------------------------------------------------------------------------------------------------ AVX-512
// MR = 12 rows x NR = 32 columns: 24 zmm accumulators + 2 panel registers (+ broadcasts folded into the FMAs).
constexpr int kAvx512Mr = 12, kAvx512Nr = 32, kAvx512Kc = 256;
constexpr int kBf16Mr = 12, kBf16Nr = 32, kBf16Kc = 512;  // K per block in bf16 elements = 256 pairs

// Widening of packed pairs into an fp32 panel block [kcb][32]: row 2p is the low halves of pair row p, row 2p + 1
// the high halves (bf16 -> fp32 is exact: the bf16 bits become the upper half).
RIR_AVX512 void widen_avx512(const uint32_t *src, int kcb, int nr, float *dst) {
    const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    int k = 0;
    for (; k + 2 <= kcb; k += 2, src += kAvx512Nr, dst += 2 * kAvx512Nr) {
        const __m512i u0 = _mm512_loadu_si512(src), u1 = _mm512_loadu_si512(src + 16);
        _mm512_storeu_si512(dst, _mm512_slli_epi32(u0, 16));
        _mm512_storeu_si512(dst + 16, _mm512_slli_epi32(u1, 16));
        _mm512_storeu_si512(dst + 32, _mm512_and_si512(u0, hi_mask));
        _mm512_storeu_si512(dst + 48, _mm512_and_si512(u1, hi_mask));
    }
    if (k < kcb) {  // odd kcb: the last row is the low halves
        _mm512_storeu_si512(dst, _mm512_slli_epi32(_mm512_loadu_si512(src), 16));
        _mm512_storeu_si512(dst + 16, _mm512_slli_epi32(_mm512_loadu_si512(src + 16), 16));
    }
}

// Y[m, ncols] = r(Y): the BF16 mode's rounding of a projection, 16 lanes at a time.
RIR_AVX512 void round_rows_avx512(float *y, int64_t ldy, int m, int ncols) {
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < ncols; j += 16) {
            const int n = ncols - j;
            simd_avx512::vstore_n(y + i * ldy + j, simd_avx512::vround_bf16(simd_avx512::vload_n(y + i * ldy + j, n)), n);
        }
}

RIR_AVX512 inline void store_rows_avx512(__m512 a0, __m512 a1, float *yi, int ncols, bool accumulate) {
    if (ncols == 32) {
        if (accumulate) {
            a0 = _mm512_add_ps(_mm512_loadu_ps(yi), a0);
            a1 = _mm512_add_ps(_mm512_loadu_ps(yi + 16), a1);
        }
        _mm512_storeu_ps(yi, a0);
        _mm512_storeu_ps(yi + 16, a1);
        return;
    }
    __mmask16 m0 = ncols >= 16 ? __mmask16(0xffff) : __mmask16((1u << ncols) - 1);
    __mmask16 m1 = ncols > 16 ? __mmask16((1u << (ncols - 16)) - 1) : __mmask16(0);
    if (accumulate) {
        a0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yi), a0);
        a1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yi + 16), a1);
    }
    _mm512_mask_storeu_ps(yi, m0, a0);
    _mm512_mask_storeu_ps(yi + 16, m1, a1);
}

template <int M>
RIR_AVX512 void ukr_avx512(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy, int ncols,
                           bool accumulate) {
    const float *x = static_cast<const float *>(xv);
    const float *p = static_cast<const float *>(pv);
    __m512 acc[M][2];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kcb; ++k) {
        __m512 w0 = _mm512_loadu_ps(p + k * kAvx512Nr), w1 = _mm512_loadu_ps(p + k * kAvx512Nr + 16);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            __m512 xb = _mm512_set1_ps(x[i * ldx + k]);
            acc[i][0] = _mm512_fmadd_ps(xb, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xb, w1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) store_rows_avx512(acc[i][0], acc[i][1], y + i * ldy, ncols, accumulate);
}

// ukr_avx512 straight from the packed pairs (see ukr_avx2_pairs): equal bits. MR = 12: 24 accumulators + 4 widened
// operands + the mask + a broadcast fit 32 registers.
template <int M>
RIR_AVX512 void ukr_avx512_pairs(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy,
                                 int ncols, bool accumulate) {
    const float *x = static_cast<const float *>(xv);
    const uint32_t *p = static_cast<const uint32_t *>(pv);
    const __m512i hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    __m512 acc[M][2];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kcb; k += 2) {
        const __m512i u0 = _mm512_loadu_si512(p + (k / 2) * kAvx512Nr), u1 = _mm512_loadu_si512(p + (k / 2) * kAvx512Nr + 16);
        const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(u0, 16));
        const __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(u1, 16));
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const __m512 xb = _mm512_set1_ps(x[i * ldx + k]);
            acc[i][0] = _mm512_fmadd_ps(xb, e0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xb, e1, acc[i][1]);
        }
        if (k + 1 == kcb) break;  // odd K: the last pair's high half is padding
        const __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(u0, hi));
        const __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(u1, hi));
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const __m512 xb = _mm512_set1_ps(x[i * ldx + k + 1]);
            acc[i][0] = _mm512_fmadd_ps(xb, o0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xb, o1, acc[i][1]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) store_rows_avx512(acc[i][0], acc[i][1], y + i * ldy, ncols, accumulate);
}

// ------------------------------------------------------------------------------------------------ AVX512_BF16
// Panels are the packed pairs themselves: unit (p, j) = W[n_j][2p] | W[n_j][2p+1] << 16, the vdpbf16ps operand.
template <int M>
RIR_AVX512BF16 void ukr_avx512bf16(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy,
                                   int ncols, bool accumulate) {
    const bf16_t *x = static_cast<const bf16_t *>(xv);  // ldx is even, pairs are 4-byte aligned within a row
    const uint32_t *p = static_cast<const uint32_t *>(pv);
    const int pairs = (kcb + 1) / 2;
    __m512 acc[M][2];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int q = 0; q < pairs; ++q) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(p + q * kBf16Nr);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(p + q * kBf16Nr + 16);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            int32_t pair;
            std::memcpy(&pair, x + i * ldx + 2 * q, sizeof pair);
            __m512bh xb = (__m512bh)_mm512_set1_epi32(pair);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], xb, w0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], xb, w1);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) store_rows_avx512(acc[i][0], acc[i][1], y + i * ldy, ncols, accumulate);
}

}  // namespace

const GemmKernels &gemm_kernels_avx2() {
    static const GemmKernels k = [] {
        GemmKernels g{"avx2", kAvx2Mr, kAvx2Nr, kAvx2Kc, false, widen_avx2,
                      {nullptr, ukr_avx2<1>, ukr_avx2<2>, ukr_avx2<3>, ukr_avx2<4>, ukr_avx2<5>, ukr_avx2<6>}};
        g.round_rows = round_rows_avx2;
        // AVX2: only short inputs (measured on medium, Sapphire Rapids capped at AVX2: every input through ukr_pairs
        // ran 158 vs 178 GFLOP/s; 4 rows per call leave the in-register widening a larger share than 6 do).
        g.mr_pairs = kAvx2DirectMr;
        g.pairs_max_rows = kPairsMaxRows;
        g.kc_pairs = kAvx2Kc;
        const decltype(g.ukr_pairs) pairs = {nullptr, ukr_avx2_pairs<1>, ukr_avx2_pairs<2>, ukr_avx2_pairs<3>,
                                             ukr_avx2_pairs<4>};
        std::copy(std::begin(pairs), std::end(pairs), g.ukr_pairs);
        return g;
    }();
    return k;
}

const GemmKernels &gemm_kernels_avx512() {
    static const GemmKernels k = [] {
        GemmKernels g{"avx512", kAvx512Mr, kAvx512Nr, kAvx512Kc, false, widen_avx512,
                      {nullptr, ukr_avx512<1>, ukr_avx512<2>, ukr_avx512<3>, ukr_avx512<4>, ukr_avx512<5>,
                       ukr_avx512<6>, ukr_avx512<7>, ukr_avx512<8>, ukr_avx512<9>, ukr_avx512<10>, ukr_avx512<11>,
                       ukr_avx512<12>}};
        g.round_rows = round_rows_avx512;
        // AVX-512: every input (measured on medium, Sapphire Rapids: 275 -> 310 GFLOP/s for the projections): no
        // widening pass, and K blocks of 1024 (one block for hidden 1024) rewrite Y a quarter as often as 256.
        g.mr_pairs = kAvx512Mr;
        g.pairs_max_rows = -1;
        g.kc_pairs = 1024;
        const decltype(g.ukr_pairs) pairs = {
            nullptr, ukr_avx512_pairs<1>, ukr_avx512_pairs<2>, ukr_avx512_pairs<3>, ukr_avx512_pairs<4>,
            ukr_avx512_pairs<5>, ukr_avx512_pairs<6>, ukr_avx512_pairs<7>, ukr_avx512_pairs<8>, ukr_avx512_pairs<9>,
            ukr_avx512_pairs<10>, ukr_avx512_pairs<11>, ukr_avx512_pairs<12>};
        std::copy(std::begin(pairs), std::end(pairs), g.ukr_pairs);
        return g;
    }();
    return k;
}

const GemmKernels &gemm_kernels_avx512bf16() {
    static const GemmKernels k = [] {
        GemmKernels g{"avx512bf16", kBf16Mr, kBf16Nr, kBf16Kc, true, nullptr,
                      {nullptr, ukr_avx512bf16<1>, ukr_avx512bf16<2>, ukr_avx512bf16<3>, ukr_avx512bf16<4>,
                       ukr_avx512bf16<5>, ukr_avx512bf16<6>, ukr_avx512bf16<7>, ukr_avx512bf16<8>,
                       ukr_avx512bf16<9>, ukr_avx512bf16<10>, ukr_avx512bf16<11>, ukr_avx512bf16<12>}};
        g.round_rows = round_rows_avx512;
        return g;
    }();
    return k;
}

}  // namespace cpu
}  // namespace rir

#else  // not x86-64: only the scalar kernels exist; detect_isa() never selects these.

namespace rir {
namespace cpu {
const GemmKernels &gemm_kernels_avx2() { return gemm_kernels_scalar(); }
const GemmKernels &gemm_kernels_avx512() { return gemm_kernels_scalar(); }
const GemmKernels &gemm_kernels_avx512bf16() { return gemm_kernels_scalar(); }
const GemmKernels &gemm_kernels_amx() { return gemm_kernels_scalar(); }
}  // namespace cpu
}  // namespace rir
#endif
