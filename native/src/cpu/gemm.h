// gemm.h: the CPU matrix multiply, where nearly all the time of a forward pass goes.
//   Y[T, N] = X[T, K] * W[N, K]^T      X fp32 row-major, W bf16 (PyTorch Linear layout [out, in]), Y fp32.
//
// Weights are packed once, when the backend is built (PackedWeights): panels of NR columns, each holding all of K as
// bf16 pairs adjacent in K ([K/2 pairs][NR columns] of 4-byte units, the operand layout of vdpbf16ps and of the AMX
// tiles), with zero padding. The bytes are those of the checkpoint, rearranged: no per-call transpose, and the
// mapping of the checkpoint can be dropped. Several matrices can share one PackedWeights (q, k and v one after the
// other; gate and up interleaved panel by panel, so that one pass computes both).
//
// Per call, threads take (column block, row chunk) tasks. For each K block of KC, the fp32 kernels widen the block's
// panels into fp32 (exact: bf16 is the upper half of an fp32), the bf16 kernels read the packed pairs in place; then a
// register-blocked microkernel ("ukr") multiplies MR rows of X by NR columns. Kernels: scalar C++, AVX2+FMA, AVX-512
// (fp32), AVX512_BF16 (vdpbf16ps) and AMX-BF16 (tiles); the bf16 ones only when the caller says every X value is a
// bf16 value (the BF16 mode: products of bf16 are exact in fp32, only the accumulation order differs).
// Each row's sum runs over K in the same order whatever T, the other rows or the thread count: batch- and
// thread-invariant results, bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bf16.h"
#include "cpu/isa.h"
#include "cpu/thread_pool.h"
#include "model.h"

namespace rir {
namespace cpu {

// Pairs of K per panel are rounded up to a multiple of this (zeros): the AMX kernel's K step (32 bf16 = 16 pairs).
constexpr int kPackPairAlign = 16;

// Panel width of the kernels of an ISA (every kernel set of one ISA shares it, so one packing serves FP32 and BF16).
int pack_panel_width(Isa isa);

// Weights packed for the kernels of one ISA: data[s][p][j] = (W[n][2p], W[n][2p+1]) for n = s * nr + j (bf16 bits,
// low half first), zero where n >= N or 2p + 1 >= K.
class PackedWeights {
public:
    // Row n of the (virtual) matrix being packed, or null for a row of zeros. Called once per row and panel.
    using RowFn = std::function<const bf16_t *(int64_t n)>;

    PackedWeights() = default;
    // Packs N rows of K bf16 each, on the pool's threads. Throws rir::Error(RIR_ERR_OUT_OF_MEMORY).
    PackedWeights(ThreadPool &pool, Isa isa, int64_t N, int64_t K, const RowFn &row);
    // One matrix [N, K], row-major.
    static PackedWeights of(ThreadPool &pool, Isa isa, const bf16_t *w, int64_t N, int64_t K);

