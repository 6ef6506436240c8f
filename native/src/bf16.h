// bf16.h: the host's bfloat16 <-> float conversions, one definition for the whole engine: the loader converts F32/F16
// checkpoint tensors with it (checkpoint.cpp) and the CPU backend rounds activations with it (the BF16 mode). bf16 is
// the upper half of an IEEE float32, so widening is exact (a 16-bit shift); narrowing rounds to nearest, ties to even
// (torch's .to(torch.bfloat16)), and keeps NaN a (quiet) NaN. Device code rounds with cuda_bf16.h's
// __float2bfloat16_rn instead (cuda/device_util.cuh), which the CUDA emulator provides too (emu/cuda_emu.h).
#pragma once
#include <cstdint>
#include <cstring>

#include "model.h"

namespace rir {

inline float bf16_to_f32(bf16_t b) {
    uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// Round-to-nearest-even to bf16 bits. NaN: keep sign and top payload bits and force the quiet bit so that the
// truncation can never turn a NaN into an infinity.
inline bf16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_t>((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);  // RNE: add half an ulp minus one, plus the lsb of the kept part
    return static_cast<bf16_t>(u >> 16);
}

// r(x) of the BF16 mode: round to the nearest bf16 and back to fp32.
inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

}  // namespace rir
