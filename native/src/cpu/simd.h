// simd.h: the vector primitives the CPU kernels are written in, once per instruction set, with the same names in
// each namespace: simd_scalar (one lane, any CPU), simd_avx2 (AVX2 + FMA, 8 fp32 lanes) and simd_avx512 (AVX-512
// F/BW/DQ/VL, 16 lanes). A kernel written against these names is compiled once per ISA by including its .inc file in
// a namespace that does `using namespace simd_<isa>;` with the matching target attribute (attention.cpp, ops.cpp):
// every primitive is always_inline and carries its ISA's target attribute, so it inlines only into functions compiled
// for that ISA, and nothing of a wider ISA leaks into code that runs before run-time detection (isa.cpp).
//
// Intrinsics rather than plain loops: GCC vectorizes a plain loop under a target attribute only sometimes (the AVX2
// attention of the past ran at 128-bit or scalar width), and the kernels must provably run at full width.
//
// Every primitive is lane-wise except hmax/hsum, which reduce in one fixed order; so a kernel's result for one lane
// never depends on the other lanes, and results are deterministic.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bf16.h"
#include "cpu/vexp.h"

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12 reports its own _mm512_undefined_*() (the pass-through operand of unmasked intrinsics) as "(may be) used
// uninitialized" once they are inlined: a false positive of the compiler headers, silenced for the files using these.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace rir {
namespace cpu {

// 1/12!, 1/11!, ..., 1/2!, 1, 1: the Horner steps after 1/13! of the double exp's Taylor polynomial (vd_exp).
constexpr double kExpTaylor[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                 1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                                 1.0 / 24.0,        1.0 / 6.0,        0.5,             1.0,
                                 1.0};

// ------------------------------------------------------------------------------------------------ scalar
namespace simd_scalar {
#define RIR_SIMD_FN __attribute__((always_inline)) inline
using vf = float;
constexpr int kW = 1;
RIR_SIMD_FN vf vzero() { return 0.0f; }
RIR_SIMD_FN vf vset1(float x) { return x; }
RIR_SIMD_FN vf vload(const float *p) { return *p; }
RIR_SIMD_FN void vstore(float *p, vf v) { *p = v; }
RIR_SIMD_FN vf vload_n(const float *p, int n) { return n > 0 ? *p : 0.0f; }
RIR_SIMD_FN void vstore_n(float *p, vf v, int n) {
    if (n > 0) *p = v;
}
RIR_SIMD_FN vf vkeep_n(vf v, int n) { return n > 0 ? v : 0.0f; }
RIR_SIMD_FN vf vload_n_fill(const float *p, int n, float fill) { return n > 0 ? *p : fill; }
RIR_SIMD_FN vf vfma(vf a, vf b, vf c) { return a * b + c; }  // contracted where the target has FMA
RIR_SIMD_FN vf vmul(vf a, vf b) { return a * b; }
RIR_SIMD_FN vf vadd(vf a, vf b) { return a + b; }
RIR_SIMD_FN vf vsub(vf a, vf b) { return a - b; }
RIR_SIMD_FN vf vdiv(vf a, vf b) { return a / b; }
RIR_SIMD_FN vf vmax(vf a, vf b) { return a > b ? a : b; }
RIR_SIMD_FN float hmax(vf v) { return v; }
RIR_SIMD_FN float hsum(vf v) { return v; }
RIR_SIMD_FN vf vexp(vf x) { return exp_fast(x); }
RIR_SIMD_FN vf vround_bf16(vf x) { return round_bf16(x); }
RIR_SIMD_FN vf vload_bf16(const bf16_t *p) { return bf16_to_f32(*p); }
RIR_SIMD_FN void vstore_bf16(bf16_t *p, vf v) { *p = f32_to_bf16(v); }
// Double precision: a vf splits into kW / kWd double vectors (here one).
using vd = double;
constexpr int kWd = 1;
RIR_SIMD_FN vd vd_zero() { return 0.0; }
RIR_SIMD_FN vd vd_set1(double x) { return x; }
RIR_SIMD_FN vd vd_of(vf v, int half) { return v; }  // half 0 only
RIR_SIMD_FN vf vf_of(vd lo, vd hi) { return static_cast<float>(lo); }
RIR_SIMD_FN vd vd_fma(vd a, vd b, vd c) { return a * b + c; }
RIR_SIMD_FN vd vd_add(vd a, vd b) { return a + b; }
RIR_SIMD_FN vd vd_div(vd a, vd b) { return a / b; }
RIR_SIMD_FN double vd_hsum(vd v) { return v; }
RIR_SIMD_FN vd vd_exp(vd x) { return std::exp(x); }
#undef RIR_SIMD_FN
}  // namespace simd_scalar

#if defined(__x86_64__)
// ------------------------------------------------------------------------------------------------ AVX2 + FMA
namespace simd_avx2 {
#define RIR_SIMD_FN __attribute__((target("avx2,fma"), always_inline)) inline
using vf = __m256;
constexpr int kW = 8;
RIR_SIMD_FN vf vzero() { return _mm256_setzero_ps(); }
RIR_SIMD_FN vf vset1(float x) { return _mm256_set1_ps(x); }
RIR_SIMD_FN vf vload(const float *p) { return _mm256_loadu_ps(p); }
RIR_SIMD_FN void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
// Lanes [0, n) of p (n may exceed 8); the others are 0 and p[n..] is never read.
RIR_SIMD_FN __m256i lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
RIR_SIMD_FN vf vload_n(const float *p, int n) { return _mm256_maskload_ps(p, lanes_below(n)); }
RIR_SIMD_FN void vstore_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, lanes_below(n), v); }
RIR_SIMD_FN vf vkeep_n(vf v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(lanes_below(n))); }
// Lanes [0, n) of p, the others `fill`.
RIR_SIMD_FN vf vload_n_fill(const float *p, int n, float fill) {
    const __m256i m = lanes_below(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
RIR_SIMD_FN vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
RIR_SIMD_FN vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
RIR_SIMD_FN vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
RIR_SIMD_FN vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
RIR_SIMD_FN vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
RIR_SIMD_FN vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
RIR_SIMD_FN float hmax(vf v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
RIR_SIMD_FN float hsum(vf v) {  // ((l0 + h0) + (l2 + h2)) + ((l1 + h1) + (l3 + h3)): one fixed tree
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
// exp_fast (vexp.h), lane-wise: the same reduction, polynomial and edge handling.
RIR_SIMD_FN vf vexp(vf x) {
    // max/min return their second operand when one is NaN: x second keeps a NaN a NaN.
    const vf xc = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
    const vf round = _mm256_set1_ps(12582912.0f);
    const vf t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), round);
    const vf n = _mm256_sub_ps(t, round);
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    vf p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(round)), _mm256_set1_epi32(127)),
        23);
    vf y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.0f), _CMP_GT_OQ));
    return y;
}
// round_bf16 (bf16.h) lane-wise: round to nearest even; a NaN stays a (quiet) NaN.
RIR_SIMD_FN vf vround_bf16(vf x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rne = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    const __m256i r = _mm256_blendv_epi8(rne, q, nan);
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
}
RIR_SIMD_FN vf vload_bf16(const bf16_t *p) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))), 16));
}
// Stores r(v) as 8 bf16.
RIR_SIMD_FN void vstore_bf16(bf16_t *p, vf v) {
    const __m256i hi = _mm256_srli_epi32(_mm256_castps_si256(vround_bf16(v)), 16);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(p), packed);
}
using vd = __m256d;
constexpr int kWd = 4;
RIR_SIMD_FN vd vd_zero() { return _mm256_setzero_pd(); }
RIR_SIMD_FN vd vd_set1(double x) { return _mm256_set1_pd(x); }
RIR_SIMD_FN vd vd_of(vf v, int half) {
    return _mm256_cvtps_pd(half ? _mm256_extractf128_ps(v, 1) : _mm256_castps256_ps128(v));
}
RIR_SIMD_FN vf vf_of(vd lo, vd hi) {  // each rounded once to fp32 (vcvtpd2ps: round to nearest even)
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}
RIR_SIMD_FN vd vd_fma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
RIR_SIMD_FN vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
RIR_SIMD_FN vd vd_div(vd a, vd b) { return _mm256_div_pd(a, b); }
RIR_SIMD_FN double vd_hsum(vd v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// exp in double for the BF16 mode's SiLU: Cody-Waite reduction (ln 2 in two parts, the first exact times n), the
// degree-13 Taylor polynomial of e^r on |r| <= ln2 / 2 (truncation below 4e-18 relative) in Horner form with FMAs:
// within 2 ulp of double. Inputs are clamped to [-708, 709] (beyond that SiLU's result in fp32 no longer depends on
// exp: x / (1 + e^-x) is x or -0), +inf above 709.78, NaN stays NaN.
RIR_SIMD_FN vd vd_exp(vd x) {
    const vd xc = _mm256_min_pd(_mm256_set1_pd(709.0), _mm256_max_pd(_mm256_set1_pd(-708.0), x));
    const vd magic = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52: t + magic keeps round(t) in the low bits
    const vd t = _mm256_fmadd_pd(xc, _mm256_set1_pd(1.4426950408889634), magic);
    const vd n = _mm256_sub_pd(t, magic);
    vd r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), xc);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
    vd p = _mm256_set1_pd(1.0 / 6227020800.0);  // 1 / 13!
    for (double c : kExpTaylor) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c));
    const __m256i bits = _mm256_slli_epi64(
        _mm256_add_epi64(_mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(magic)), _mm256_set1_epi64x(1023)),
        52);
    vd y = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
    y = _mm256_blendv_pd(y, _mm256_set1_pd(INFINITY), _mm256_cmp_pd(x, _mm256_set1_pd(709.78), _CMP_GT_OQ));
    return y;
}
#undef RIR_SIMD_FN
}  // namespace simd_avx2

