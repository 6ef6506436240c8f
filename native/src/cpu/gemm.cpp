// gemm.cpp: the blocked, threaded GEMM driver and the portable scalar kernels (see gemm.h). The x86 kernels live in
// gemm_x86.cpp, compiled per function with target attributes.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "cpu/bf16.h"
#include "error.h"

namespace rir {
namespace cpu {

namespace {

// ---- portable kernels: NR = 8 columns, MR = 4 rows (8 SSE accumulators: the baseline x86-64 has 16 registers);
// plain loops the compiler vectorizes for the baseline ISA.
constexpr int kScalarNr = 8;
constexpr int kScalarMr = 4;
constexpr int kScalarKc = 256;

template <int M>
void ukr_scalar(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy, int ncols,
                bool accumulate) {
    const float *x = static_cast<const float *>(xv);
    const float *p = static_cast<const float *>(pv);
    float acc[M][kScalarNr] = {};
    for (int k = 0; k < kcb; ++k) {
        const float *pk = p + k * kScalarNr;
        for (int i = 0; i < M; ++i) {
            float xi = x[i * ldx + k];
            for (int j = 0; j < kScalarNr; ++j) acc[i][j] += xi * pk[j];
        }
    }
    for (int i = 0; i < M; ++i) {
        float *yi = y + i * ldy;
        for (int j = 0; j < ncols; ++j) yi[j] = accumulate ? yi[j] + acc[i][j] : acc[i][j];
    }
}

}  // namespace

const GemmKernels &gemm_kernels_scalar() {
    static const GemmKernels k = {
        "scalar", kScalarMr, kScalarNr, kScalarKc, false, pack_widened<kScalarNr>,
        {nullptr, ukr_scalar<1>, ukr_scalar<2>, ukr_scalar<3>, ukr_scalar<4>}};
    return k;
}

Gemm::Gemm(ThreadPool &pool, Isa isa) : pool_(pool), isa_(isa) {
    // Every kernel set uses at most 256 units of K per block (fp32: 256 k; bf16 pairs: 512 k).
    panels_.resize(pool.size());
    for (auto &p : panels_) p.resize(static_cast<size_t>(kMaxNc) * 256);
    xtiles_.resize(pool.size());
    for (auto &x : xtiles_) x.resize(static_cast<size_t>(GemmKernels::kMaxMr) * (256 + kPanelRowPad / 4));
}

const GemmKernels &Gemm::kernels(bool x_bf16_exact) const {
    switch (isa_) {
        case Isa::Avx512Bf16: return x_bf16_exact ? gemm_kernels_avx512bf16() : gemm_kernels_avx512();
        case Isa::Avx512: return gemm_kernels_avx512();
        case Isa::Avx2: return gemm_kernels_avx2();
        case Isa::Scalar: break;
    }
    return gemm_kernels_scalar();
}

size_t Gemm::scratch_bytes() const {
    size_t n = xb_.capacity() * sizeof(bf16_t);
    for (auto &p : panels_) n += p.capacity() * sizeof(uint32_t);
    for (auto &x : xtiles_) n += x.capacity() * sizeof(uint32_t);
    return n;
}

void Gemm::run(const float *x, int64_t T, int64_t K, const bf16_t *w, int64_t N, float *y, bool x_bf16_exact,
               bool round_out) {
    if (T <= 0 || N <= 0) return;
    const GemmKernels &ks = kernels(x_bf16_exact);
    const int mr = ks.mr, nr = ks.nr;
    const int threads = pool_.size();

    const void *xs = x;
    int64_t ldx = K;
    size_t xelem = sizeof(float);
    if (ks.bf16_x) {
        // vdpbf16ps reads X as bf16 pairs: convert once (exact, the values are bf16) with K padded to even.
        ldx = K + (K & 1);
        size_t need = static_cast<size_t>(T) * ldx;
        if (xb_.size() < need) {
            try {
                xb_.resize(need);
            } catch (const std::bad_alloc &) {
                throw Error(RIR_ERR_OUT_OF_MEMORY, "cpu gemm: bf16 copy of the input needs " +
                                                       std::to_string(need * sizeof(bf16_t)) + " bytes for " +
                                                       std::to_string(T) + " rows");
            }
        }
        bf16_t *xb = xb_.data();
        pool_.parallel_for(T, 16, [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; ++t) {
                for (int64_t k = 0; k < K; ++k) xb[t * ldx + k] = f32_to_bf16(x[t * K + k]);
                if (K & 1) xb[t * ldx + K] = 0;
            }
        });
        xs = xb;
        xelem = sizeof(bf16_t);
    }

