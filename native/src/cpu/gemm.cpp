// gemm.cpp: weight packing, the blocked threaded GEMM driver and the portable scalar kernels (see gemm.h). The x86
// kernels live in gemm_x86.cpp and gemm_amx.cpp, compiled per function with target attributes.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "bf16.h"
#include "cpu/simd.h"
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

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void narrow_bf16_avx512(const float *x, int64_t n,
                                                                                        bf16_t *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) simd_avx512::vstore_bf16(out + i, simd_avx512::vload(x + i));
    for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}
__attribute__((target("avx2,fma"))) void narrow_bf16_avx2(const float *x, int64_t n, bf16_t *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) simd_avx2::vstore_bf16(out + i, simd_avx2::vload(x + i));
    for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}
#endif

void narrow_bf16_scalar(const float *x, int64_t n, bf16_t *out) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

}  // namespace

void widen_pairs_scalar(const uint32_t *src, int kcb, int nr, float *dst) {
    for (int k = 0; k < kcb; ++k) {
        const uint32_t *row = src + (k / 2) * nr;
        for (int j = 0; j < nr; ++j) {
            const uint32_t u = (k & 1) ? (row[j] & 0xffff0000u) : (row[j] << 16);
            std::memcpy(dst + k * nr + j, &u, sizeof u);
        }
    }
}

void narrow_bf16(const float *x, int64_t n, bf16_t *out) {
    // The widest the CPU has (not the capped level: every level gives the same bits here).
    static void (*const fn)(const float *, int64_t, bf16_t *) = [] {
#if defined(__x86_64__)
        const Isa isa = detect_isa();
        if (isa >= Isa::Avx512) return narrow_bf16_avx512;
        if (isa == Isa::Avx2) return narrow_bf16_avx2;
#endif
        return narrow_bf16_scalar;
    }();
    fn(x, n, out);
}

const GemmKernels &gemm_kernels_scalar() {
    static const GemmKernels k = {
        "scalar", kScalarMr, kScalarNr, kScalarKc, false, widen_pairs_scalar,
        {nullptr, ukr_scalar<1>, ukr_scalar<2>, ukr_scalar<3>, ukr_scalar<4>}};
    return k;
}

// ------------------------------------------------------------------------------------------------ packing

int pack_panel_width(Isa isa) {
    switch (isa) {
        case Isa::Amx:
        case Isa::Avx512Bf16:
        case Isa::Avx512: return gemm_kernels_avx512().nr;
        case Isa::Avx2: return gemm_kernels_avx2().nr;
        case Isa::Scalar: break;
    }
    return gemm_kernels_scalar().nr;
}

void PackedWeights::Free::operator()(uint32_t *p) const { std::free(p); }

PackedWeights::PackedWeights(ThreadPool &pool, Isa isa, int64_t N, int64_t K, const RowFn &row)
    : n_(N), k_(K), nr_(pack_panel_width(isa)) {
    kp_ = ((K + 1) / 2 + kPackPairAlign - 1) / kPackPairAlign * kPackPairAlign;
    const size_t bytes = static_cast<size_t>(panels()) * kp_ * nr_ * sizeof(uint32_t);
    uint32_t *p = static_cast<uint32_t *>(std::aligned_alloc(64, std::max<size_t>(bytes, 64)));
    if (!p)
        throw Error(RIR_ERR_OUT_OF_MEMORY, "cpu backend: packing a [" + std::to_string(N) + ", " + std::to_string(K) +
                                               "] weight needs " + std::to_string(bytes) + " bytes");
    data_.reset(p);
    const int64_t full_pairs = K / 2;
    // One panel per task: its nr rows are read sequentially, each row's pairs written with stride nr (the panel
    // block being written, nr x 16 pairs, stays in L1).
    pool.run(panels(), [&](int64_t s, int) {
        uint32_t *dst = data_.get() + s * kp_ * nr_;
        for (int j = 0; j < nr_; ++j) {
            const int64_t n = s * nr_ + j;
            const bf16_t *src = n < N ? row(n) : nullptr;
            int64_t p = 0;
            if (src) {
                for (; p < full_pairs; ++p)
                    dst[p * nr_ + j] = static_cast<uint32_t>(src[2 * p]) | (static_cast<uint32_t>(src[2 * p + 1]) << 16);
                if (K & 1) dst[p++ * nr_ + j] = src[K - 1];
            }
            for (; p < kp_; ++p) dst[p * nr_ + j] = 0;
        }
    });
}

