// cuda_compat.h: the one include for CUDA in the engine. A real build (nvcc for .cu files, g++ with the toolkit's
// include path for host .cpp files) gets the CUDA runtime and bf16 headers. The emulated build (REASONIR_CUDA_EMU,
// tests only: native/emu/) gets a CPU implementation of the same subset, so that every kernel and the whole CUDA
// backend also run, slowly, on a machine without a GPU (see native/emu/README.md).
#pragma once
#if defined(REASONIR_CUDA_EMU)
#include "cuda_emu.h"  // native/emu/
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#endif

// Kernel launch, spelled once for both builds. `kernel` must be a single token (take a pointer to a template
// instance first: `auto *k = attention_kernel<128>;`).
#if defined(REASONIR_CUDA_EMU)
#define RIR_LAUNCH(kernel, grid, block, smem, stream, ...) \
    ::emu::launch(kernel, dim3(grid), dim3(block), static_cast<size_t>(smem), stream, __VA_ARGS__)
// Dynamic shared memory of the running block (the size passed at launch), 16-byte aligned.
#define RIR_DYNAMIC_SMEM(type, name) type *name = reinterpret_cast<type *>(::emu::dynamic_smem())
#else
#define RIR_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define RIR_DYNAMIC_SMEM(type, name)                           \
    extern __shared__ __align__(16) unsigned char rir_smem_[]; \
    type *name = reinterpret_cast<type *>(rir_smem_)
#endif
