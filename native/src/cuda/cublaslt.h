// cublaslt.h: cuBLASLt loaded at run time (dlopen: no link-time dependency, a clear error when it is missing) and the
// one GEMM shape the forward pass needs, with a per-shape plan cache.
#pragma once
#include <cstdint>
#include <map>
#include <vector>
#include <string>
#include <tuple>

#include "cuda/cublaslt_api.h"
#include "cuda/cuda_compat.h"

namespace rir {
namespace cuda {

// The loaded library: function pointers plus where it came from. Loaded once per process; never unloaded.
struct LtLibrary {
    std::string path;
    size_t version = 0;
    lt::PFN_Create create = nullptr;
    lt::PFN_Destroy destroy = nullptr;
    lt::PFN_GetVersion get_version = nullptr;
    lt::PFN_GetStatusString status_string = nullptr;  // optional (older versions lack it)
    lt::PFN_MatmulDescCreate desc_create = nullptr;
    lt::PFN_MatmulDescDestroy desc_destroy = nullptr;
    lt::PFN_MatmulDescSetAttribute desc_set = nullptr;
    lt::PFN_MatrixLayoutCreate layout_create = nullptr;
    lt::PFN_MatrixLayoutDestroy layout_destroy = nullptr;
    lt::PFN_MatmulPreferenceCreate pref_create = nullptr;
    lt::PFN_MatmulPreferenceDestroy pref_destroy = nullptr;
    lt::PFN_MatmulPreferenceSetAttribute pref_set = nullptr;
    lt::PFN_MatmulAlgoGetHeuristic heuristic = nullptr;
    lt::PFN_Matmul matmul = nullptr;
};

// Search order: $REASONIR_CUBLASLT (a path), libcublasLt.so.13, libcublasLt.so.12 (the loader's search path), then
// /usr/local/cuda/lib64. Returns nullptr and the reason (what was tried, what to install) when none loads.
const LtLibrary *load_cublaslt(std::string *why);

// Y[T, N] = X[T, K] W[N, K]^T: row-major bf16 activations times a PyTorch Linear weight, fp32 accumulation, bf16
// output. In cuBLASLt's column-major terms: D[N, T] = op(A) B with A = W as a K x N matrix (ld K) transposed, B = X as
// K x T (ld K), D as N x T (ld N): the "TN" layout the library is fastest at.
class Gemm {
public:
    // Creates the cuBLASLt handle for the current device and a workspace of kWorkspaceBytes.
    explicit Gemm(const LtLibrary &lib);
    ~Gemm();
    Gemm(const Gemm &) = delete;
    Gemm &operator=(const Gemm &) = delete;

    void nt(const __nv_bfloat16 *X, int64_t T, int K, const __nv_bfloat16 *W, int N, __nv_bfloat16 *Y,
            cudaStream_t stream);

    // 32 MiB: what NVIDIA recommends for Hopper's fastest kernels.
    static constexpr size_t kWorkspaceBytes = size_t(32) << 20;
    // Plans kept before the cache is cleared (batches of many distinct sizes would otherwise grow it without end).
    static constexpr size_t kMaxPlans = 512;

private:
    // Algorithms asked of the heuristic per shape: the first that runs is kept (a choice that fails, e.g.
    // CUBLAS_STATUS_NOT_SUPPORTED on a driver/GPU combination the heuristic misjudges, is not tried again).
    static constexpr int kAlgoCandidates = 8;
    struct Plan {
        lt::MatmulDesc desc = nullptr;
        lt::MatrixLayout a = nullptr, b = nullptr, d = nullptr;
        std::vector<lt::MatmulAlgo> algos;  // the heuristic's usable candidates, best first
        size_t chosen = 0;                  // the first that has not failed
    };
    Plan &plan(int64_t T, int K, int N);
    void destroy(Plan &p);
    void fail(int status, const std::string &what) const;

    const LtLibrary &lib_;
    lt::Handle handle_ = nullptr;
    void *workspace_ = nullptr;
    std::map<std::tuple<int64_t, int, int>, Plan> plans_;
};

}  // namespace cuda
}  // namespace rir