    int64_t rows() const { return n_; }
    int64_t cols() const { return k_; }
    int nr() const { return nr_; }
    int64_t pairs() const { return kp_; }  // per panel, padded
    const uint32_t *panel(int64_t s) const { return data_.get() + s * kp_ * nr_; }
    size_t bytes() const { return static_cast<size_t>(panels()) * kp_ * nr_ * sizeof(uint32_t); }
    int64_t panels() const { return (n_ + nr_ - 1) / nr_; }

private:
    struct Free {
        void operator()(uint32_t *p) const;
    };
    int64_t n_ = 0, k_ = 0, kp_ = 0;
    int nr_ = 0;
    std::unique_ptr<uint32_t[], Free> data_;
};

// One ISA's kernels (gemm.cpp, gemm_x86.cpp, gemm_amx.cpp). A "unit" of a panel is 4 bytes: one fp32 weight (fp32
// kernels, after widening), or one bf16 pair adjacent in K (bf16 kernels, read in place).
struct GemmKernels {
    static constexpr int kMaxMr = 32;
    const char *name;
    int mr;       // rows of X per microkernel call
    int nr;       // columns per panel (== pack_panel_width of the ISA)
    int kc;       // K per block, in elements of K (a multiple of 2 * kPackPairAlign)
    bool bf16_x;  // X is passed as bf16 (pairs along K) and panels are read as packed pairs, in place
    // fp32 kernels: panel block [kcb][nr] fp32 from the packed pairs src = panel + (k0 / 2) * nr.
    void (*widen)(const uint32_t *src, int kcb, int nr, float *dst);
    // ukr[m], m in [1, mr]: Y[m, ncols] = (accumulate ? Y : 0) + X[m, kcb] * panel. x points at X[t][k0] (fp32 or
    // bf16 elements, row stride ldx elements), y at Y[t][n], row stride ldy.
    void (*ukr[kMaxMr + 1])(int kcb, const void *x, int64_t ldx, const void *panel, float *y, int64_t ldy,
                            int ncols, bool accumulate);
    int k_align = 1;        // bf16 kernels: X rows are zero padded to a multiple of 2 * k_align elements
    bool direct_x = false;  // ukr reads X in place (mr rows from x; rows past T exist, zero): no tile copy
    void (*begin)() = nullptr;  // called on a thread before its first ukr of a task (AMX: tile configuration)
    void (*end)() = nullptr;    // and after its last (AMX: tile release)
    // Y[m, ncols] = r(Y) (round to bf16) for the BF16 mode's projections; null: a scalar loop.
    void (*round_rows)(float *y, int64_t ldy, int m, int ncols) = nullptr;
    // fp32 kernels reading the packed pairs in place (no widening pass): the same sums in the same order as ukr,
    // equal bits. Used for inputs of at most pairs_max_rows rows (every input when -1), over K blocks of kc_pairs;
    // mr_pairs rows per call; null where absent. Unless pairs_max_rows is -1, kc_pairs must equal kc: the K blocks
    // (and so each output's sum) must not depend on T (batch invariance).
    int mr_pairs = 0;
    int64_t pairs_max_rows = 0;
    int kc_pairs = 0;
    void (*ukr_pairs[kMaxMr + 1])(int kcb, const void *x, int64_t ldx, const void *panel, float *y, int64_t ldy,
                                  int ncols, bool accumulate) = {};
};

// Short inputs (at most this many rows) take the fp32 kernels' ukr_pairs on every ISA that has them: below it,
// widening a panel block costs more than the few products each widened value takes part in.
constexpr int64_t kPairsMaxRows = 32;

const GemmKernels &gemm_kernels_scalar();
const GemmKernels &gemm_kernels_avx2();
const GemmKernels &gemm_kernels_avx512();
const GemmKernels &gemm_kernels_avx512bf16();
const GemmKernels &gemm_kernels_amx();

// AMX: loads the tile configuration every AMX kernel of the engine uses (palette 1, all eight tiles 16 rows x 64
// bytes) on the calling thread / releases the tiles. Only at the Amx level.
void amx_begin();
void amx_end();

// The portable widening (fp32 kernels of every ISA may use it).
void widen_pairs_scalar(const uint32_t *src, int kcb, int nr, float *dst);

// out[i] = r(x[i]) as bf16 bits, for n values (vectorized where the CPU allows).
void narrow_bf16(const float *x, int64_t n, bf16_t *out);

// Work done on a block of Y right after it is final (after the last K block and the BF16 rounding), while it is in
// cache: rows [t, t + m) of Y, columns [n0, n0 + cols) (one panel), at y with row stride ldy. Called on the GEMM's
// threads, once per block; must not use the pool.
struct GemmEpilogue {
    virtual ~GemmEpilogue() = default;
    virtual void operator()(int64_t t, int m, int64_t n0, int cols, const float *y, int64_t ldy) const = 0;
};

class Gemm {
public:
    // Kernels for bf16-exact inputs: vdpbf16ps at the Avx512Bf16 level, tiles at the Amx level (select_isa() picks
    // Avx512Bf16 only where vdpbf16ps is the faster choice); fp32 kernels otherwise.
    Gemm(ThreadPool &pool, Isa isa);

    // Y = X W^T with W packed for this Gemm's ISA (w.nr() == pack_panel_width(isa())): X [T, w.cols()], Y
    // [T, w.rows()]. x_bf16_exact: every X value is exactly a bf16 value, which allows the bf16 kernels.
    // round_out: Y = r(Y), rounded to bf16 (the BF16 mode's rounding of every projection).
    // epilogue: see GemmEpilogue (null: none).
    void run(const float *x, int64_t T, const PackedWeights &w, float *y, bool x_bf16_exact, bool round_out,
             const GemmEpilogue *epilogue = nullptr);

    // The kernel set run() uses for the given kind of input.
    const GemmKernels &kernels(bool x_bf16_exact) const;
    Isa isa() const { return isa_; }
    // Bytes of scratch held (per-thread panels and the bf16 copy of X).
    size_t scratch_bytes() const;

    static constexpr int kMaxNc = 256;       // columns per thread block: 256 x KC(256) fp32 = 256 KiB of panel, fits L2
    static constexpr int kPanelRowPad = 64;  // bytes added to each row of the X tile copy (one cache line)
    static constexpr int kMaxKc = 1024;      // 4-byte units of X per row of a K block, in every kernel set

private:
    ThreadPool &pool_;
    Isa isa_;
    std::vector<std::vector<float>> panels_;     // per thread, kMaxNc x 256 fp32 (fp32 kernels' widened block)
    std::vector<std::vector<uint32_t>> xtiles_;  // per thread, the current mr x kc tile of X (padded rows)
    std::vector<bf16_t> xb_;  // X in bf16 for the bf16 kernels, [T rounded up to mr, K rounded up to 2 k_align]
};

}  // namespace cpu
}  // namespace rir
