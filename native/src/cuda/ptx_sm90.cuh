// ptx_sm90.cuh: the Hopper (sm_90a) instructions the sm90 kernels use, each behind a small function in
// rir::cuda::sm90, like ptx.cuh for sm_80. The real build emits inline PTX, valid only when compiling for sm_90a
// (__CUDA_ARCH_FEAT_SM90_ALL); the 80/89 passes of the same .cu get a __trap() body so that the file still compiles
// there (the host dispatcher must never launch an sm90 kernel on another architecture). The emulated build
// (REASONIR_CUDA_EMU) calls native/emu/ptx_sm90_emu.h, which implements the layouts described here and checks the
// synchronization rules (see native/emu/README.md, "Hopper instructions").
//
// Conventions (PTX ISA 8.x, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate Instructions"):
// - A warpgroup is 4 consecutive warps: warpgroup = warp index / 4, threads 128w .. 128w+127. Every wgmma_*,
//   setmaxnreg_* call is executed by all 128 threads of the warpgroup, with the same arguments where the argument is
//   not a register fragment (descriptors, accumulate, N).
// - D fragment (64 x N fp32, "Register Fragments and Shared Memory Matrix Layouts", figure "WGMMA .m64nNk16 register
//   fragment layout for accumulator matrix D"): float d[N/2] per thread; warp w (0..3) of the warpgroup holds rows
//   16w .. 16w+15; g = lane / 4, t = lane % 4; for the n8 tile j (columns 8j .. 8j+7):
//     d[4j+0] = D[16w+g][8j+2t],   d[4j+1] = D[16w+g][8j+2t+1],
//     d[4j+2] = D[16w+g+8][8j+2t], d[4j+3] = D[16w+g+8][8j+2t+1].
// - A from registers (wgmma_rs, figure "WGMMA .m64nNk16 register fragment layout for matrix A"): uint32_t a[4] per
//   thread = the m16n8k16 A fragment (ptx.cuh) of rows 16w .. 16w+15 of the 64 x 16 A tile:
//     a[0] = {A[16w+g][2t], A[16w+g][2t+1]},   a[1] = {A[16w+g+8][2t], A[16w+g+8][2t+1]},
//     a[2] = {A[16w+g][2t+8], A[16w+g][2t+9]}, a[3] = {A[16w+g+8][2t+8], A[16w+g+8][2t+9]}   (low half first).
//   So a D fragment of one wgmma converts to the A fragment of the next (P of softmax(QK^T) feeding P*V): for k-step
//   kk (K columns 16kk .. 16kk+15 of the previous D), a[0] = pack(d[8kk+0], d[8kk+1]), a[1] = pack(d[8kk+2],
//   d[8kk+3]), a[2] = pack(d[8kk+4], d[8kk+5]), a[3] = pack(d[8kk+6], d[8kk+7]).
// - Operands in shared memory are described by a 64-bit matrix descriptor (smem_desc below, PTX ISA "Matrix
//   Descriptor Format"). Canonical layouts for one wgmma's MN x 16 (K) bf16 operand (PTX ISA "Shared Memory Matrix
//   Layout"; the same as CuTe's make_gmma_desc comments in cute/atom/mma_traits_sm90_gmma.hpp, which the emulator's
//   tests were checked against). A "core matrix" is 8 rows x 16 bytes; a swizzle "atom" is 8 rows x S bytes, S = 32,
//   64 or 128 (the swizzle span), and must start at a multiple of 8*S bytes.
//     K-major (A; B with trans_b = 0: rows are M/N, K contiguous):
//       no swizzle: core matrices (8 M/N rows x 8 K); LBO = byte distance between the two core matrices along K
//                   (k 0-7 and 8-15), SBO = between core matrices 8 rows apart along M/N; k-step (+16 K) = +2*LBO.
//       S-byte swizzle: rows of S bytes along K, 8-row atoms; SBO = distance between 8-row groups (8*S when packed);
//                   LBO unused (write 1); the k-step of 16 elements inside a row is start address + 32 bytes (so a
//                   128B row holds 4 k-steps, 64B: 2, 32B: 1).
//     MN-major (B with trans_b = 1, A with TransA = 1: rows are K, M/N contiguous):
//       no swizzle: core matrices (8 K rows x 8 M/N); SBO = distance between core matrices along M/N, LBO = along
//                   K (next 8 K rows); k-step (+16 K rows) = +2*LBO.
//       S-byte swizzle: rows of S bytes along M/N (S/2 elements), one per K; 8-K-row atoms; LBO = distance between
//                   consecutive blocks of S/2 M/N elements, SBO = distance between groups of 8 K rows (8*S when
//                   packed); k-step (+16 K rows) = +2*SBO (2048 bytes with packed 128B atoms).
//   Swizzle (computed by the hardware on the shared-memory address, CuTe's Swizzle<B,4,3>): byte offset o is stored
//   at o ^ (((o >> 7) & m) << 4), m = 7 (128B), 3 (64B), 1 (32B); i.e. inside an atom the 16-byte chunk c of row r
//   is at chunk c ^ r (128B), c ^ (r/2 % 4) (64B), c ^ (r/4 % 2) (32B). A TMA load with the matching
//   CU_TENSOR_MAP_SWIZZLE_* (box inner dimension = S bytes) writes exactly this layout.
// - The dynamic shared memory must be 1024-byte aligned for 128B-swizzled atoms: the emulator's is; in the real
//   build, round the RIR_DYNAMIC_SMEM pointer up (its guaranteed alignment is 16) and ask for 1 KiB more.
// - Emulator constraints (checked): descriptor operands and TMA destinations must lie in RIR_DYNAMIC_SMEM (the
//   emulated "shared address" is the offset in it; mbarriers may be static __shared__); the accumulator array passed
//   to consecutive wgmma calls that chain must be the same array; the accumulators must not be read (they hold NaN)
//   or written (the run stops) between mma_async and the wait_group that retires it.
#pragma once
#include <cstdint>

