// vexp.h: exp(x) in fp32 written so that a loop over it vectorizes (no library call, no branch): the FP32 mode's
// softmax and SiLU call it once per element, where libm's scalar expf was the largest cost after the GEMMs.
//
// Method (the classic Cody-Waite reduction with a degree-6 polynomial, as in Cephes' expf):
//   n = round(x / ln 2), r = x - n ln 2 with ln 2 split in two parts (the first has 9 significant bits, so n * kLn2Hi
//   is exact for |n| < 2^15 and no fused multiply-add is needed), e^r by its polynomial on |r| <= ln2 / 2, then the
//   product with 2^n built in the exponent bits. Rounding to the nearest integer adds and subtracts 1.5 * 2^23.
// Accuracy: within 2 ulp of the correctly rounded exp over [-87, 88] (test_cpu_ops checks it against std::exp in
// double); below -87 the result is 0 (true value < 1.7e-38, below which the softmax and SiLU cannot see it), above 88
// it is +inf (true value > 1.6e38, exp overflows at 88.72 anyway), NaN stays NaN.
// Whether a copy contracts a * b + c into an FMA depends on the ISA it is compiled for, so results may differ in the
// last bit between ISAs (as for every other loop the compiler vectorizes); on one ISA they are deterministic.
#pragma once
#include <cstdint>
#include <cstring>

namespace rir {
namespace cpu {

inline float exp_fast(float x) {
    constexpr float kLog2e = 1.44269504088896341f;
    constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: t + kRound keeps round(t) in the low mantissa bits
    const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // NaN passes through (both compares false)
    const float t = xc * kLog2e + kRound;
    const float n = t - kRound;
    float r = xc - n * kLn2Hi;
    r = r - n * kLn2Lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // 2^n: n is the integer in the low bits of t (|n| <= 127 after the clamp), moved into the exponent field.
    int32_t tb, kb;
    std::memcpy(&tb, &t, sizeof tb);
    std::memcpy(&kb, &kRound, sizeof kb);
    const int32_t bits = (tb - kb + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x < -87.0f ? 0.0f : y;
    y = x > 88.0f ? __builtin_inff() : y;
    return y;
}

}  // namespace cpu
}  // namespace rir
