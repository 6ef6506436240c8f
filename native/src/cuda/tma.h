// tma.h: host side of the Hopper (sm_90a) tensor memory accelerator: building a 2D bf16 tensor map (CUtensorMap)
// for cp.async.bulk.tensor (ptx_sm90.cuh's tma_load_2d). The map is encoded by the driver's cuTensorMapEncodeTiled,
// reached through cudaGetDriverEntryPointByVersion so that nothing links against libcuda (the runtime is static and
// the driver is found at run time). In the emulated build (REASONIR_CUDA_EMU) the same call reaches the emulator's
// encoder (native/emu/tma_emu.cpp), which validates the parameters like the driver and stores them in the map's 128
// bytes. Host code only: include it from .cu files (tma.cu implements it; the plain .cpp sources of native/src/cuda
// are compiled without the CUDA headers).
#pragma once
#include <cstdint>

#include "cuda/cuda_compat.h"
#if !defined(REASONIR_CUDA_EMU)
#include <cuda.h>  // CUtensorMap and the cuTensorMapEncodeTiled types only: libcuda is not linked
#endif

namespace rir {
namespace cuda {
namespace sm90 {
// Shared-memory swizzle mode. The values are those of the wgmma matrix descriptor's bits 62-63 (PTX ISA, "Matrix
// Descriptor Format" for sm_90: 0 = no swizzle ("interleave"), 1 = 128-byte, 2 = 64-byte, 3 = 32-byte swizzle), not
// those of CUtensorMapSwizzle (make_tensor_map_2d_bf16 translates).
enum class Swizzle : uint32_t { None = 0, B128 = 1, B64 = 2, B32 = 3 };
}  // namespace sm90

// A 2D bf16 tensor map for TMA: `rows` x `cols` elements starting at `base` (device memory, 16-byte aligned), row
// stride `row_stride_bytes` (a multiple of 16), box `box_rows` x `box_cols` elements (each 1..256; with a swizzle,
// box_cols * 2 bytes must not exceed the swizzle span: 32, 64 or 128 bytes; without one it must be a multiple of 16
// bytes). Elements outside the tensor read as zero. Dimension 0 of the map is the column (innermost), dimension 1 the
// row: tma_load_2d(dst, map, c0 = column, c1 = row, bar). Throws rir::Error(RIR_ERR_DEVICE, ...) naming what failed
// (the driver entry point cannot be found, or the driver refuses the parameters).
void make_tensor_map_2d_bf16(CUtensorMap *out, const void *base, uint64_t rows, uint64_t cols,
                             uint64_t row_stride_bytes, uint32_t box_rows, uint32_t box_cols, sm90::Swizzle sw);

}  // namespace cuda
}  // namespace rir