#include "cuda/cuda_compat.h"
#include "cuda/tma.h"

#if defined(REASONIR_CUDA_EMU)
#include "ptx_sm90_emu.h"  // native/emu/
#endif

namespace rir {
namespace cuda {
namespace sm90 {

// Address of a shared-memory pointer as the descriptors and the sm90 instructions use it: the 32-bit shared-window
// address in the real build; the offset inside the running block's dynamic shared memory in the emulator (which
// therefore accepts only pointers into RIR_DYNAMIC_SMEM for descriptors and TMA destinations).
__device__ __forceinline__ uint32_t smem_u32(const void *p) {
#if defined(REASONIR_CUDA_EMU)
    return ::emu::sm90::smem_offset(p);
#else
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

// Shared-memory matrix descriptor (PTX ISA "Matrix Descriptor Format", sm_90): start address >> 4 in bits 0-13,
// leading-dimension byte offset >> 4 in 16-29, stride-dimension byte offset >> 4 in 32-45, base offset in 49-51
// (always 0 here: atoms start at addresses aligned to their repeating pattern), swizzle mode in 62-63. `smem` must be
// 16-byte aligned; lbo/sbo are byte counts (multiples of 16; see the header comment for their meaning per layout).
__device__ __forceinline__ uint64_t smem_desc(const void *smem, uint32_t lbo_bytes, uint32_t sbo_bytes, Swizzle sw) {
    const uint32_t a = smem_u32(smem);
    return static_cast<uint64_t>((a & 0x3ffffu) >> 4) | (static_cast<uint64_t>((lbo_bytes & 0x3ffffu) >> 4) << 16) |
           (static_cast<uint64_t>((sbo_bytes & 0x3ffffu) >> 4) << 32) |
           (static_cast<uint64_t>(static_cast<uint32_t>(sw) & 3u) << 62);
}

#if defined(REASONIR_CUDA_EMU)

__device__ __forceinline__ void wgmma_fence() { ::emu::sm90::wgmma_fence(); }
__device__ __forceinline__ void wgmma_commit_group() { ::emu::sm90::wgmma_commit_group(); }
template <int N>
__device__ __forceinline__ void wgmma_wait_group() {
    static_assert(N >= 0 && N <= 7, "wgmma.wait_group N: 0..7");
    ::emu::sm90::wgmma_wait_group(N);
}
template <int N, int TransB, int TransA = 0>
__device__ __forceinline__ void wgmma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
    static_assert(N >= 8 && N <= 256 && N % 8 == 0, "wgmma m64nNk16: N is a multiple of 8 up to 256");
    static_assert((TransB == 0 || TransB == 1) && (TransA == 0 || TransA == 1), "trans flags are 0 or 1");
    ::emu::sm90::wgmma(N, d, nullptr, desc_a, desc_b, accumulate, TransA, TransB);
}
template <int N, int TransB>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b, bool accumulate) {
    static_assert(N >= 8 && N <= 256 && N % 8 == 0, "wgmma m64nNk16: N is a multiple of 8 up to 256");
    static_assert(TransB == 0 || TransB == 1, "trans flags are 0 or 1");
    ::emu::sm90::wgmma(N, d, a, 0, desc_b, accumulate, 0, TransB);
}
template <int R>
__device__ __forceinline__ void warpgroup_fence_operand(float (&)[R]) {}
__device__ __forceinline__ void fence_proxy_async() {}
__device__ __forceinline__ void mbarrier_init(uint64_t *bar, uint32_t arrive_count) {
    ::emu::sm90::mbarrier_init(bar, arrive_count);
}
__device__ __forceinline__ void fence_barrier_init() {}
__device__ __forceinline__ void mbarrier_arrive(uint64_t *bar) { ::emu::sm90::mbarrier_arrive(bar, 0); }
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t *bar, uint32_t tx_bytes) {
    ::emu::sm90::mbarrier_arrive(bar, tx_bytes);
}
__device__ __forceinline__ bool mbarrier_try_wait(uint64_t *bar, uint32_t phase_parity) {
    return ::emu::sm90::mbarrier_wait(bar, phase_parity, true);
}
__device__ __forceinline__ void mbarrier_wait(uint64_t *bar, uint32_t phase_parity) {
    ::emu::sm90::mbarrier_wait(bar, phase_parity, false);
}
__device__ __forceinline__ void tma_load_2d(void *smem_dst, const CUtensorMap *map, int32_t c0, int32_t c1,
                                            uint64_t *bar) {
    ::emu::sm90::tma_load_2d(smem_dst, map, c0, c1, bar);
}
__device__ __forceinline__ void named_barrier_sync(int id, int nthreads) {
    ::emu::sm90::named_barrier(id, nthreads, true);
}
__device__ __forceinline__ void named_barrier_arrive(int id, int nthreads) {
    ::emu::sm90::named_barrier(id, nthreads, false);
}
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
    static_assert(N >= 24 && N <= 256 && N % 8 == 0, "setmaxnreg: 24 <= N <= 256, N % 8 == 0");
    ::emu::sm90::setmaxnreg(N, true);
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
    static_assert(N >= 24 && N <= 256 && N % 8 == 0, "setmaxnreg: 24 <= N <= 256, N % 8 == 0");
    ::emu::sm90::setmaxnreg(N, false);
}
__device__ __forceinline__ bool elect_one() { return ::emu::sm90::elect_one(); }

