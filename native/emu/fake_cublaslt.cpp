// fake_cublaslt.cpp -> libfake_cublaslt.so: the subset of cuBLASLt that native/src/cuda/cublaslt_api.h declares,
// computed on the CPU, for the emulated CUDA build (the backend dlopens it in place of libcublasLt). It follows the
// real library's contract, not its numerics:
//   - matrices are column-major (rows, cols, ld); D = alpha * op(A) * op(B) + beta * C, op per TRANSA / TRANSB;
//   - A/B are both CUDA_R_16BF or both CUDA_R_32F, C and D have one type (bf16 or fp32; fp32 when A/B are fp32),
//     compute CUBLAS_COMPUTE_32F with fp32 scale (alpha, beta: host pointers to float);
//   - every output element is an fp32 sum over k in order 0..k-1, then alpha/beta, then rounded to bf16 (RNE) when
//     D is bf16 (the real library's summation order differs: compare with a tolerance);
//   - shapes are validated (op(A) is m x k, op(B) k x n, C and D m x n, ld >= rows): CUBLAS_STATUS_INVALID_VALUE;
//     unsupported types, compute types or epilogues: CUBLAS_STATUS_NOT_SUPPORTED.
// Test knob: environment FAKE_CUBLASLT_FAIL=matmul makes cublasLtMatmul return CUBLAS_STATUS_EXECUTION_FAILED
// (FAKE_CUBLASLT_FAIL=heuristic: the heuristic finds no algorithm; =create: cublasLtCreate fails; =algo0: matmul
// with the heuristic's first algorithm returns CUBLAS_STATUS_NOT_SUPPORTED, the others run; =allalgos: every
// algorithm returns CUBLAS_STATUS_NOT_SUPPORTED), read per call. The heuristic offers up to kFakeAlgos algorithms,
// numbered in algo.data[1]; fakeCublasLtMatmulCalls(i) counts the matmul calls made with algorithm i.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "cuda/cublaslt_api.h"

// The opaque structs behind the handles (cublaslt_api.h's typedefs declare them in namespace rir::lt).
namespace rir {
namespace lt {
struct cublasLtContext {
    uint32_t magic;
};
struct cublasLtMatmulDescOpaque_t {
    int compute, scale;
    int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
    uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
};
struct cublasLtMatrixLayoutOpaque_t {
    int type;
    uint64_t rows, cols;
    int64_t ld;
};
struct cublasLtMatmulPreferenceOpaque_t {
    uint64_t max_workspace = 0;
};
}  // namespace lt
}  // namespace rir

using namespace rir::lt;

