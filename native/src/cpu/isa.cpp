// isa.cpp: run-time instruction set detection (see isa.h).
#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "error.h"

namespace rir {
namespace cpu {

const char *isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return "scalar";
        case Isa::Avx2: return "avx2";
        case Isa::Avx512: return "avx512";
        case Isa::Avx512Bf16: return "avx512bf16";
        case Isa::Amx: return "amx";
    }
    return "unknown";
}

namespace {

#if defined(__x86_64__)
// AMX tiles hold 8 KiB of state that Linux (5.16 and later) only saves for a process that asked for it:
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Without that permission the first tile instruction faults.
// The request is idempotent and per process; a kernel without it (or a hypervisor hiding AMX) answers an error, and
// the engine then stays on AVX-512.
bool amx_permitted() {
#if defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023;  // arch/x86/include/uapi/asm/prctl.h
    constexpr long kXfeatureXtiledata = 18;     // the AMX tile data state component
    static const bool ok = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
    return ok;
#else
    return false;
#endif
}

// AMX-TILE and AMX-BF16: CPUID leaf 7, sub-leaf 0, EDX bits 24 and 22 (read directly: not every compiler's
// __builtin_cpu_supports knows the AMX names).
bool amx_bf16_in_cpuid() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (d & (1u << 24)) && (d & (1u << 22));
}
#endif

}  // namespace

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0), as libgcc reads XGETBV.
    __builtin_cpu_init();
    // The AVX-512 kernels use F, BW, DQ and VL (every AVX-512 core since Skylake-SP and Zen 4 has all four).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        if (__builtin_cpu_supports("avx512bf16")) {
#if defined(__x86_64__)
            if (amx_bf16_in_cpuid() && amx_permitted())
                return Isa::Amx;
#endif
            return Isa::Avx512Bf16;
        }
        return Isa::Avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
    return Isa::Scalar;
}

bool dpbf16_is_fast() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("amd");
#else
    return false;
#endif
}

Isa select_isa() {
    const Isa best = detect_isa();
    const char *cap = std::getenv("REASONIR_CPU_ISA");
    if (!cap || !*cap) return best == Isa::Avx512Bf16 && !dpbf16_is_fast() ? Isa::Avx512 : best;
    Isa want;
    if (!std::strcmp(cap, "scalar")) want = Isa::Scalar;
    else if (!std::strcmp(cap, "avx2")) want = Isa::Avx2;
    else if (!std::strcmp(cap, "avx512")) want = Isa::Avx512;
    else if (!std::strcmp(cap, "avx512bf16")) want = Isa::Avx512Bf16;
    else if (!std::strcmp(cap, "amx")) want = Isa::Amx;
    else
        throw Error(RIR_ERR_INVALID_ARGUMENT, std::string("environment variable REASONIR_CPU_ISA='") + cap +
                                                  "' is not one of scalar, avx2, avx512, avx512bf16, amx");
    return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace cpu
}  // namespace rir
