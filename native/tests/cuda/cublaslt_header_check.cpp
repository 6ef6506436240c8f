// cublaslt_header_check.cpp: compile-time proof that the hand-written declarations of cuda/cublaslt_api.h match the
// real cuBLASLt header. Not built by CMake (the build machine has no cublasLt.h); benchmarks/gpu-check.sh compiles it
// on the GPU machine with -fsyntax-only against the header the nvidia-cublas wheel (or the CUDA toolkit) carries:
//   g++ -std=c++17 -fsyntax-only -I<dir of cublasLt.h> -I/usr/local/cuda/include -Inative/src -Inative/include \
//       native/tests/cuda/cublaslt_header_check.cpp
#include <cublasLt.h>

#include <type_traits>

#include "cuda/cublaslt_api.h"

namespace lt = rir::lt;

static_assert(lt::CUBLAS_STATUS_SUCCESS == CUBLAS_STATUS_SUCCESS, "status");
static_assert(lt::CUBLAS_STATUS_NOT_INITIALIZED == CUBLAS_STATUS_NOT_INITIALIZED, "status");
static_assert(lt::CUBLAS_STATUS_ALLOC_FAILED == CUBLAS_STATUS_ALLOC_FAILED, "status");
static_assert(lt::CUBLAS_STATUS_INVALID_VALUE == CUBLAS_STATUS_INVALID_VALUE, "status");
static_assert(lt::CUBLAS_STATUS_ARCH_MISMATCH == CUBLAS_STATUS_ARCH_MISMATCH, "status");
static_assert(lt::CUBLAS_STATUS_MAPPING_ERROR == CUBLAS_STATUS_MAPPING_ERROR, "status");
static_assert(lt::CUBLAS_STATUS_EXECUTION_FAILED == CUBLAS_STATUS_EXECUTION_FAILED, "status");
static_assert(lt::CUBLAS_STATUS_INTERNAL_ERROR == CUBLAS_STATUS_INTERNAL_ERROR, "status");
static_assert(lt::CUBLAS_STATUS_NOT_SUPPORTED == CUBLAS_STATUS_NOT_SUPPORTED, "status");
static_assert(lt::CUDA_R_32F == CUDA_R_32F && lt::CUDA_R_16BF == CUDA_R_16BF, "cudaDataType_t");
static_assert(lt::CUBLAS_COMPUTE_32F == CUBLAS_COMPUTE_32F, "cublasComputeType_t");
static_assert(lt::CUBLAS_OP_N == CUBLAS_OP_N && lt::CUBLAS_OP_T == CUBLAS_OP_T, "cublasOperation_t");
static_assert(lt::CUBLASLT_MATMUL_DESC_TRANSA == CUBLASLT_MATMUL_DESC_TRANSA, "attribute");
static_assert(lt::CUBLASLT_MATMUL_DESC_TRANSB == CUBLASLT_MATMUL_DESC_TRANSB, "attribute");
static_assert(lt::CUBLASLT_MATMUL_DESC_EPILOGUE == CUBLASLT_MATMUL_DESC_EPILOGUE, "attribute");
static_assert(lt::CUBLASLT_EPILOGUE_DEFAULT == CUBLASLT_EPILOGUE_DEFAULT, "epilogue");
static_assert(lt::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, "preference");
static_assert(sizeof(lt::MatmulAlgo) == sizeof(cublasLtMatmulAlgo_t), "cublasLtMatmulAlgo_t");
static_assert(sizeof(lt::HeuristicResult) == sizeof(cublasLtMatmulHeuristicResult_t), "heuristic result");
static_assert(offsetof(lt::HeuristicResult, workspaceSize) == offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize),
              "heuristic result layout");
static_assert(offsetof(lt::HeuristicResult, state) == offsetof(cublasLtMatmulHeuristicResult_t, state), "layout");
static_assert(sizeof(lt::Handle) == sizeof(cublasLtHandle_t) && sizeof(lt::MatmulDesc) == sizeof(cublasLtMatmulDesc_t),
              "handles are pointers");

// Each function pointer type accepts the real function (argument types equal up to the enums we pass as int).
template <typename F, typename G>
constexpr bool same_arity = std::is_function<F>::value && std::is_function<G>::value;
static_assert(std::is_same<decltype(&cublasLtCreate), cublasStatus_t (*)(cublasLtHandle_t *)>::value, "create");
static_assert(std::is_same<decltype(&cublasLtGetVersion), size_t (*)()>::value, "version");
static_assert(std::is_same<decltype(&cublasLtMatrixLayoutCreate),
                           cublasStatus_t (*)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t)>::value,
              "layout create: (layout*, type, rows, cols, ld)");
static_assert(std::is_same<decltype(&cublasLtMatmulDescCreate),
                           cublasStatus_t (*)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t)>::value,
              "desc create: (desc*, compute, scale type)");
static_assert(std::is_same<decltype(&cublasLtMatmul),
                           cublasStatus_t (*)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                                              cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *,
                                              const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,
                                              const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t)>::value,
              "matmul argument order");
static_assert(std::is_same<decltype(&cublasLtMatmulAlgoGetHeuristic),
                           cublasStatus_t (*)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t[],
                                              int *)>::value,
              "heuristic argument order");

int main() { return 0; }