#else  // real build

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RIR_SM90_ASM(...) __VA_ARGS__
#else
// Not compiling for sm_90a (the 80/89 passes, or the host pass): the body traps. The host dispatcher only launches
// sm90 kernels on sm_90 devices, whose code comes from the sm_90a pass.
#define RIR_SM90_ASM(...) __trap()
#endif

namespace detail {
#define RIR_WG_D8(i)                                                                                               \
    "+f"(d[(i) + 0]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), \
        "+f"(d[(i) + 6]), "+f"(d[(i) + 7])
// One specialization per N: the instruction names N, and its accumulator list has N/2 registers. Operand order
// (PTX ISA wgmma.mma_async): d, a-desc | {a0..a3}, b-desc, scale-d (predicate: 0 = D is not read), imm-scale-a,
// imm-scale-b, [imm-trans-a,] imm-trans-b.
template <int N, int TransB, int TransA>
struct WgmmaAsm {
    static_assert(N == 16 || N == 32 || N == 64 || N == 128 || N == 256,
                  "real build: wgmma N in {16, 32, 64, 128, 256} (add a specialization for another N)");
};
template <int TransB, int TransA>
struct WgmmaAsm<16, TransB, TransA> {
    __device__ static void ss(float (&d)[8], uint64_t da, uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %10, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7"
            "}, %8, %9, p, 1, 1, %12, %11;\n}\n"
            : RIR_WG_D8(0)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TransB), "n"(TransA)));
    }
    __device__ static void rs(float (&d)[8], const uint32_t (&a)[4], uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %13, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7"
            "}, {%8, %9, %10, %11}, %12, p, 1, 1, %14;\n}\n"
            : RIR_WG_D8(0)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TransB)));
    }
};
template <int TransB, int TransA>
struct WgmmaAsm<32, TransB, TransA> {
    __device__ static void ss(float (&d)[16], uint64_t da, uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
            "}, %16, %17, p, 1, 1, %20, %19;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TransB), "n"(TransA)));
    }
    __device__ static void rs(float (&d)[16], const uint32_t (&a)[4], uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
            "}, {%16, %17, %18, %19}, %20, p, 1, 1, %22;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TransB)));
    }
};
template <int TransB, int TransA>
struct WgmmaAsm<64, TransB, TransA> {
    __device__ static void ss(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
            "}, %32, %33, p, 1, 1, %36, %35;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TransB), "n"(TransA)));
    }
    __device__ static void rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
            "}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TransB)));
    }
};
template <int TransB, int TransA>
struct WgmmaAsm<128, TransB, TransA> {
    __device__ static void ss(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
            "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
            "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
            "}, %64, %65, p, 1, 1, %68, %67;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24), RIR_WG_D8(32), RIR_WG_D8(40),
              RIR_WG_D8(48), RIR_WG_D8(56)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TransB), "n"(TransA)));
    }
    __device__ static void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
            "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
            "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
            "}, {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24), RIR_WG_D8(32), RIR_WG_D8(40),
              RIR_WG_D8(48), RIR_WG_D8(56)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TransB)));
    }
};
template <int TransB, int TransA>
struct WgmmaAsm<256, TransB, TransA> {
    __device__ static void ss(float (&d)[128], uint64_t da, uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
            "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
            "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
            "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
            "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
            "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
            "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
            "}, %128, %129, p, 1, 1, %132, %131;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24), RIR_WG_D8(32), RIR_WG_D8(40),
              RIR_WG_D8(48), RIR_WG_D8(56), RIR_WG_D8(64), RIR_WG_D8(72), RIR_WG_D8(80), RIR_WG_D8(88),
              RIR_WG_D8(96), RIR_WG_D8(104), RIR_WG_D8(112), RIR_WG_D8(120)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TransB), "n"(TransA)));
    }
    __device__ static void rs(float (&d)[128], const uint32_t (&a)[4], uint64_t db, int scale_d) {
        RIR_SM90_ASM(asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
            "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
            "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
            "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
            "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
            "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
            "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
            "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
            "}, {%128, %129, %130, %131}, %132, p, 1, 1, %134;\n}\n"
            : RIR_WG_D8(0), RIR_WG_D8(8), RIR_WG_D8(16), RIR_WG_D8(24), RIR_WG_D8(32), RIR_WG_D8(40),
              RIR_WG_D8(48), RIR_WG_D8(56), RIR_WG_D8(64), RIR_WG_D8(72), RIR_WG_D8(80), RIR_WG_D8(88),
              RIR_WG_D8(96), RIR_WG_D8(104), RIR_WG_D8(112), RIR_WG_D8(120)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TransB)));
    }
};
#undef RIR_WG_D8
}  // namespace detail