PackedWeights PackedWeights::of(ThreadPool &pool, Isa isa, const bf16_t *w, int64_t N, int64_t K) {
    return PackedWeights(pool, isa, N, K, [w, K](int64_t n) { return w + n * K; });
}

// ------------------------------------------------------------------------------------------------ driver

Gemm::Gemm(ThreadPool &pool, Isa isa) : pool_(pool), isa_(isa) {
    // The fp32 kernels widen at most kMaxNc columns x 256 k per block; the X tile holds at most kMaxMr rows of a K
    // block of up to kMaxKc 4-byte units.
    panels_.resize(pool.size());
    for (auto &p : panels_) p.resize(static_cast<size_t>(kMaxNc) * 256);
    xtiles_.resize(pool.size());
    for (auto &x : xtiles_) x.resize(static_cast<size_t>(GemmKernels::kMaxMr) * (kMaxKc + kPanelRowPad / 4));
}

const GemmKernels &Gemm::kernels(bool x_bf16_exact) const {
    switch (isa_) {
        case Isa::Amx: return x_bf16_exact ? gemm_kernels_amx() : gemm_kernels_avx512();
        case Isa::Avx512Bf16: return x_bf16_exact ? gemm_kernels_avx512bf16() : gemm_kernels_avx512();
        case Isa::Avx512: return gemm_kernels_avx512();
        case Isa::Avx2: return gemm_kernels_avx2();
        case Isa::Scalar: break;
    }
    return gemm_kernels_scalar();
}

size_t Gemm::scratch_bytes() const {
    size_t n = xb_.capacity() * sizeof(bf16_t);
    for (auto &p : panels_) n += p.capacity() * sizeof(float);
    for (auto &x : xtiles_) n += x.capacity() * sizeof(uint32_t);
    return n;
}

