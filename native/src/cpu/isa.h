// isa.h: which x86-64 vector instruction set the CPU kernels use. Chosen at run time (no -march flag at build time):
// the best level the CPU and OS support, capped by the environment variable REASONIR_CPU_ISA
// (scalar|avx2|avx512|avx512bf16|amx), which tests and benchmarks use to exercise every path.
#pragma once

namespace rir {
namespace cpu {

enum class Isa {
    Scalar = 0,      // portable C++, any x86-64 (and any other CPU)
    Avx2 = 1,        // AVX2 + FMA, 8 fp32 lanes
    Avx512 = 2,      // AVX-512 F, BW, DQ and VL, 16 fp32 lanes
    Avx512Bf16 = 3,  // + AVX512_BF16 (vdpbf16ps): bf16 dot products for the BF16 mode's GEMMs and attention
    Amx = 4,         // + AMX-BF16 tiles (Intel Sapphire Rapids and later): the BF16 mode's GEMMs on the tile unit
};

const char *isa_name(Isa isa);

// Highest level this CPU and OS support (AMX also needs the kernel's permission to use the tile registers, asked
// for once per process).
Isa detect_isa();

// The level the engine uses: detect_isa(), except where vdpbf16ps is slower than fp32 FMAs (Intel CPUs without a
// usable AMX: there the BF16 mode runs on the fp32 kernels, Avx512); capped by REASONIR_CPU_ISA when set. Throws
// rir::Error(RIR_ERR_INVALID_ARGUMENT) when the variable holds an unknown name. Asking for more than the CPU has gives
// what the CPU has (it is a cap); asking for a level explicitly gives that level even where it is not the fastest.
Isa select_isa();

// Whether vdpbf16ps does more work per cycle than an fp32 FMA: true on AMD (Zen 4 and Zen 5 issue it at the FMA's rate,
// two bf16 products per fp32 lane), false on Intel (Cooper Lake, Sapphire Rapids and later issue it at half the
// FMA's rate, so its FLOP/s equal the FMA's at best; measured on Sapphire Rapids by bench_gemm's dpbf16_peak).
bool dpbf16_is_fast();

}  // namespace cpu
}  // namespace rir