__device__ __forceinline__ void wgmma_fence() {
    RIR_SM90_ASM(asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"));
}
__device__ __forceinline__ void wgmma_commit_group() {
    RIR_SM90_ASM(asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"));
}
template <int N>
__device__ __forceinline__ void wgmma_wait_group() {
    static_assert(N >= 0 && N <= 7, "wgmma.wait_group N: 0..7");
    RIR_SM90_ASM(asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"));
}
// D = A*B + (accumulate ? D : 0), A from shared memory (desc_a: K-major 64 x 16, or MN-major with TransA = 1).
template <int N, int TransB, int TransA = 0>
__device__ __forceinline__ void wgmma_ss(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
    detail::WgmmaAsm<N, TransB, TransA>::ss(d, desc_a, desc_b, accumulate ? 1 : 0);
}
// D = A*B + (accumulate ? D : 0), A from registers (the layout in the header comment).
template <int N, int TransB>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b, bool accumulate) {
    detail::WgmmaAsm<N, TransB, 0>::rs(d, a, desc_b, accumulate ? 1 : 0);
}
// Keeps the compiler from moving reads/writes of the accumulators across a wgmma that is still in flight (the asm
// statements above only name them at issue): call it on d before wgmma_fence/after wgmma_wait_group.
template <int R>
__device__ __forceinline__ void warpgroup_fence_operand(float (&d)[R]) {
#pragma unroll
    for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// Orders this thread's generic-proxy shared-memory writes before later async-proxy reads (wgmma operands written by
// ordinary stores, TMA stores): fence.proxy.async.shared::cta.
__device__ __forceinline__ void fence_proxy_async() {
    RIR_SM90_ASM(asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"));
}

// mbarrier in shared memory (8 bytes, 8-byte aligned). Phases: the barrier completes a phase when `arrive_count`
// arrivals have happened and the transaction count (bytes announced by arrive_expect_tx minus bytes delivered by TMA)
// is back to 0; the phase parity then flips. try_wait/wait(parity p) return once the phase of parity p has completed
// (start with p = 0, flip after each completed wait).
__device__ __forceinline__ void mbarrier_init(uint64_t *bar, uint32_t arrive_count) {
    RIR_SM90_ASM(asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(arrive_count)
                              : "memory"));
}
// After the inits, before any other thread (or the TMA unit) uses the barriers; then __syncthreads().
__device__ __forceinline__ void fence_barrier_init() {
    RIR_SM90_ASM(asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"));
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t *bar) {
    RIR_SM90_ASM(asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory"));
}
// Announces tx_bytes of TMA transfers for the current phase, then arrives (one of the arrive_count arrivals).
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t *bar, uint32_t tx_bytes) {
    RIR_SM90_ASM(asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)),
                              "r"(tx_bytes)
                              : "memory"));
}
// true: the phase of parity `phase_parity` has completed. May suspend the thread for a while before answering false.
__device__ __forceinline__ bool mbarrier_try_wait(uint64_t *bar, uint32_t phase_parity) {
    uint32_t done = 0;
    RIR_SM90_ASM(asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                              "selp.u32 %0, 1, 0, p;\n}\n"
                              : "=r"(done)
                              : "r"(smem_u32(bar)), "r"(phase_parity)
                              : "memory"));
    return done != 0;
}
__device__ __forceinline__ void mbarrier_wait(uint64_t *bar, uint32_t phase_parity) {
    while (!mbarrier_try_wait(bar, phase_parity)) {
    }
}

