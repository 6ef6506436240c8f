// gemm_x86.cpp: AVX2+FMA, AVX-512F and AVX512_BF16 GEMM kernels (see gemm.h). Each function carries its own target
// attribute, so this file builds for any x86-64 and the kernels are only called after run-time detection (isa.cpp).
// On other architectures the x86 kernel sets fall back to the scalar one.
#include <algorithm>
#include <cstring>

#include "cpu/bf16.h"
#include "cpu/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_epi32() (the pass-through operand of unmasked shuffles) as "may be used
// uninitialized" once transpose16 is inlined: a false positive of the compiler headers, silenced for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define RIR_AVX2 __attribute__((target("avx2,fma")))
#define RIR_AVX512 __attribute__((target("avx512f")))
#define RIR_AVX512BF16 __attribute__((target("avx512f,avx512bf16")))

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

// ------------------------------------------------------------------------------------------------ AVX-512
// MR = 12 rows x NR = 32 columns: 24 zmm accumulators + 2 panel registers (+ broadcasts folded into the FMAs).
constexpr int kAvx512Mr = 12, kAvx512Nr = 32, kAvx512Kc = 256;
constexpr int kBf16Mr = 12, kBf16Nr = 32, kBf16Kc = 512;  // K per block in bf16 elements = 256 pairs

// In-register transpose of a 16 x 16 matrix of 32-bit elements (r[i] = row i on entry, column i on exit).
RIR_AVX512 inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // Per 128-bit lane L, u[4g + e] holds element 4L + e of rows 4g .. 4g+3.
    for (int g = 0; g < 4; ++g) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int e = 0; e < 4; ++e) {
        __m512i v0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88);   // lanes 0,2 of rows 0-3 | lanes 0,2 of rows 4-7
        __m512i v1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xdd);   // lanes 1,3
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xdd);
        r[0 + e] = _mm512_shuffle_i32x4(v0, v2, 0x88);   // column e      (lane 0 of everything)
        r[8 + e] = _mm512_shuffle_i32x4(v0, v2, 0xdd);   // column 8 + e  (lane 2)
        r[4 + e] = _mm512_shuffle_i32x4(v1, v3, 0x88);   // column 4 + e  (lane 1)
        r[12 + e] = _mm512_shuffle_i32x4(v1, v3, 0xdd);  // column 12 + e (lane 3)
    }
}

// Asks for the kcb weights of rows n .. n+15 (those that exist) starting at column k0: the pack reads 16 rows at once,
// a stream pattern the hardware prefetchers follow poorly, so with few rows of X (a short query) the pack waited on
// memory for most of its time. Issued one block of 16 rows ahead.
inline void prefetch_rows(const bf16_t *w, int64_t K, int64_t N, int64_t n, int64_t k0, int kcb) {
    for (int64_t i = n; i < std::min(N, n + 16); ++i) {
        const char *row = reinterpret_cast<const char *>(w + i * K + k0);
        for (int64_t off = 0; off < int64_t(kcb) * 2; off += 64) __builtin_prefetch(row + off, 0, 0);
    }
}

// Panels of 32 columns, [kcb][32] fp32. Blocks of 16 full rows x 16 k are widened and transposed in registers.
RIR_AVX512 void pack_avx512(const bf16_t *w, int64_t K, int64_t N, int64_t n0, int ncp, int64_t k0, int kcb,
                            void *dst) {
    float *out = static_cast<float *>(dst);
    for (int s = 0; s < ncp / kAvx512Nr; ++s) {
        float *panel = out + static_cast<int64_t>(s) * kAvx512Nr * kcb;
        for (int half = 0; half < 2; ++half) {
            int64_t nb = n0 + s * kAvx512Nr + half * 16;
            prefetch_rows(w, K, N, nb + 16, k0, kcb);
            int k = 0;
            if (nb + 16 <= N) {
                for (; k + 16 <= kcb; k += 16) {
                    __m512i r[16];
                    for (int i = 0; i < 16; ++i) {
                        __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + (nb + i) * K + k0 + k));
                        r[i] = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
                    }
                    transpose16(r);
                    for (int i = 0; i < 16; ++i)
                        _mm512_storeu_si512(panel + (k + i) * kAvx512Nr + half * 16, r[i]);
                }
            }
            for (int j = 0; j < 16; ++j) {
                int64_t n = nb + j;
                for (int kk = k; kk < kcb; ++kk)
                    panel[kk * kAvx512Nr + half * 16 + j] = n < N ? bf16_to_f32(w[n * K + k0 + kk]) : 0.0f;
            }
        }
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

