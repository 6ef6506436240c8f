// ptx_emu.h: CPU versions of the warp-level PTX instructions behind native/src/cuda/ptx.cuh (REASONIR_CUDA_EMU).
// mma and ldmatrix are warp collectives: every lane deposits its operands, and when the whole warp has arrived one
// of them computes all 32 lanes' results (emu::detail::warp_collective), so lanes cannot see each other's
// half-updated registers. Fragment layouts: exactly those of ptx.cuh's header comment; they were checked against
// the PTX ISA's "Matrix Fragments for mma.m16n8k16 with floating point type" (.bf16 A: row = groupID for a0,a1,a4,a5
// and groupID+8 for a2,a3,a6,a7; col = 2*threadID_in_group + (i&1), +8 for i >= 4; B: row = 2*threadID_in_group +
// (i&1), +8 for i >= 2, col = groupID; C/D: row = groupID for c0,c1 and groupID+8 for c2,c3, col =
// 2*threadID_in_group + (i&1)) and its ldmatrix section (threads 0-7 / 8-15 / 16-23 / 24-31 give the row addresses
// of matrices 0 / 1 / 2 / 3; .x2 uses threads 0-15; each 8x8 matrix is held as row laneid/4, elements
// 2*(laneid%4) and +1 in one 32-bit register, first element in the low half). Implementation: ptx_emu.cpp.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_emu.h"

namespace emu {

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: D = A*B + C. Each bf16 x bf16 product is exact in fp32; the
// sum starts from C and adds the products for k = 0..15 in order, rounding in fp32 after each addition (tensor
// cores use a different internal order and precision: compare with a tolerance). All 32 lanes must execute it.
void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);

// ldmatrix.sync.aligned.m8n8.{x2,x4}{.trans}.shared.b16. `count` is 2 or 4; `row_addr` is this lane's row address
// (used from lanes 0..8*count-1, 16-byte aligned). All 32 lanes must execute it.
void ldmatrix(uint32_t *r, int count, bool trans, const void *row_addr);

// cp.async.cg.shared.global, 16 bytes: a synchronous copy (so commit/wait are no-ops); zero-fill when !valid, in
// which case gmem is not read. Both addresses must be 16-byte aligned, as the instruction requires.
inline void cp_async_16(void *smem, const void *gmem, bool valid) {
    if (reinterpret_cast<uintptr_t>(smem) % 16 != 0 || (valid && reinterpret_cast<uintptr_t>(gmem) % 16 != 0))
        detail::fatal("cp.async 16 bytes with a misaligned address (smem %p, gmem %p)", smem, gmem);
    if (valid)
        std::memcpy(smem, gmem, 16);
    else
        std::memset(smem, 0, 16);
}

}  // namespace emu