// ------------------------------------------------------------------------------------------------ AVX-512
namespace simd_avx512 {
#define RIR_SIMD_FN __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"), always_inline)) inline
using vf = __m512;
constexpr int kW = 16;
RIR_SIMD_FN vf vzero() { return _mm512_setzero_ps(); }
RIR_SIMD_FN vf vset1(float x) { return _mm512_set1_ps(x); }
RIR_SIMD_FN vf vload(const float *p) { return _mm512_loadu_ps(p); }
RIR_SIMD_FN void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
RIR_SIMD_FN __mmask16 lanes_below(int n) {
    return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
RIR_SIMD_FN vf vload_n(const float *p, int n) { return _mm512_maskz_loadu_ps(lanes_below(n), p); }
RIR_SIMD_FN void vstore_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, lanes_below(n), v); }
RIR_SIMD_FN vf vkeep_n(vf v, int n) { return _mm512_maskz_mov_ps(lanes_below(n), v); }
RIR_SIMD_FN vf vload_n_fill(const float *p, int n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes_below(n), p);
}
RIR_SIMD_FN vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
RIR_SIMD_FN vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
RIR_SIMD_FN vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
RIR_SIMD_FN vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
RIR_SIMD_FN vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
RIR_SIMD_FN vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
RIR_SIMD_FN float hmax(vf v) {
    __m256 m = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
RIR_SIMD_FN float hsum(vf v) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
RIR_SIMD_FN vf vexp(vf x) {
    const vf xc = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), x));
    const vf round = _mm512_set1_ps(12582912.0f);
    const vf t = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), round);
    const vf n = _mm512_sub_ps(t, round);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    vf p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    vf y = _mm512_scalef_ps(p, n);  // p * 2^n, exact (n is an integer in [-126, 127] after the clamp): one instruction
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ), _mm512_setzero_ps());
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.0f), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    return y;
}
RIR_SIMD_FN vf vround_bf16(vf x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}
RIR_SIMD_FN vf vload_bf16(const bf16_t *p) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))), 16));
}
RIR_SIMD_FN void vstore_bf16(bf16_t *p, vf v) {
    const __m512i hi = _mm512_srli_epi32(_mm512_castps_si512(vround_bf16(v)), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(hi));
}
using vd = __m512d;
constexpr int kWd = 8;
RIR_SIMD_FN vd vd_zero() { return _mm512_setzero_pd(); }
RIR_SIMD_FN vd vd_set1(double x) { return _mm512_set1_pd(x); }
RIR_SIMD_FN vd vd_of(vf v, int half) {
    return _mm512_cvtps_pd(half ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v));
}
RIR_SIMD_FN vf vf_of(vd lo, vd hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}
RIR_SIMD_FN vd vd_fma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
RIR_SIMD_FN vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
RIR_SIMD_FN vd vd_div(vd a, vd b) { return _mm512_div_pd(a, b); }
RIR_SIMD_FN double vd_hsum(vd v) {
    const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// simd_avx2::vd_exp, 8 lanes.
RIR_SIMD_FN vd vd_exp(vd x) {
    const vd xc = _mm512_min_pd(_mm512_set1_pd(709.0), _mm512_max_pd(_mm512_set1_pd(-708.0), x));
    const vd magic = _mm512_set1_pd(6755399441055744.0);
    const vd t = _mm512_fmadd_pd(xc, _mm512_set1_pd(1.4426950408889634), magic);
    const vd n = _mm512_sub_pd(t, magic);
    vd r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.93147180369123816490e-01), xc);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.90821492927058770002e-10), r);
    vd p = _mm512_set1_pd(1.0 / 6227020800.0);
    for (double c : kExpTaylor) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(c));
    const __m512i bits = _mm512_slli_epi64(
        _mm512_add_epi64(_mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_castpd_si512(magic)), _mm512_set1_epi64(1023)),
        52);
    vd y = _mm512_mul_pd(p, _mm512_castsi512_pd(bits));
    y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(x, _mm512_set1_pd(709.78), _CMP_GT_OQ), _mm512_set1_pd(INFINITY));
    return y;
}
#undef RIR_SIMD_FN
}  // namespace simd_avx512
#endif  // __x86_64__

}  // namespace cpu
}  // namespace rir
