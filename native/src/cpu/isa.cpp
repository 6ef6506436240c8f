// isa.cpp: run-time instruction set detection (see isa.h).
#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "error.h"

namespace rir {
namespace cpu {

const char *isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return "scalar";
        case Isa::Avx2: return "avx2";
        case Isa::Avx512: return "avx512";
        case Isa::Avx512Bf16: return "avx512bf16";
    }
    return "unknown";
}

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0), as libgcc reads XGETBV.
    __builtin_cpu_init();
    // The AVX-512 kernels use F, BW, DQ and VL (every AVX-512 core since Skylake-SP and Zen 4 has all four).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        if (__builtin_cpu_supports("avx512bf16")) return Isa::Avx512Bf16;
        return Isa::Avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
    return Isa::Scalar;
}

Isa select_isa() {
    Isa best = detect_isa();
    const char *cap = std::getenv("REASONIR_CPU_ISA");
    if (!cap || !*cap) return best;
    Isa want;
    if (!std::strcmp(cap, "scalar")) want = Isa::Scalar;
    else if (!std::strcmp(cap, "avx2")) want = Isa::Avx2;
    else if (!std::strcmp(cap, "avx512")) want = Isa::Avx512;
    else if (!std::strcmp(cap, "avx512bf16")) want = Isa::Avx512Bf16;
    else
        throw Error(RIR_ERR_INVALID_ARGUMENT, std::string("environment variable REASONIR_CPU_ISA='") + cap +
                                                  "' is not one of scalar, avx2, avx512, avx512bf16");
    return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace cpu
}  // namespace rir