// ------------------------------------------------------------------------------------------------ AVX512_BF16
// Panels of 32 columns, [pairs][32][2] bf16: unit (p, j) = W[n_j][2p] | W[n_j][2p+1] << 16, the vdpbf16ps operand.
RIR_AVX512 void pack_avx512bf16(const bf16_t *w, int64_t K, int64_t N, int64_t n0, int ncp, int64_t k0, int kcb,
                                void *dst) {
    uint32_t *out = static_cast<uint32_t *>(dst);
    const int pairs = (kcb + 1) / 2;
    for (int s = 0; s < ncp / kBf16Nr; ++s) {
        uint32_t *panel = out + static_cast<int64_t>(s) * kBf16Nr * pairs;
        for (int half = 0; half < 2; ++half) {
            int64_t nb = n0 + s * kBf16Nr + half * 16;
            int p = 0;
            if (nb + 16 <= N) {
                for (; 2 * (p + 16) <= kcb; p += 16) {  // 16 pairs = 32 bf16 = one 512-bit load per row
                    __m512i r[16];
                    for (int i = 0; i < 16; ++i)
                        r[i] = _mm512_loadu_si512(w + (nb + i) * K + k0 + 2 * p);
                    transpose16(r);
                    for (int i = 0; i < 16; ++i) _mm512_storeu_si512(panel + (p + i) * kBf16Nr + half * 16, r[i]);
                }
            }
            for (int j = 0; j < 16; ++j) {
                int64_t n = nb + j;
                for (int pp = p; pp < pairs; ++pp) {
                    uint32_t lo = 0, hi = 0;
                    if (n < N) {
                        lo = w[n * K + k0 + 2 * pp];
                        if (2 * pp + 1 < kcb) hi = w[n * K + k0 + 2 * pp + 1];
                    }
                    panel[pp * kBf16Nr + half * 16 + j] = lo | (hi << 16);
                }
            }
        }
    }
}

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
    static const GemmKernels k = {"avx2", kAvx2Mr, kAvx2Nr, kAvx2Kc, false, pack_widened<kAvx2Nr>,
                                  {nullptr, ukr_avx2<1>, ukr_avx2<2>, ukr_avx2<3>, ukr_avx2<4>, ukr_avx2<5>,
                                   ukr_avx2<6>}};
    return k;
}

const GemmKernels &gemm_kernels_avx512() {
    static const GemmKernels k = {
        "avx512", kAvx512Mr, kAvx512Nr, kAvx512Kc, false, pack_avx512,
        {nullptr, ukr_avx512<1>, ukr_avx512<2>, ukr_avx512<3>, ukr_avx512<4>, ukr_avx512<5>, ukr_avx512<6>,
         ukr_avx512<7>, ukr_avx512<8>, ukr_avx512<9>, ukr_avx512<10>, ukr_avx512<11>, ukr_avx512<12>}};
    return k;
}

const GemmKernels &gemm_kernels_avx512bf16() {
    static const GemmKernels k = {
        "avx512bf16", kBf16Mr, kBf16Nr, kBf16Kc, true, pack_avx512bf16,
        {nullptr, ukr_avx512bf16<1>, ukr_avx512bf16<2>, ukr_avx512bf16<3>, ukr_avx512bf16<4>, ukr_avx512bf16<5>,
         ukr_avx512bf16<6>, ukr_avx512bf16<7>, ukr_avx512bf16<8>, ukr_avx512bf16<9>, ukr_avx512bf16<10>,
         ukr_avx512bf16<11>, ukr_avx512bf16<12>}};
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
}  // namespace cpu
}  // namespace rir
#endif
