// ptx.cuh: the warp-level tensor-core and async-copy instructions the kernels use (sm_80+), each behind a small
// function. The real build emits inline PTX; the emulated build (REASONIR_CUDA_EMU) calls native/emu/ptx_emu.h,
// which implements the same fragment layouts as the PTX ISA documents them:
//   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, with g = lane / 4 and t = lane % 4:
//     A (16x16, row-major): a[0] = {A[g][2t], A[g][2t+1]}, a[1] = {A[g+8][2t], A[g+8][2t+1]},
//                           a[2] = {A[g][2t+8], A[g][2t+9]}, a[3] = {A[g+8][2t+8], A[g+8][2t+9]}
//     B (16x8, K x N):      b[0] = {B[2t][g], B[2t+1][g]}, b[1] = {B[2t+8][g], B[2t+9][g]}
//     C/D (16x8, fp32):     c[0] = C[g][2t], c[1] = C[g][2t+1], c[2] = C[g+8][2t], c[3] = C[g+8][2t+1]
//     (low 16 bits of each 32-bit register hold the first of the pair)
//   ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane l gives the address of row l % 8 of matrix l / 8 (16 bytes);
//     r[j] = {M_j[l/4][2(l%4)], M_j[l/4][2(l%4)+1]}; with .trans: r[j] = {M_j[2(l%4)][l/4], M_j[2(l%4)+1][l/4]}.
//   .x2: lanes 0..15 give the addresses of matrices 0 and 1.
//   cp.async.cg.shared.global 16 bytes, zero-filled when !valid; commit_group / wait_group N.
#pragma once
#include <cstdint>

#include "cuda/cuda_compat.h"

#if defined(REASONIR_CUDA_EMU)
#include "ptx_emu.h"  // native/emu/
#endif

namespace rir {
namespace cuda {

#if defined(REASONIR_CUDA_EMU)

__device__ __forceinline__ void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                               const float c[4]) {
    ::emu::mma_16816_bf16(d, a, b, c);
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *row) { ::emu::ldmatrix(r, 4, false, row); }
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *row) { ::emu::ldmatrix(r, 4, true, row); }
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void *row) { ::emu::ldmatrix(r, 2, false, row); }
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void *row) { ::emu::ldmatrix(r, 2, true, row); }
__device__ __forceinline__ void cp_async_16(void *smem, const void *gmem, bool valid) {
    ::emu::cp_async_16(smem, gmem, valid);
}
__device__ __forceinline__ void cp_async_commit() {}
template <int N>
__device__ __forceinline__ void cp_async_wait() {}

#else

__device__ __forceinline__ void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                               const float c[4]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
          "f"(c[3]));
}

__device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_addr(row)));
}
// 16 bytes global -> shared, bypassing L1; src-size 0 writes zeros (rows past the end of a sequence).
__device__ __forceinline__ void cp_async_16(void *smem, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

#endif

}  // namespace cuda
}  // namespace rir
