// tma.cu: make_tensor_map_2d_bf16 (tma.h). Host code; a .cu file so that both builds compile it with the CUDA
// headers (nvcc in the real build, the emulator's wrapper in the emulated one).
#include "cuda/tma.h"

#include <string>

#include "cuda/check.h"
#include "error.h"
#if defined(REASONIR_CUDA_EMU)
#include "ptx_sm90_emu.h"  // native/emu/: last_tensor_map_error()
#endif

namespace rir {
namespace cuda {

namespace {
#if defined(REASONIR_CUDA_EMU)
typedef PFN_cuTensorMapEncodeTiled_v12000 EncodeTiled;
#else
// cudaTypedefs.h's PFN_cuTensorMapEncodeTiled_v12000, spelled here to keep that header out.
typedef CUresult (*EncodeTiled)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                                CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
#endif

// The driver's encoder, looked up once (the runtime keeps the driver loaded; the pointer stays valid).
EncodeTiled encoder() {
    static EncodeTiled fn = []() -> EncodeTiled {
        void *p = nullptr;
        cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
        // 12000: the ABI version of cuTensorMapEncodeTiled (introduced in CUDA 12.0, unchanged since).
        cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
        if (e != cudaSuccess) {
            cudaGetLastError();
            throw Error(RIR_ERR_DEVICE, "cuda: cudaGetDriverEntryPointByVersion(cuTensorMapEncodeTiled) failed (" +
                                            describe(e) + ")");
        }
        if (q != cudaDriverEntryPointSuccess || !p)
            throw Error(RIR_ERR_DEVICE, std::string("cuda: the driver has no cuTensorMapEncodeTiled (") +
                                            (q == cudaDriverEntryPointVersionNotSufficent ? "driver too old"
                                                                                           : "symbol not found") +
                                            "): TMA needs a CUDA 12+ driver");
        return reinterpret_cast<EncodeTiled>(p);
    }();
    return fn;
}

CUtensorMapSwizzle map_swizzle(sm90::Swizzle sw) {
    switch (sw) {
        case sm90::Swizzle::None: return CU_TENSOR_MAP_SWIZZLE_NONE;
        case sm90::Swizzle::B32: return CU_TENSOR_MAP_SWIZZLE_32B;
        case sm90::Swizzle::B64: return CU_TENSOR_MAP_SWIZZLE_64B;
        case sm90::Swizzle::B128: return CU_TENSOR_MAP_SWIZZLE_128B;
    }
    throw Error(RIR_ERR_DEVICE, "cuda: unknown swizzle mode " + std::to_string(static_cast<unsigned>(sw)));
}
}  // namespace

void make_tensor_map_2d_bf16(CUtensorMap *out, const void *base, uint64_t rows, uint64_t cols,
                             uint64_t row_stride_bytes, uint32_t box_rows, uint32_t box_cols, sm90::Swizzle sw) {
    EncodeTiled encode = encoder();
    // Dimension 0 is the innermost (columns); strides are given for dimensions 1.. only.
    const cuuint64_t dims[2] = {cols, rows};
    const cuuint64_t strides[1] = {row_stride_bytes};
    const cuuint32_t box[2] = {box_cols, box_rows};
    const cuuint32_t elem_strides[2] = {1, 1};
    CUresult r = encode(out, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(base), dims, strides, box,
                        elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, map_swizzle(sw),
                        CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        std::string why = "cuda: cuTensorMapEncodeTiled failed (CUresult " + std::to_string(static_cast<int>(r)) +
                          ") for a bf16 tensor of " + std::to_string(rows) + " x " + std::to_string(cols) +
                          " elements, row stride " + std::to_string(row_stride_bytes) + " bytes, box " +
                          std::to_string(box_rows) + " x " + std::to_string(box_cols) + ", swizzle mode " +
                          std::to_string(static_cast<unsigned>(sw));
#if defined(REASONIR_CUDA_EMU)
        why += std::string(": ") + ::emu::sm90::last_tensor_map_error();
#endif
        throw Error(RIR_ERR_DEVICE, why);
    }
}

}  // namespace cuda
}  // namespace rir