    // Column blocks: up to kMaxNc wide, narrower when N is small so that every thread gets work.
    int64_t per_thread = (N + threads - 1) / threads;
    int64_t nc = std::min<int64_t>(kMaxNc, std::max<int64_t>(nr, (per_thread + nr - 1) / nr * nr));
    int64_t nb = (N + nc - 1) / nc;
    // Row chunks: the whole T unless there are too few column blocks to keep the threads busy (each row chunk packs
    // its W block again, so split only when needed).
    int64_t row_tiles = (T + mr - 1) / mr;
    int64_t tb = 1;
    if (nb < 2 * threads) tb = std::min<int64_t>(row_tiles, (2 * threads + nb - 1) / nb);
    int64_t rows = (row_tiles + tb - 1) / tb * mr;
    tb = (T + rows - 1) / rows;

    const int64_t kc = ks.kc;
    pool_.run(nb * tb, [&](int64_t task, int thread) {
        int64_t n0 = (task % nb) * nc;
        int64_t ncv = std::min(nc, N - n0);
        int ncp = static_cast<int>((ncv + nr - 1) / nr * nr);
        int64_t t0 = (task / nb) * rows, t1 = std::min(T, t0 + rows);
        void *panel = panels_[thread].data();
        for (int64_t k0 = 0; k0 < K; k0 += kc) {
            int kcb = static_cast<int>(std::min(kc, K - k0));
            int64_t units = ks.bf16_x ? (kcb + 1) / 2 : kcb;
            ks.pack(w, K, N, n0, ncp, k0, kcb, panel);
            bool last = k0 + kcb >= K;
            // Row stride of the X tile copy, in elements: the block's 4-byte units plus one cache line, so that the
            // mr rows never share L1 sets (rows of X itself, K elements apart, often do: K = 4096 is 16 KiB).
            const int64_t xld = (units * 4 + kPanelRowPad) / static_cast<int64_t>(xelem);
            char *xtile = reinterpret_cast<char *>(xtiles_[thread].data());
            for (int64_t t = t0; t < t1; t += mr) {
                int m = static_cast<int>(std::min<int64_t>(mr, t1 - t));
                for (int i = 0; i < m; ++i)  // copy the mr x kcb tile of X (bf16: kcb rounded up to even, padded)
                    std::memcpy(xtile + i * xld * xelem, static_cast<const char *>(xs) + ((t + i) * ldx + k0) * xelem,
                                units * 4);
                // Ask for the next tile's rows while the microkernels run on this one: X streams from memory (each
                // column block reads all of it), and waiting for it in the copy above cost ~7 % of a forward pass.
                for (int64_t i = t + mr; i < std::min(t1, t + 2 * mr); ++i) {
                    const char *row = static_cast<const char *>(xs) + (i * ldx + k0) * xelem;
                    for (int64_t off = 0; off < units * 4; off += 64) __builtin_prefetch(row + off, 0, 2);
                }
                for (int s = 0; s < ncp / nr; ++s) {
                    int cols = static_cast<int>(std::min<int64_t>(nr, ncv - int64_t(s) * nr));
                    float *yt = y + t * N + n0 + int64_t(s) * nr;
                    const uint32_t *ps = static_cast<const uint32_t *>(panel) + int64_t(s) * nr * units;
                    ks.ukr[m](kcb, xtile, xld, ps, yt, N, cols, k0 > 0);
                    if (last && round_out)
                        for (int i = 0; i < m; ++i)
                            for (int j = 0; j < cols; ++j) yt[i * N + j] = round_bf16(yt[i * N + j]);
                }
            }
        }
    });
}

}  // namespace cpu
}  // namespace rir