// TMA: 2D tile load global -> shared (cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes):
// the box of the map at column c0, row c1 (element coordinates, may be negative or past the end: those elements are
// zero) lands at smem_dst in the map's swizzled layout, and its byte count (box_rows * box_cols * 2, zeros included)
// is delivered to `bar` as transaction bytes. smem_dst: 128-byte aligned (1024 for 128B swizzle). One thread issues
// it, after (or with) the mbarrier_arrive_expect_tx that announces the bytes.
__device__ __forceinline__ void tma_load_2d(void *smem_dst, const CUtensorMap *map, int32_t c0, int32_t c1,
                                            uint64_t *bar) {
    RIR_SM90_ASM(asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], "
                              "[%1, {%2, %3}], [%4];\n" ::"r"(smem_u32(smem_dst)),
                              "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_u32(bar))
                              : "memory"));
}

// Named barriers: bar.sync / bar.arrive id (1..15; 0 is __syncthreads), nthreads (a multiple of 32: every thread of
// each taking-part warp executes it). sync waits until nthreads threads have arrived (by sync or arrive); arrive does
// not wait.
__device__ __forceinline__ void named_barrier_sync(int id, int nthreads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(nthreads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int nthreads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(nthreads) : "memory");
}

// setmaxnreg.{inc,dec}.sync.aligned.u32 N: all 128 threads of the warpgroup; 24 <= N <= 256, N % 8 == 0.
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
    static_assert(N >= 24 && N <= 256 && N % 8 == 0, "setmaxnreg: 24 <= N <= 256, N % 8 == 0");
    RIR_SM90_ASM(asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N)));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
    static_assert(N >= 24 && N <= 256 && N % 8 == 0, "setmaxnreg: 24 <= N <= 256, N % 8 == 0");
    RIR_SM90_ASM(asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N)));
}

// elect.sync with a full mask: true in exactly one lane of the (converged, complete) warp.
__device__ __forceinline__ bool elect_one() {
    uint32_t pred = 0;
    RIR_SM90_ASM(asm volatile("{\n.reg .b32 r;\n.reg .pred p;\nelect.sync r|p, 0xffffffff;\nselp.u32 %0, 1, 0, p;\n}\n"
                              : "=r"(pred)));
    return pred != 0;
}

#undef RIR_SM90_ASM
#endif  // REASONIR_CUDA_EMU

}  // namespace sm90
}  // namespace cuda
}  // namespace rir
