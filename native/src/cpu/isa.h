// isa.h: which x86-64 vector instruction set the CPU kernels use. Chosen at run time (no -march flag at build time):
// the best level the CPU and OS support, capped by the environment variable REASONIR_CPU_ISA
// (scalar|avx2|avx512|avx512bf16), which tests and benchmarks use to exercise every path.
#pragma once

namespace rir {
namespace cpu {

enum class Isa {
    Scalar = 0,      // portable C++, any x86-64 (and any other CPU)
    Avx2 = 1,        // AVX2 + FMA, 8 fp32 lanes
    Avx512 = 2,      // AVX-512 F, BW, DQ and VL, 16 fp32 lanes
    Avx512Bf16 = 3,  // AVX-512F + AVX512_BF16 (vdpbf16ps): bf16 dot products, used for the BF16 mode's GEMMs
};

const char *isa_name(Isa isa);

// Highest level this CPU supports.
Isa detect_isa();

// detect_isa() capped by REASONIR_CPU_ISA when set. Throws rir::Error(RIR_ERR_INVALID_ARGUMENT) when the variable
// holds an unknown name. Asking for more than the CPU has gives what the CPU has (it is a cap).
Isa select_isa();

}  // namespace cpu
}  // namespace rir
