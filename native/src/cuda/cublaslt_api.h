// cublaslt_api.h: the few cuBLASLt declarations the engine uses, written by hand so that the library builds without
// the cuBLAS headers (the build machine's CUDA toolkit has none) and loads libcublasLt at run time with dlopen
// (cublaslt.cpp). Every value below is copied from cublasLt.h / library_types.h / cublas_api.h (CUDA 12 and 13 agree)
// and checked against the real header wherever one exists: native/tests/cuda/cublaslt_header_check.cpp compiles
// static_asserts over both (benchmarks/gpu-check.sh builds it on the GPU machine, where the nvidia-cublas wheel
// carries cublasLt.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda/cuda_compat.h"  // cudaStream_t (the real runtime's, or the emulator's)

namespace rir {
namespace lt {

// cublas_api.h: cublasStatus_t
enum Status : int {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

// library_types.h: cudaDataType_t (only the two used)
enum DataType : int { CUDA_R_32F = 0, CUDA_R_16BF = 14 };
// cublas_api.h: cublasComputeType_t
enum ComputeType : int { CUBLAS_COMPUTE_32F = 68 };
// cublas_api.h: cublasOperation_t
enum Operation : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
// cublasLt.h: cublasLtMatmulDescAttributes_t (int32_t / uint32_t values)
enum MatmulDescAttribute : int {
    CUBLASLT_MATMUL_DESC_TRANSA = 3,
    CUBLASLT_MATMUL_DESC_TRANSB = 4,
    CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
};
// cublasLt.h: cublasLtEpilogue_t
enum Epilogue : uint32_t { CUBLASLT_EPILOGUE_DEFAULT = 1 };
// cublasLt.h: cublasLtMatmulPreferenceAttributes_t
enum PreferenceAttribute : int { CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1 };

// Opaque handles (pointers to library-owned structs).
typedef struct cublasLtContext *Handle;
typedef struct cublasLtMatmulDescOpaque_t *MatmulDesc;
typedef struct cublasLtMatrixLayoutOpaque_t *MatrixLayout;
typedef struct cublasLtMatmulPreferenceOpaque_t *MatmulPreference;

// cublasLt.h: cublasLtMatmulAlgo_t is 8 x uint64_t; cublasLtMatmulHeuristicResult_t is 96 bytes.
struct MatmulAlgo {
    uint64_t data[8];
};
struct HeuristicResult {
    MatmulAlgo algo;
    size_t workspaceSize;
    int state;  // cublasStatus_t
    float wavesCount;
    int reserved[4];
};
static_assert(sizeof(MatmulAlgo) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");

// Function types, in the order of cublasLt.h. Names in the shared library: "cublasLt" + the part after the prefix.
extern "C" {
typedef int (*PFN_Create)(Handle *handle);
typedef int (*PFN_Destroy)(Handle handle);
typedef size_t (*PFN_GetVersion)(void);
typedef const char *(*PFN_GetStatusString)(int status);
typedef int (*PFN_MatmulDescCreate)(MatmulDesc *desc, int computeType, int scaleType);
typedef int (*PFN_MatmulDescDestroy)(MatmulDesc desc);
typedef int (*PFN_MatmulDescSetAttribute)(MatmulDesc desc, int attr, const void *buf, size_t size);
typedef int (*PFN_MatrixLayoutCreate)(MatrixLayout *layout, int type, uint64_t rows, uint64_t cols, int64_t ld);
typedef int (*PFN_MatrixLayoutDestroy)(MatrixLayout layout);
typedef int (*PFN_MatmulPreferenceCreate)(MatmulPreference *pref);
typedef int (*PFN_MatmulPreferenceDestroy)(MatmulPreference pref);
typedef int (*PFN_MatmulPreferenceSetAttribute)(MatmulPreference pref, int attr, const void *buf, size_t size);
typedef int (*PFN_MatmulAlgoGetHeuristic)(Handle handle, MatmulDesc desc, MatrixLayout a, MatrixLayout b,
                                          MatrixLayout c, MatrixLayout d, MatmulPreference pref, int requested,
                                          HeuristicResult *results, int *returned);
typedef int (*PFN_Matmul)(Handle handle, MatmulDesc desc, const void *alpha, const void *A, MatrixLayout a,
                          const void *B, MatrixLayout b, const void *beta, const void *C, MatrixLayout c, void *D,
                          MatrixLayout d, const MatmulAlgo *algo, void *workspace, size_t workspace_bytes,
                          cudaStream_t stream);
}

}  // namespace lt
}  // namespace rir