namespace {

constexpr uint32_t kMagic = 0x4c74656d;  // "Ltem"
std::atomic<long> g_live{0};             // handles and descriptors not yet destroyed (leak tests)
constexpr int kFakeAlgos = 3;            // algorithms the heuristic offers (all compute the same thing)
std::atomic<long> g_calls[kFakeAlgos];   // matmul calls per algorithm

bool fail_requested(const char *what) {
    const char *v = std::getenv("FAKE_CUBLASLT_FAIL");
    return v && std::strcmp(v, what) == 0;
}

float bf16_to_f32(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN -> canonical NaN, as the CUDA conversion
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

struct Problem {
    uint64_t m, n, k;
};

// The checks the real library makes before choosing a kernel.
int validate(const cublasLtMatmulDescOpaque_t *desc, const cublasLtMatrixLayoutOpaque_t *a,
             const cublasLtMatrixLayoutOpaque_t *b, const cublasLtMatrixLayoutOpaque_t *c,
             const cublasLtMatrixLayoutOpaque_t *d, Problem *p) {
    if (!desc || !a || !b || !c || !d) return CUBLAS_STATUS_INVALID_VALUE;
    for (const cublasLtMatrixLayoutOpaque_t *l : {a, b, c, d})
        if (l->ld < 1 || static_cast<uint64_t>(l->ld) < l->rows) return CUBLAS_STATUS_INVALID_VALUE;
    uint64_t m = d->rows, n = d->cols;
    uint64_t am = desc->transa == CUBLAS_OP_N ? a->rows : a->cols;
    uint64_t ak = desc->transa == CUBLAS_OP_N ? a->cols : a->rows;
    uint64_t bk = desc->transb == CUBLAS_OP_N ? b->rows : b->cols;
    uint64_t bn = desc->transb == CUBLAS_OP_N ? b->cols : b->rows;
    if (am != m || bn != n || ak != bk || c->rows != m || c->cols != n) return CUBLAS_STATUS_INVALID_VALUE;
    if (desc->compute != CUBLAS_COMPUTE_32F || desc->scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (desc->epilogue != CUBLASLT_EPILOGUE_DEFAULT) return CUBLAS_STATUS_NOT_SUPPORTED;
    auto known = [](int t) { return t == CUDA_R_16BF || t == CUDA_R_32F; };
    if (!known(a->type) || !known(b->type) || !known(c->type) || !known(d->type)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (a->type != b->type || c->type != d->type) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (a->type == CUDA_R_32F && d->type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    *p = Problem{m, n, ak};
    return CUBLAS_STATUS_SUCCESS;
}

// op(X) as a dense fp32 column-major (rows x cols) matrix: makes the product loop one contiguous pattern for every
// transpose combination.
std::vector<float> dense_op(const void *x, const cublasLtMatrixLayoutOpaque_t *l, bool trans, uint64_t rows,
                            uint64_t cols) {
    std::vector<float> out(rows * cols);
    for (uint64_t j = 0; j < cols; ++j)
        for (uint64_t i = 0; i < rows; ++i) {
            // element (i, j) of op(X) is X(i, j), or X(j, i) when transposed; X(r, c) sits at r + c * ld
            uint64_t r = trans ? j : i, c = trans ? i : j;
            uint64_t off = r + c * static_cast<uint64_t>(l->ld);
            out[i + j * rows] = l->type == CUDA_R_16BF ? bf16_to_f32(static_cast<const uint16_t *>(x)[off])
                                                       : static_cast<const float *>(x)[off];
        }
    return out;
}

}  // namespace

extern "C" {

int cublasLtCreate(Handle *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    if (fail_requested("create")) return CUBLAS_STATUS_NOT_INITIALIZED;
    *handle = new cublasLtContext{kMagic};
    ++g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtDestroy(Handle handle) {
    if (!handle || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->magic = 0;
    delete handle;
    --g_live;
    return CUBLAS_STATUS_SUCCESS;
}

size_t cublasLtGetVersion(void) { return 130000; }

const char *cublasLtGetStatusString(int status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

int cublasLtMatmulDescCreate(MatmulDesc *desc, int computeType, int scaleType) {
    if (!desc) return CUBLAS_STATUS_INVALID_VALUE;
    *desc = new cublasLtMatmulDescOpaque_t{computeType, scaleType};
    ++g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulDescDestroy(MatmulDesc desc) {
    if (!desc) return CUBLAS_STATUS_INVALID_VALUE;
    delete desc;
    --g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulDescSetAttribute(MatmulDesc desc, int attr, const void *buf, size_t size) {
    if (!desc || !buf) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
        case CUBLASLT_MATMUL_DESC_TRANSA:
        case CUBLASLT_MATMUL_DESC_TRANSB: {
            if (size != sizeof(int32_t)) return CUBLAS_STATUS_INVALID_VALUE;
            int32_t v;
            std::memcpy(&v, buf, sizeof(v));
            if (v != CUBLAS_OP_N && v != CUBLAS_OP_T) return CUBLAS_STATUS_INVALID_VALUE;
            (attr == CUBLASLT_MATMUL_DESC_TRANSA ? desc->transa : desc->transb) = v;
            return CUBLAS_STATUS_SUCCESS;
        }
        case CUBLASLT_MATMUL_DESC_EPILOGUE:
            if (size != sizeof(uint32_t)) return CUBLAS_STATUS_INVALID_VALUE;
            std::memcpy(&desc->epilogue, buf, sizeof(uint32_t));
            return CUBLAS_STATUS_SUCCESS;
        default:
            return CUBLAS_STATUS_NOT_SUPPORTED;  // exists in the real library, not emulated here
    }
}

int cublasLtMatrixLayoutCreate(MatrixLayout *layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (!layout) return CUBLAS_STATUS_INVALID_VALUE;
    *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
    ++g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatrixLayoutDestroy(MatrixLayout layout) {
    if (!layout) return CUBLAS_STATUS_INVALID_VALUE;
    delete layout;
    --g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulPreferenceCreate(MatmulPreference *pref) {
    if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
    *pref = new cublasLtMatmulPreferenceOpaque_t();
    ++g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulPreferenceDestroy(MatmulPreference pref) {
    if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
    delete pref;
    --g_live;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulPreferenceSetAttribute(MatmulPreference pref, int attr, const void *buf, size_t size) {
    if (!pref || !buf) return CUBLAS_STATUS_INVALID_VALUE;
    if (attr != CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (size != sizeof(uint64_t)) return CUBLAS_STATUS_INVALID_VALUE;
    std::memcpy(&pref->max_workspace, buf, sizeof(uint64_t));
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmulAlgoGetHeuristic(Handle handle, MatmulDesc desc, MatrixLayout a, MatrixLayout b, MatrixLayout c,
                                   MatrixLayout d, MatmulPreference pref, int requested, HeuristicResult *results,
                                   int *returned) {
    if (!handle || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!pref || !results || !returned || requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
    *returned = 0;
    Problem p;
    if (int st = validate(desc, a, b, c, d, &p)) return st;
    if (fail_requested("heuristic")) return CUBLAS_STATUS_NOT_SUPPORTED;
    const int n = std::min(requested, kFakeAlgos);
    for (int i = 0; i < n; ++i) {
        std::memset(&results[i], 0, sizeof(HeuristicResult));
        results[i].algo.data[0] = 0x66616b65;  // "fake": recognisable
        results[i].algo.data[1] = static_cast<uint64_t>(i);
        results[i].workspaceSize = 0;
        results[i].state = CUBLAS_STATUS_SUCCESS;
        results[i].wavesCount = 1.0f;
    }
    *returned = n;
    return CUBLAS_STATUS_SUCCESS;
}

int cublasLtMatmul(Handle handle, MatmulDesc desc, const void *alpha, const void *A, MatrixLayout a, const void *B,
                   MatrixLayout b, const void *beta, const void *C, MatrixLayout c, void *D, MatrixLayout d,
                   const MatmulAlgo *algo, void *workspace, size_t workspace_bytes, cudaStream_t stream) {
    if (!handle || handle->magic != kMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    Problem p;
    if (int st = validate(desc, a, b, c, d, &p)) return st;
    if (fail_requested("matmul")) return CUBLAS_STATUS_EXECUTION_FAILED;
    // A null algo asks the library to choose (as the real one allows): counted as none of the heuristic's.
    if (algo && (algo->data[0] != 0x66616b65 || algo->data[1] >= uint64_t(kFakeAlgos))) return CUBLAS_STATUS_INVALID_VALUE;
    if (algo) g_calls[algo->data[1]].fetch_add(1);
    if (fail_requested("allalgos") || (fail_requested("algo0") && algo && algo->data[1] == 0))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const uint64_t m = p.m, n = p.n, k = p.k;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    if (!D || (k > 0 && al != 0.0f && (!A || !B)) || (be != 0.0f && !C)) return CUBLAS_STATUS_INVALID_VALUE;

    std::vector<float> opA, opB;
    if (k > 0 && al != 0.0f) {
        opA = dense_op(A, a, desc->transa == CUBLAS_OP_T, m, k);
        opB = dense_op(B, b, desc->transb == CUBLAS_OP_T, k, n);
    }

    // Columns of D are independent: split them over threads. Within a tile of rows x 4 columns, each accumulator
    // gets its products in k order; the loop over rows is what the compiler vectorizes, which does not reorder
    // any sum.
    auto work = [&](uint64_t j0, uint64_t j1) {
        constexpr uint64_t kRows = 128, kCols = 4;
        float acc[kCols][kRows];
        for (uint64_t i0 = 0; i0 < m; i0 += kRows) {
            const uint64_t ri = std::min(kRows, m - i0);
            for (uint64_t jb = j0; jb < j1; jb += kCols) {
                const uint64_t cj = std::min(kCols, j1 - jb);
                for (uint64_t q = 0; q < kCols; ++q)
                    for (uint64_t i = 0; i < kRows; ++i) acc[q][i] = 0.0f;
                if (!opA.empty()) {
                    for (uint64_t kk = 0; kk < k; ++kk) {
                        const float *acol = &opA[i0 + kk * m];
                        for (uint64_t q = 0; q < cj; ++q) {
                            const float bv = opB[kk + (jb + q) * k];
                            float *ac = acc[q];
                            for (uint64_t i = 0; i < ri; ++i) ac[i] += acol[i] * bv;
                        }
                    }
                }
                for (uint64_t q = 0; q < cj; ++q) {
                    const uint64_t j = jb + q;
                    for (uint64_t i = 0; i < ri; ++i) {
                        const uint64_t row = i0 + i;
                        float v = opA.empty() ? 0.0f : al * acc[q][i];
                        if (be != 0.0f) {  // beta == 0: C is not read (it may hold garbage), as in cuBLAS
                            const uint64_t co = row + j * static_cast<uint64_t>(c->ld);
                            v += be * (c->type == CUDA_R_16BF ? bf16_to_f32(static_cast<const uint16_t *>(C)[co])
                                                              : static_cast<const float *>(C)[co]);
                        }
                        const uint64_t dof = row + j * static_cast<uint64_t>(d->ld);
                        if (d->type == CUDA_R_16BF)
                            static_cast<uint16_t *>(D)[dof] = f32_to_bf16(v);
                        else
                            static_cast<float *>(D)[dof] = v;
                    }
                }
            }
        }
    };

    unsigned threads = std::thread::hardware_concurrency();
    if (threads == 0) threads = 1;
    threads = std::min<unsigned>(threads, 16);
    if (m * n * (k + 1) < (uint64_t(1) << 22)) threads = 1;
    threads = static_cast<unsigned>(std::min<uint64_t>(threads, (n + 3) / 4));
    if (threads <= 1) {
        work(0, n);
    } else {
        std::vector<std::thread> pool;
        uint64_t per = ((n + threads - 1) / threads + 3) / 4 * 4;
        for (uint64_t j0 = 0; j0 < n; j0 += per) pool.emplace_back(work, j0, std::min(n, j0 + per));
        for (auto &t : pool) t.join();
    }
    return CUBLAS_STATUS_SUCCESS;
}

// Not part of cuBLASLt: objects created and not destroyed, for leak tests (look it up with dlsym).
long fakeCublasLtLiveObjects(void) { return g_live.load(); }
// Not part of cuBLASLt: matmul calls made with the heuristic's algorithm i so far (-1 for an i out of range).
long fakeCublasLtMatmulCalls(int i) { return i >= 0 && i < kFakeAlgos ? g_calls[i].load() : -1; }

}  // extern "C"

// The exported functions must have exactly the types the backend casts dlsym results to.
static_assert(std::is_same<decltype(&cublasLtCreate), PFN_Create>::value, "cublasLtCreate type");
static_assert(std::is_same<decltype(&cublasLtMatmul), PFN_Matmul>::value, "cublasLtMatmul type");
static_assert(std::is_same<decltype(&cublasLtMatmulAlgoGetHeuristic), PFN_MatmulAlgoGetHeuristic>::value,
              "cublasLtMatmulAlgoGetHeuristic type");
static_assert(std::is_same<decltype(&cublasLtMatrixLayoutCreate), PFN_MatrixLayoutCreate>::value,
              "cublasLtMatrixLayoutCreate type");
static_assert(std::is_same<decltype(&cublasLtMatmulDescSetAttribute), PFN_MatmulDescSetAttribute>::value,
              "cublasLtMatmulDescSetAttribute type");
static_assert(std::is_same<decltype(&cublasLtGetStatusString), PFN_GetStatusString>::value,
              "cublasLtGetStatusString type");
static_assert(std::is_same<decltype(&cublasLtGetVersion), PFN_GetVersion>::value, "cublasLtGetVersion type");
