// cublaslt.cu: see cublaslt.h. Host code only (a .cu file so that both the real and the emulated build compile it
// with the rest of the backend).
#include "cuda/cublaslt.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda/check.h"
#include "error.h"

namespace rir {
namespace cuda {

namespace {

const char *status_name(int s) {
    switch (s) {
        case lt::CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case lt::CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case lt::CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case lt::CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case lt::CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case lt::CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case lt::CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case lt::CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case lt::CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "cublasStatus_t";
    }
}

struct Loaded {
    LtLibrary lib;
    bool ok = false;
    std::string why;
};

bool bind(void *h, LtLibrary &l, std::string *missing) {
    auto sym = [&](const char *name, auto &fn) {
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
        if (!fn && missing) *missing += std::string(missing->empty() ? "" : ", ") + name;
    };
    sym("cublasLtCreate", l.create);
    sym("cublasLtDestroy", l.destroy);
    sym("cublasLtGetVersion", l.get_version);
    sym("cublasLtMatmulDescCreate", l.desc_create);
    sym("cublasLtMatmulDescDestroy", l.desc_destroy);
    sym("cublasLtMatmulDescSetAttribute", l.desc_set);
    sym("cublasLtMatrixLayoutCreate", l.layout_create);
    sym("cublasLtMatrixLayoutDestroy", l.layout_destroy);
    sym("cublasLtMatmulPreferenceCreate", l.pref_create);
    sym("cublasLtMatmulPreferenceDestroy", l.pref_destroy);
    sym("cublasLtMatmulPreferenceSetAttribute", l.pref_set);
    sym("cublasLtMatmulAlgoGetHeuristic", l.heuristic);
    sym("cublasLtMatmul", l.matmul);
    const bool complete = missing->empty();
    l.status_string = reinterpret_cast<lt::PFN_GetStatusString>(dlsym(h, "cublasLtGetStatusString"));
    return complete;
}

Loaded do_load() {
    Loaded r;
    std::vector<std::string> candidates;
    const char *env = std::getenv("REASONIR_CUBLASLT");
    if (env && *env) {
        candidates.push_back(env);
    } else {
        candidates = {"libcublasLt.so.13", "libcublasLt.so.12", "/usr/local/cuda/lib64/libcublasLt.so.13",
                      "/usr/local/cuda/lib64/libcublasLt.so.12"};
    }
    std::string tried;
    for (const std::string &c : candidates) {
        void *h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            tried += "\n  " + c + ": " + (e ? e : "not found");
            continue;
        }
        std::string missing;
        if (!bind(h, r.lib, &missing)) {
            tried += "\n  " + c + ": lacks " + missing;
            continue;  // keep it loaded: other handles may share it; dlclose of a partial CUDA library is not worth it
        }
        r.lib.path = c;
        r.lib.version = r.lib.get_version();
        r.ok = true;
        return r;
    }
    r.why = "cuBLASLt cannot be loaded (tried:" + tried +
            ")\n  install cuBLAS for CUDA 13 or 12 (the CUDA toolkit, the libcublas package of your distribution, or "
            "the Python wheel nvidia-cublas), or set REASONIR_CUBLASLT=/path/to/libcublasLt.so.13";
    if (env && *env) r.why = "REASONIR_CUBLASLT=" + std::string(env) + " " + r.why;
    return r;
}

}  // namespace

const LtLibrary *load_cublaslt(std::string *why) {
    static std::once_flag once;
    static Loaded loaded;
    std::call_once(once, [] { loaded = do_load(); });
    if (!loaded.ok) {
        if (why) *why = loaded.why;
        return nullptr;
    }
    return &loaded.lib;
}

Gemm::Gemm(const LtLibrary &lib) : lib_(lib) {
    int s = lib_.create(&handle_);
    if (s != lt::CUBLAS_STATUS_SUCCESS) fail(s, "cublasLtCreate");
    cudaError_t e = cudaMalloc(&workspace_, kWorkspaceBytes);
    if (e != cudaSuccess) {
        lib_.destroy(handle_);
        handle_ = nullptr;
        check(e, "cudaMalloc of the " + std::to_string(kWorkspaceBytes >> 20) + " MiB cuBLASLt workspace");
    }
}

Gemm::~Gemm() {
    for (auto &kv : plans_) destroy(kv.second);
    if (workspace_) cudaFree(workspace_);
    if (handle_) lib_.destroy(handle_);
}

void Gemm::fail(int status, const std::string &what) const {
    std::string msg = "cuBLASLt " + what + " failed: " + status_name(status);
    if (lib_.status_string) msg += std::string(" (") + lib_.status_string(status) + ")";
    throw Error(status == lt::CUBLAS_STATUS_ALLOC_FAILED ? RIR_ERR_OUT_OF_MEMORY : RIR_ERR_DEVICE, msg);
}

void Gemm::destroy(Plan &p) {
    if (p.a) lib_.layout_destroy(p.a);
    if (p.b) lib_.layout_destroy(p.b);
    if (p.d) lib_.layout_destroy(p.d);
    if (p.desc) lib_.desc_destroy(p.desc);
    p = Plan{};
}

Gemm::Plan &Gemm::plan(int64_t T, int K, int N) {
    const auto key = std::make_tuple(T, K, N);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    if (plans_.size() >= kMaxPlans) {
        for (auto &kv : plans_) destroy(kv.second);
        plans_.clear();
    }
    Plan p;
    const std::string shape = "[" + std::to_string(T) + " x " + std::to_string(K) + "] x [" + std::to_string(N) +
                              " x " + std::to_string(K) + "]^T";
    auto ok = [&](int s, const char *what) {
        if (s != lt::CUBLAS_STATUS_SUCCESS) {
            destroy(p);
            fail(s, std::string(what) + " for " + shape);
        }
    };
    ok(lib_.desc_create(&p.desc, lt::CUBLAS_COMPUTE_32F, lt::CUDA_R_32F), "cublasLtMatmulDescCreate");
    const int32_t op_t = lt::CUBLAS_OP_T, op_n = lt::CUBLAS_OP_N;
    ok(lib_.desc_set(p.desc, lt::CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t), "set TRANSA");
    ok(lib_.desc_set(p.desc, lt::CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n), "set TRANSB");
    ok(lib_.layout_create(&p.a, lt::CUDA_R_16BF, static_cast<uint64_t>(K), static_cast<uint64_t>(N), K),
       "cublasLtMatrixLayoutCreate(A)");
    ok(lib_.layout_create(&p.b, lt::CUDA_R_16BF, static_cast<uint64_t>(K), static_cast<uint64_t>(T), K),
       "cublasLtMatrixLayoutCreate(B)");
    ok(lib_.layout_create(&p.d, lt::CUDA_R_16BF, static_cast<uint64_t>(N), static_cast<uint64_t>(T), N),
       "cublasLtMatrixLayoutCreate(D)");
    lt::MatmulPreference pref = nullptr;
    ok(lib_.pref_create(&pref), "cublasLtMatmulPreferenceCreate");
    const uint64_t ws = kWorkspaceBytes;
    int s = lib_.pref_set(pref, lt::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    lt::HeuristicResult results[kAlgoCandidates] = {};
    int returned = 0;
    if (s == lt::CUBLAS_STATUS_SUCCESS)
        s = lib_.heuristic(handle_, p.desc, p.a, p.b, p.d, p.d, pref, kAlgoCandidates, results, &returned);
    lib_.pref_destroy(pref);
    ok(s, "cublasLtMatmulAlgoGetHeuristic");
    for (int i = 0; i < std::min(returned, kAlgoCandidates); ++i)
        if (results[i].state == lt::CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= kWorkspaceBytes)
            p.algos.push_back(results[i].algo);
    if (p.algos.empty()) {
        destroy(p);
        throw Error(RIR_ERR_DEVICE, "cuBLASLt has no bf16 algorithm for " + shape + " on this GPU");
    }
    return plans_.emplace(key, p).first->second;
}

void Gemm::nt(const __nv_bfloat16 *X, int64_t T, int K, const __nv_bfloat16 *W, int N, __nv_bfloat16 *Y,
              cudaStream_t stream) {
    if (T <= 0) return;
    Plan &p = plan(T, K, N);
#if defined(REASONIR_CUDA_EMU)
    // On a GPU, cublasLtMatmul on a capturing stream records its kernels into the graph. The emulator's fake cuBLASLt
    // is a separate library that computes when called, so while the stream captures, the call goes through the
    // emulator's stream-ordered host work instead: recorded now, run at every replay in its place among the kernels.
    // A replay looks the plan up again by shape: the plan cache may have been cleared since the capture (kMaxPlans),
    // which a GPU graph does not mind (its kernels no longer need the descriptors). The Gemm must outlive the graphs
    // (the backend destroys its graphs first). Only this build: the real one calls cuBLASLt below, capturing or not.
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess) {
        cudaGetLastError();  // a dead context: the call below fails or the next runtime call reports it
        capture = cudaStreamCaptureStatusNone;
    }
    if (capture != cudaStreamCaptureStatusNone) {
        const cudaError_t e = emu::enqueue_host_work(stream, [this, X, T, K, W, N, Y, stream]() -> cudaError_t {
            try {
                Plan &q = plan(T, K, N);
                const float one = 1.0f, zero = 0.0f;
                const int s = lib_.matmul(handle_, q.desc, &one, W, q.a, X, q.b, &zero, Y, q.d, Y, q.d,
                                          &q.algos[q.chosen], workspace_, kWorkspaceBytes, stream);
                return s == lt::CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
            } catch (const Error &) {
                return cudaErrorUnknown;
            }
        });
        check(e, "recording cublasLtMatmul [" + std::to_string(T) + " x " + std::to_string(K) + "] x [" +
                     std::to_string(N) + " x " + std::to_string(K) + "]^T into a CUDA graph");
        return;
    }
#endif
    const float alpha = 1.0f, beta = 0.0f;
    std::string tried;
    for (;;) {
        const int s = lib_.matmul(handle_, p.desc, &alpha, W, p.a, X, p.b, &beta, Y, p.d, Y, p.d, &p.algos[p.chosen],
                                  workspace_, kWorkspaceBytes, stream);
        if (s == lt::CUBLAS_STATUS_SUCCESS) return;
        tried += std::string(tried.empty() ? "" : ", ") + status_name(s);
        // A status that says this algorithm cannot run here: try the next candidate (and keep it for the shape).
        // Anything else (out of memory, an uninitialized handle, a failed launch on a dead context) is reported.
        const bool algo_at_fault = s == lt::CUBLAS_STATUS_NOT_SUPPORTED || s == lt::CUBLAS_STATUS_INVALID_VALUE ||
                                   s == lt::CUBLAS_STATUS_ARCH_MISMATCH;
        if (!algo_at_fault || p.chosen + 1 >= p.algos.size())
            fail(s, "cublasLtMatmul [" + std::to_string(T) + " x " + std::to_string(K) + "] x [" + std::to_string(N) +
                        " x " + std::to_string(K) + "]^T (" + std::to_string(p.chosen + 1) + " of " +
                        std::to_string(p.algos.size()) + " algorithms tried: " + tried + ")");
        ++p.chosen;
    }
}

}  // namespace cuda
}  // namespace rir