void Gemm::run(const float *x, int64_t T, const PackedWeights &w, float *y, bool x_bf16_exact, bool round_out,
               const GemmEpilogue *epilogue) {
    const int64_t N = w.rows(), K = w.cols();
    if (T <= 0 || N <= 0) return;
    const GemmKernels &ks = kernels(x_bf16_exact);
    // fp32 products straight from the packed pairs (no widening pass)
    const bool pairs = !ks.bf16_x && ks.mr_pairs > 0 && (ks.pairs_max_rows < 0 || T <= ks.pairs_max_rows);
    if (w.nr() != ks.nr)
        throw Error(RIR_ERR_INTERNAL, std::string("cpu gemm: weights packed for panels of ") + std::to_string(w.nr()) +
                                          " columns, kernels " + ks.name + " use " + std::to_string(ks.nr));
    const int mr = pairs ? ks.mr_pairs : ks.mr, nr = ks.nr;
    const int threads = pool_.size();

    const void *xs = x;
    int64_t ldx = K;
    size_t xelem = sizeof(float);
    const int64_t kalign = ks.k_align;
    if (ks.bf16_x) {
        // The bf16 kernels read X as bf16 pairs: convert once (exact, the values are bf16), K padded with zeros to
        // whole kernel K steps, and (for kernels reading X in place) rows padded to whole row tiles.
        ldx = (K + 2 * kalign - 1) / (2 * kalign) * (2 * kalign);
        const int64_t rows = ks.direct_x ? (T + mr - 1) / mr * mr : T;
        const size_t need = static_cast<size_t>(rows) * ldx;
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
        pool_.parallel_for(rows, 16, [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; ++t) {
                bf16_t *dst = xb + t * ldx;
                if (t < T) {
                    narrow_bf16(x + t * K, K, dst);
                    std::fill(dst + K, dst + ldx, bf16_t(0));
                } else {
                    std::fill(dst, dst + ldx, bf16_t(0));
                }
            }
        });
        xs = xb;
        xelem = sizeof(bf16_t);
    }

    // Column blocks: up to kMaxNc wide, narrower when N is small so that every thread gets work.
    int64_t per_thread = (N + threads - 1) / threads;
    int64_t nc = std::min<int64_t>(kMaxNc, std::max<int64_t>(nr, (per_thread + nr - 1) / nr * nr));
    int64_t nb = (N + nc - 1) / nc;
    // Row chunks: the whole T unless there are too few column blocks to keep the threads busy (each row chunk widens
    // its W block again, so split only when needed).
    int64_t row_tiles = (T + mr - 1) / mr;
    int64_t tb = 1;
    if (nb < 2 * threads) tb = std::min<int64_t>(row_tiles, (2 * threads + nb - 1) / nb);
    int64_t rows = (row_tiles + tb - 1) / tb * mr;
    tb = (T + rows - 1) / rows;

    const int64_t kc = pairs ? ks.kc_pairs : ks.kc;
    pool_.run(nb * tb, [&](int64_t task, int thread) {
        const int64_t n0 = (task % nb) * nc;
        const int64_t ncv = std::min(nc, N - n0);
        const int np = static_cast<int>((ncv + nr - 1) / nr);  // panels in this block
        const int64_t s0 = n0 / nr;                            // first panel
        const int64_t t0 = (task / nb) * rows, t1 = std::min(T, t0 + rows);
        float *widened = panels_[thread].data();
        if (ks.begin) ks.begin();
        for (int64_t k0 = 0; k0 < K; k0 += kc) {
            const int kcb = static_cast<int>(std::min(kc, K - k0));
            const bool last = k0 + kcb >= K;
            if (!ks.bf16_x && !pairs)
                for (int s = 0; s < np; ++s) ks.widen(w.panel(s0 + s) + (k0 / 2) * nr, kcb, nr, widened + s * nr * kcb);
            // X tile copy (fp32 kernels): 4-byte units of the block plus one cache line per row, so that the mr rows
            // never share L1 sets (rows of X itself, K elements apart, often do: K = 4096 is 16 KiB).
            const int64_t units = ks.bf16_x ? (kcb + 1) / 2 : kcb;
            const int64_t xld = (units * 4 + kPanelRowPad) / static_cast<int64_t>(xelem);
            char *xtile = reinterpret_cast<char *>(xtiles_[thread].data());
            for (int64_t t = t0; t < t1; t += mr) {
                const int m = static_cast<int>(std::min<int64_t>(mr, t1 - t));
                const void *xk = static_cast<const char *>(xs) + (t * ldx + k0) * xelem;
                int64_t ldk = ldx;
                if (!ks.direct_x) {
                    for (int i = 0; i < m; ++i)  // copy the mr x kcb tile of X (bf16: kcb rounded up to even)
                        std::memcpy(xtile + i * xld * xelem,
                                    static_cast<const char *>(xs) + ((t + i) * ldx + k0) * xelem, units * 4);
                    // Ask for the next tile's rows while the microkernels run on this one: X streams from memory
                    // (each column block reads all of it), and waiting for it in the copy above cost ~7 % of a
                    // forward pass.
                    for (int64_t i = t + mr; i < std::min(t1, t + 2 * mr); ++i) {
                        const char *row = static_cast<const char *>(xs) + (i * ldx + k0) * xelem;
                        for (int64_t off = 0; off < units * 4; off += 64) __builtin_prefetch(row + off, 0, 2);
                    }
                    xk = xtile;
                    ldk = xld;
                }
                for (int s = 0; s < np; ++s) {
                    const int cols = static_cast<int>(std::min<int64_t>(nr, ncv - int64_t(s) * nr));
                    float *yt = y + t * N + n0 + int64_t(s) * nr;
                    const bool in_place = ks.bf16_x || pairs;
                    const void *ps = in_place ? static_cast<const void *>(w.panel(s0 + s) + (k0 / 2) * nr)
                                              : static_cast<const void *>(widened + s * nr * kcb);
                    (pairs ? ks.ukr_pairs : ks.ukr)[m](kcb, xk, ldk, ps, yt, N, cols, k0 > 0);
                    if (last && round_out) {
                        if (ks.round_rows) {
                            ks.round_rows(yt, N, m, cols);
                        } else {
                            for (int i = 0; i < m; ++i)
                                for (int j = 0; j < cols; ++j) yt[i * N + j] = round_bf16(yt[i * N + j]);
                        }
                    }
                    if (last && epilogue) (*epilogue)(t, m, n0 + int64_t(s) * nr, cols, yt, N);
                }
            }
        }
        if (ks.end) ks.end();
    });
}

}  // namespace cpu
}  // namespace rir
