// ptx_sm90_emu.cpp: the warpgroup-level Hopper instructions of ptx_sm90_emu.h (wgmma.fence / mma_async /
// commit_group / wait_group, shared-memory matrix descriptors, setmaxnreg, elect.sync).
//
// Layout sources. D fragment and register A fragment: PTX ISA, "Register Fragments and Shared Memory Matrix
// Layouts" for wgmma .m64nNk16 (figures "WGMMA .m64nNk16 register fragment layout for accumulator matrix D" and "...
// for matrix A"): warp w of the warpgroup owns rows 16w..16w+15; within them the m16n8k16 mma.sync fragments (row
// g = lane/4, +8 for the second register of a pair; columns 2t, 2t+1 with t = lane%4, one n8 tile per 4 registers).
// The same fragments are CuTe's CLayout_64xN / ALayout_64x16 (cute/atom/mma_traits_sm90_gmma.hpp: thread strides
// (128, 1, 16) and value strides (64, 8, 512) over the column-major 64 x N index).
// Descriptor: PTX ISA "Matrix Descriptor Format" (start address, LBO, SBO >> 4 in 14-bit fields at bits 0, 16, 32,
// base offset at 49-51, swizzle mode at 62-63: 0 interleave, 1 = 128B, 2 = 64B, 3 = 32B). Canonical layouts: PTX ISA
// "Shared Memory Matrix Layout" (core matrices of 8 rows x 16 bytes; swizzled atoms of 8 rows x 32/64/128 bytes),
// cross-checked against CuTe's make_gmma_desc comments (cute/atom/mma_traits_sm90_gmma.hpp), which write them in
// units of 16 bytes (T = 8 bf16):
//   K-major:  INTERLEAVE ((8,m),2):((1,SBO),LBO)   B32 ((8,m),2):((2,SBO),1)   B64 ((8,m),2):((4,SBO),1)
//             B128 ((8,m),2):((8,SBO),1)
//   MN-major: INTERLEAVE ((1,m),(8,k)):((X,SBO),(1,LBO))   B32 ((2,m),(8,k)):((1,LBO),(2,SBO))
//             B64 ((4,m),(8,k)):((1,LBO),(4,SBO))       B128 ((8,m),(8,k)):((1,LBO),(8,SBO))
//   each composed with Swizzle<B,4,3> on the byte address (B = 0, 1, 2, 3): operand_offset() below.
#include "ptx_sm90_emu.h"

#include <cstring>
#include <deque>
#include <vector>

namespace emu {
namespace sm90 {
namespace {

// A bit pattern no arithmetic produces: the accumulators of an operation in flight hold it, so a read before the
// wait shows NaN, and a write before the wait is detected when the operation retires.
constexpr uint32_t kInFlight = 0x7fc0feedu;

struct Desc {
    uint32_t start, lbo, sbo, mode;
};

Desc decode(uint64_t d, const char *which) {
    Desc r;
    r.start = static_cast<uint32_t>(d & 0x3fffu) << 4;
    r.lbo = static_cast<uint32_t>((d >> 16) & 0x3fffu) << 4;
    r.sbo = static_cast<uint32_t>((d >> 32) & 0x3fffu) << 4;
    r.mode = static_cast<uint32_t>(d >> 62) & 3u;
    const uint32_t base = static_cast<uint32_t>(d >> 49) & 7u;
    if (base != 0)
        detail::fatal("wgmma descriptor %s 0x%016llx has base offset %u: only 0 is emulated (atoms must start at "
                      "addresses aligned to their swizzle pattern)", which, static_cast<unsigned long long>(d), base);
    return r;
}

// Byte offset in shared memory of element (mn, k) (k < 16) of an operand described by `d`; mn_major: the operand is
// contiguous along M/N (trans = 1), else along K. See the canonical layouts in the file comment.
uint32_t operand_offset(const Desc &d, bool mn_major, uint32_t mn, uint32_t k) {
    uint32_t o;
    if (d.mode == 0) {
        // Core matrices of 8 rows x 16 bytes, stored contiguously (128 bytes).
        if (!mn_major)
            o = d.start + (mn % 8) * 16 + (mn / 8) * d.sbo + (k / 8) * d.lbo + (k % 8) * 2;
        else
            o = d.start + (mn % 8) * 2 + (mn / 8) * d.sbo + (k % 8) * 16 + (k / 8) * d.lbo;
        return o;
    }
    const uint32_t row = d.mode == 1 ? 128u : d.mode == 2 ? 64u : 32u;  // swizzle span: bytes per atom row
    if (!mn_major) {
        // Rows of `row` bytes along K (this wgmma's 16 K elements are 32 of them, at the start address), 8-row
        // atoms, SBO between 8-row groups along M/N.
        o = d.start + (mn % 8) * row + (mn / 8) * d.sbo + k * 2;
    } else {
        // Rows of `row` bytes along M/N (row / 2 elements), one row per K; LBO between M/N blocks of row / 2
        // elements, SBO between groups of 8 K rows.
        const uint32_t w = row / 2;
        o = d.start + (mn % w) * 2 + (mn / w) * d.lbo + (k % 8) * row + (k / 8) * d.sbo;
    }
    return swizzle_offset(o, d.mode);
}

struct Op {
    int n = 0;
    bool smem_a = false, accumulate = false, chained = false;
    int trans_a = 0, trans_b = 0;
    uint64_t desc_a = 0, desc_b = 0;
    uint32_t a[128][4];
    float *d[128];
    std::vector<float> c;  // 128 x n/2 accumulator inputs (accumulate && !chained)
};

struct GroupState {
    bool fenced = false;  // a wgmma.fence since the start or the last wait_group
    std::vector<Op> open;              // issued since the last commit_group
    std::deque<std::vector<Op>> committed;  // oldest first
};

std::vector<GroupState> g_groups;

float bf16_lo(uint32_t r) { return bf16_to_f32(static_cast<unsigned short>(r & 0xffffu)); }
float bf16_hi(uint32_t r) { return bf16_to_f32(static_cast<unsigned short>(r >> 16)); }

float smem_bf16(uint32_t off, const char *what) {
    const size_t size = detail::dynamic_smem_bytes();
    if (static_cast<size_t>(off) + 2 > size)
        detail::fatal("wgmma operand %s reads shared-memory offset %u, past the %zu bytes of dynamic shared memory",
                      what, off, size);
    unsigned short h;
    std::memcpy(&h, static_cast<const char *>(dynamic_smem()) + off, 2);
    return bf16_to_f32(h);
}

// D fragment position of register i of thread `thr` (0..127) of the warpgroup.
inline void d_pos(unsigned thr, int i, int *row, int *col) {
    const int w = static_cast<int>(thr / 32), lane = static_cast<int>(thr % 32), g = lane / 4, t = lane % 4;
    *row = 16 * w + g + 8 * ((i >> 1) & 1);
    *col = 8 * (i >> 2) + 2 * t + (i & 1);
}

// Runs one operation: reads its shared-memory operands now (at retirement), computes D = A*B (+ C) with exact bf16
// products summed in fp32 in k order, and writes every thread's fragment.
void retire(Op &op, unsigned warpgroup) {
    const int n = op.n, regs = n / 2;
    float A[64][16];
    std::vector<float> B(static_cast<size_t>(16) * n);
    if (op.smem_a) {
        const Desc da = decode(op.desc_a, "A");
        for (uint32_t m = 0; m < 64; ++m)
            for (uint32_t k = 0; k < 16; ++k) A[m][k] = smem_bf16(operand_offset(da, op.trans_a != 0, m, k), "A");
    } else {
        for (unsigned thr = 0; thr < 128; ++thr) {
            const int w = static_cast<int>(thr / 32), lane = static_cast<int>(thr % 32), g = lane / 4, t = lane % 4;
            const uint32_t *a = op.a[thr];
            const int r0 = 16 * w + g, r1 = r0 + 8;
            A[r0][2 * t] = bf16_lo(a[0]);
            A[r0][2 * t + 1] = bf16_hi(a[0]);
            A[r1][2 * t] = bf16_lo(a[1]);
            A[r1][2 * t + 1] = bf16_hi(a[1]);
            A[r0][2 * t + 8] = bf16_lo(a[2]);
            A[r0][2 * t + 9] = bf16_hi(a[2]);
            A[r1][2 * t + 8] = bf16_lo(a[3]);
            A[r1][2 * t + 9] = bf16_hi(a[3]);
        }
    }
    const Desc db = decode(op.desc_b, "B");
    for (uint32_t k = 0; k < 16; ++k)
        for (uint32_t j = 0; j < static_cast<uint32_t>(n); ++j)
            B[k * n + j] = smem_bf16(operand_offset(db, op.trans_b != 0, j, k), "B");
    for (unsigned thr = 0; thr < 128; ++thr) {
        float *d = op.d[thr];
        for (int i = 0; i < regs; ++i) {
            // Written to the in-flight pattern at issue; anything else means the kernel wrote the accumulators of
            // an operation in flight (undefined on the GPU). A chained operation finds its predecessor's result.
            if (!op.chained && f32_bits(d[i]) != kInFlight)
                detail::fatal("wgmma accumulator register %d of thread %u of warpgroup %u was written while the "
                              "wgmma.mma_async using it was in flight (before its wgmma.wait_group)", i,
                              128 * warpgroup + thr, warpgroup);
            int row, col;
            d_pos(thr, i, &row, &col);
            float acc = !op.accumulate ? 0.0f : op.chained ? d[i] : op.c[static_cast<size_t>(thr) * regs + i];
            for (int k = 0; k < 16; ++k) acc += A[row][k] * B[static_cast<size_t>(k) * n + col];
            d[i] = acc;
        }
    }
}

struct MmaIn {
    int n;
    bool smem_a, accumulate;
    int trans_a, trans_b;
    uint64_t desc_a, desc_b;
    uint32_t a[4];
    float *d;
};

void mma_op(const void *const in[128], void *const[128], unsigned arrived, unsigned g) {
    if (arrived != 128)
        detail::fatal("wgmma.mma_async executed by %u of the 128 threads of warpgroup %u: all must execute it",
                      arrived, g);
    GroupState &st = g_groups[g];
    if (!st.fenced)
        detail::fatal("wgmma.mma_async in warpgroup %u without a wgmma.fence before it (one is needed at the start "
                      "and after every wgmma.wait_group, before the registers are used by wgmma again)", g);
    const MmaIn &f = *static_cast<const MmaIn *>(in[0]);
    Op op;
    op.n = f.n;
    op.smem_a = f.smem_a;
    op.accumulate = f.accumulate;
    op.trans_a = f.trans_a;
    op.trans_b = f.trans_b;
    op.desc_a = f.desc_a;
    op.desc_b = f.desc_b;
    // The chained predecessor: the latest pending operation whose accumulators are these registers.
    const Op *prev = nullptr;
    auto find = [&](const std::vector<Op> &ops) {
        for (auto it = ops.rbegin(); it != ops.rend() && !prev; ++it)
            if (it->d[0] == f.d) prev = &*it;
    };
    find(st.open);
    for (auto it = st.committed.rbegin(); it != st.committed.rend() && !prev; ++it) find(*it);
    if (prev && prev->n != f.n)
        detail::fatal("wgmma.mma_async m64n%dk16 in warpgroup %u reuses the accumulators of a pending m64n%dk16", f.n,
                      g, prev->n);
    op.chained = prev != nullptr;
    const int regs = f.n / 2;
    if (op.accumulate && !op.chained) op.c.resize(static_cast<size_t>(128) * regs);
    for (unsigned t = 0; t < 128; ++t) {
        const MmaIn &x = *static_cast<const MmaIn *>(in[t]);
        if (x.n != f.n || x.smem_a != f.smem_a || x.accumulate != f.accumulate || x.trans_a != f.trans_a ||
            x.trans_b != f.trans_b || x.desc_b != f.desc_b || (f.smem_a && x.desc_a != f.desc_a))
            detail::fatal("threads 0 and %u of warpgroup %u issued different wgmma.mma_async (shape, descriptors, "
                          "scale-d or transposes differ: desc_b 0x%016llx vs 0x%016llx)", t, g,
                          static_cast<unsigned long long>(f.desc_b), static_cast<unsigned long long>(x.desc_b));
        bool t_chained = false;
        if (prev) t_chained = prev->d[t] == x.d;
        if (t_chained != op.chained)
            detail::fatal("wgmma.mma_async in warpgroup %u: thread %u's accumulators %s a pending operation's but "
                          "thread 0's %s", g, t, t_chained ? "are" : "are not", op.chained ? "are" : "are not");
        op.d[t] = x.d;
        std::memcpy(op.a[t], x.a, sizeof(x.a));
        if (op.accumulate && !op.chained)
            std::memcpy(&op.c[static_cast<size_t>(t) * regs], x.d, sizeof(float) * static_cast<size_t>(regs));
        for (int i = 0; i < regs; ++i) x.d[i] = bits_f32(kInFlight);
    }
    st.open.push_back(std::move(op));
}

void fence_op(const void *const[128], void *const[128], unsigned arrived, unsigned g) {
    if (arrived != 128)
        detail::fatal("wgmma.fence executed by %u of the 128 threads of warpgroup %u", arrived, g);
    g_groups[g].fenced = true;
}

void commit_op(const void *const[128], void *const[128], unsigned arrived, unsigned g) {
    if (arrived != 128)
        detail::fatal("wgmma.commit_group executed by %u of the 128 threads of warpgroup %u", arrived, g);
    GroupState &st = g_groups[g];
    st.committed.push_back(std::move(st.open));  // an empty group is allowed
    st.open.clear();
}

void wait_op(const void *const in[128], void *const[128], unsigned arrived, unsigned g) {
    if (arrived != 128)
        detail::fatal("wgmma.wait_group executed by %u of the 128 threads of warpgroup %u", arrived, g);
    const int n = *static_cast<const int *>(in[0]);
    for (unsigned t = 1; t < 128; ++t)
        if (*static_cast<const int *>(in[t]) != n)
            detail::fatal("threads of warpgroup %u executed wgmma.wait_group with different N", g);
    GroupState &st = g_groups[g];
    while (st.committed.size() > static_cast<size_t>(n)) {
        std::vector<Op> &group = st.committed.front();
        for (size_t i = 0; i < group.size(); ++i) {
            Op &op = group[i];
            retire(op, g);
            // The next pending operation chained on these accumulators (issue order) takes their value now, and the
            // registers go back to the in-flight pattern: they still belong to that operation, so a read after this
            // wait (which does not retire it) must still see NaN.
            Op *next = nullptr;
            auto scan = [&](std::vector<Op> &ops, size_t from) {
                for (size_t j = from; j < ops.size() && !next; ++j)
                    if (ops[j].chained && ops[j].d[0] == op.d[0]) next = &ops[j];
            };
            scan(group, i + 1);
            for (size_t q = 1; q < st.committed.size() && !next; ++q) scan(st.committed[q], 0);
            if (!next) scan(st.open, 0);
            if (!next) continue;
            const int regs = op.n / 2;
            next->chained = false;
            if (next->accumulate) next->c.resize(static_cast<size_t>(128) * regs);
            for (unsigned t = 0; t < 128; ++t)
                for (int r = 0; r < regs; ++r) {
                    if (next->accumulate) next->c[static_cast<size_t>(t) * regs + r] = op.d[t][r];
                    op.d[t][r] = bits_f32(kInFlight);
                }
        }
        st.committed.pop_front();
    }
    st.fenced = false;
}

struct RegIn {
    int n;
    bool inc;
};

void setmaxnreg_op(const void *const in[128], void *const[128], unsigned arrived, unsigned g) {
    if (arrived != 128)
        detail::fatal("setmaxnreg executed by %u of the 128 threads of warpgroup %u", arrived, g);
    const RegIn &f = *static_cast<const RegIn *>(in[0]);
    for (unsigned t = 1; t < 128; ++t) {
        const RegIn &x = *static_cast<const RegIn *>(in[t]);
        if (x.n != f.n || x.inc != f.inc) detail::fatal("threads of warpgroup %u executed different setmaxnreg", g);
    }
}

void elect_op(const void *const[32], void *const out[32], uint32_t participants) {
    const int first = __builtin_ctz(participants);
    for (int l = 0; l < 32; ++l)
        if (out[l]) *static_cast<bool *>(out[l]) = l == first;
}

}  // namespace

uint32_t smem_offset(const void *p) {
    const char *base = static_cast<const char *>(dynamic_smem());
    const char *c = static_cast<const char *>(p);
    const size_t size = detail::dynamic_smem_bytes();
    if (!base || c < base || c >= base + size)
        detail::fatal("sm90 shared-memory address %p is not in the launch's dynamic shared memory (%p, %zu bytes): "
                      "descriptors, TMA destinations and mbarriers used with TMA must be in RIR_DYNAMIC_SMEM", p,
                      static_cast<const void *>(base), size);
    return static_cast<uint32_t>(c - base);
}

void wgmma_fence() { detail::warpgroup_collective(&fence_op, "wgmma.fence", nullptr, nullptr); }
void wgmma_commit_group() { detail::warpgroup_collective(&commit_op, "wgmma.commit_group", nullptr, nullptr); }
void wgmma_wait_group(int n) {
    if (n < 0 || n > 7) detail::fatal("wgmma.wait_group %d: N must be 0..7", n);
    detail::warpgroup_collective(&wait_op, "wgmma.wait_group", &n, nullptr);
}

void wgmma(int n, float *d, const uint32_t *a, uint64_t desc_a, uint64_t desc_b, bool accumulate, int trans_a,
           int trans_b) {
    if (n < 8 || n > 256 || n % 8 != 0) detail::fatal("wgmma m64n%dk16: N must be a multiple of 8 up to 256", n);
    if (a && trans_a) detail::fatal("wgmma with A in registers cannot transpose A");
    MmaIn in;
    in.n = n;
    in.smem_a = a == nullptr;
    in.accumulate = accumulate;
    in.trans_a = trans_a;
    in.trans_b = trans_b;
    in.desc_a = desc_a;
    in.desc_b = desc_b;
    if (a)
        std::memcpy(in.a, a, sizeof(in.a));
    else
        std::memset(in.a, 0, sizeof(in.a));
    in.d = d;
    detail::warpgroup_collective(&mma_op, "wgmma.mma_async", &in, nullptr);
}

void setmaxnreg(int n, bool inc) {
    if (n < 24 || n > 256 || n % 8 != 0)
        detail::fatal("setmaxnreg.%s %d: the register count must be in 24..256 and a multiple of 8",
                      inc ? "inc" : "dec", n);
    RegIn in{n, inc};
    detail::warpgroup_collective(&setmaxnreg_op, "setmaxnreg", &in, nullptr);
}

bool elect_one() {
    bool out = false;
    detail::warp_collective(&elect_op, 0xffffffffu, nullptr, &out);
    return out;
}

}  // namespace sm90

namespace detail {

void sm90_block_begin(unsigned nthreads) {
    sm90::g_groups.assign((nthreads + 127) / 128, sm90::GroupState());
    tma_block_begin();
}

void sm90_block_end() {
    for (size_t g = 0; g < sm90::g_groups.size(); ++g) {
        const sm90::GroupState &st = sm90::g_groups[g];
        size_t pending = 0;
        for (const auto &grp : st.committed) pending += grp.size();
        if (pending || !st.open.empty())
            fatal("block finished with %zu wgmma.mma_async of warpgroup %zu never retired by a wgmma.wait_group "
                  "(%zu of them never committed by a wgmma.commit_group)", pending + st.open.size(), g,
                  st.open.size());
    }
    tma_block_end();
}

}  // namespace detail
}  // namespace emu
