// test_emu_sm90.cpp: tests of the emulator's Hopper warpgroup instructions (ptx_sm90.cuh over ptx_sm90_emu.h):
// wgmma fragment and shared-memory layouts against the PTX ISA's tables (test_emu_sm90_util.h), a triple loop for
// every descriptor layout, and the asynchrony (NaN before the wait, shared memory read at the wait, groups retired
// oldest first, chains across groups). TMA, mbarriers, named barriers and the errors the emulator must stop on are
// in test_emu_sm90_sync.cpp (same executable). Kernels are written CUDA-style and launched through RIR_LAUNCH, as the
// backend's are.
#include "test_emu_sm90_util.h"

namespace {

// ---------------------------------------------------------------------------------------------------------------
// wgmma through shared-memory images: the host places A and B with the tables above, the kernel copies the image
// into dynamic shared memory, warpgroup 0 runs `ksteps` wgmma (one commit, one wait), every thread writes d.
struct MmaArgs {
    const uint8_t *img;
    uint32_t img_bytes;
    const uint32_t *a_regs;  // [ksteps][128][4] (A from registers)
    const float *c;          // [128][N/2] initial accumulators
    float *out;              // [128][N/2]
    uint32_t a_off, a_lbo, a_sbo, a_sw, a_kstep;
    uint32_t b_off, b_lbo, b_sbo, b_sw, b_kstep;
    int ksteps;
    bool accumulate;
};

template <int N, int TransB, int TransA, bool RegA>
__global__ void mma_kernel(MmaArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    const int t = threadIdx.x;
    for (uint32_t i = t; i < p.img_bytes; i += blockDim.x) smem[i] = p.img[i];
    __syncthreads();
    float d[N / 2];
    for (int i = 0; i < N / 2; ++i) d[i] = p.c[t * (N / 2) + i];
    sm90::wgmma_fence();
    for (int kk = 0; kk < p.ksteps; ++kk) {
        const uint64_t db = sm90::smem_desc(smem + p.b_off + kk * p.b_kstep, p.b_lbo, p.b_sbo, Swizzle(p.b_sw));
        const bool acc = p.accumulate || kk > 0;
        if (RegA) {
            uint32_t a[4];
            for (int j = 0; j < 4; ++j) a[j] = p.a_regs[(kk * 128 + t) * 4 + j];
            sm90::wgmma_rs<N, TransB>(d, a, db, acc);
        } else {
            const uint64_t da = sm90::smem_desc(smem + p.a_off + kk * p.a_kstep, p.a_lbo, p.a_sbo, Swizzle(p.a_sw));
            sm90::wgmma_ss<N, TransB, TransA>(d, da, db, acc);
        }
    }
    sm90::wgmma_commit_group();
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < N / 2; ++i) p.out[t * (N / 2) + i] = d[i];
}

struct MmaCase {
    Operand a;   // ignored when A is in registers
    Operand b;
    int ksteps;
    bool accumulate;
};

// A: 64 x K, B: K x N (row-major host arrays of bf16-exact floats). Returns the 128 x N/2 fragments.
template <int N, int TransB, int TransA, bool RegA>
std::vector<float> run_mma(const MmaCase &mc, const std::vector<float> &A, const std::vector<float> &B,
                           const std::vector<float> &C) {
    const int K = 16 * mc.ksteps;
    // Image: A at 0 (unless in registers), B at the next 1024-byte boundary; bytes never placed stay 0xff (NaN).
    uint32_t a_bytes = 0;
    if (!RegA)
        for (int m = 0; m < 64; ++m)
            for (int k = 0; k < K; ++k) a_bytes = std::max(a_bytes, mc.a.offset(m, k) + 2);
    const uint32_t b_off = (a_bytes + 1023) / 1024 * 1024;
    uint32_t total = b_off;
    for (int k = 0; k < K; ++k)
        for (int n = 0; n < N; ++n) total = std::max(total, b_off + mc.b.offset(n, k) + 2);
    std::vector<uint8_t> img(total, 0xff);
    auto put = [&](uint32_t off, float v) {
        const uint16_t h = bf(v);
        std::memcpy(&img[off], &h, 2);
    };
    if (!RegA)
        for (int m = 0; m < 64; ++m)
            for (int k = 0; k < K; ++k) put(mc.a.offset(m, k), A[m * K + k]);
    for (int k = 0; k < K; ++k)
        for (int n = 0; n < N; ++n) put(b_off + mc.b.offset(n, k), B[k * N + n]);
    // A register fragments (ISA figure for .m64nNk16 A: the m16n8k16 A fragment of rows 16w..16w+15).
    std::vector<uint32_t> regs(static_cast<size_t>(mc.ksteps) * 128 * 4);
    for (int kk = 0; kk < mc.ksteps; ++kk)
        for (int thr = 0; thr < 128; ++thr) {
            const int w = thr / 32, g = (thr % 32) / 4, t = thr % 4;
            auto pack = [&](int r, int c) {
                return static_cast<uint32_t>(bf(A[r * K + 16 * kk + c])) |
                       (static_cast<uint32_t>(bf(A[r * K + 16 * kk + c + 1])) << 16);
            };
            uint32_t *a = &regs[(static_cast<size_t>(kk) * 128 + thr) * 4];
            a[0] = pack(16 * w + g, 2 * t);
            a[1] = pack(16 * w + g + 8, 2 * t);
            a[2] = pack(16 * w + g, 2 * t + 8);
            a[3] = pack(16 * w + g + 8, 2 * t + 8);
        }
    uint8_t *d_img = dev_alloc<uint8_t>(img.size());
    to_dev(d_img, img);
    uint32_t *d_regs = dev_alloc<uint32_t>(regs.size());
    to_dev(d_regs, regs);
    float *d_c = dev_alloc<float>(C.size());
    to_dev(d_c, C);
    float *d_out = dev_alloc<float>(128 * N / 2);
    MmaArgs p{d_img, total, d_regs, d_c, d_out, 0, mc.a.lbo, mc.a.sbo, static_cast<uint32_t>(mc.a.sw), mc.a.kstep(1),
              b_off, mc.b.lbo, mc.b.sbo, static_cast<uint32_t>(mc.b.sw), mc.b.kstep(1), mc.ksteps, mc.accumulate};
    auto *k = mma_kernel<N, TransB, TransA, RegA>;
    REQUIRE(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024) == cudaSuccess);
    RIR_LAUNCH(k, 1, 128, total, nullptr, p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    std::vector<float> out = from_dev(d_out, 128 * N / 2);
    cudaFree(d_img);
    cudaFree(d_regs);
    cudaFree(d_c);
    cudaFree(d_out);
    return out;
}

template <int N, int TransB, int TransA, bool RegA>
void check_mma(const char *name, const MmaCase &mc, unsigned seed) {
    std::mt19937 rng(seed);
    const int K = 16 * mc.ksteps;
    auto A = random_bf16(64 * K, rng), B = random_bf16(static_cast<size_t>(K) * N, rng);
    auto C = random_bf16(128 * N / 2, rng);
    auto got = run_mma<N, TransB, TransA, RegA>(mc, A, B, C);
    auto want = reference(N, K, A, B, C, mc.accumulate);
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) bad += !(got[i] == want[i]);
    CHECK_MSG(bad == 0, name << ": " << bad << " of " << want.size() << " accumulators differ (first: got "
                              << got[0] << ", want " << want[0] << ")");
}

}  // namespace

// D and A register layouts: A[m][0] = m, A[m][1] = 1, B[0][n] = 256, B[1][n] = n, everything else 0, so D[m][n] =
// 256 m + n names its own position: every register of every thread must hold the element the ISA figure gives it.
TEST_CASE(wgmma_register_fragments_follow_the_isa_figures) {
    emu::reset();
    const int N = 64, K = 16;
    std::vector<float> A(64 * K, 0.0f), B(K * N, 0.0f), C(128 * N / 2, 0.0f);
    for (int m = 0; m < 64; ++m) A[m * K + 0] = static_cast<float>(m), A[m * K + 1] = 1.0f;
    for (int n = 0; n < N; ++n) B[0 * N + n] = 256.0f, B[1 * N + n] = static_cast<float>(n);
    MmaCase mc{{Swizzle::B128, false, 16, 1024}, {Swizzle::B128, false, 16, 1024}, 1, false};
    for (int reg_a = 0; reg_a < 2; ++reg_a) {
        auto got = reg_a ? run_mma<N, 0, 0, true>(mc, A, B, C) : run_mma<N, 0, 0, false>(mc, A, B, C);
        int bad = 0;
        for (int thr = 0; thr < 128; ++thr)
            for (int i = 0; i < N / 2; ++i) {
                int r, c;
                d_position(thr, i, &r, &c);
                bad += got[thr * (N / 2) + i] != static_cast<float>(256 * r + c);
            }
        CHECK_MSG(bad == 0, (reg_a ? "A in registers" : "A in shared memory") << ": " << bad << " misplaced");
    }
}

// Every descriptor layout (swizzle none/32B/64B/128B, K-major and MN-major, packed and padded LBO/SBO), A from
// registers and from shared memory (K- and MN-major), several k-steps, with and without accumulator input.
TEST_CASE(wgmma_descriptor_layouts_match_a_triple_loop) {
    emu::reset();
    // K-major 128B, the attention layout: rows of 64 K elements, SBO 1024 (packed) or 2048 (padded).
    check_mma<64, 0, 0, true>("n64 regA, B K-major 128B", {{}, {Swizzle::B128, false, 16, 1024}, 4, true}, 1);
    check_mma<128, 0, 0, false>("n128 A/B K-major 128B, padded SBO",
                                {{Swizzle::B128, false, 16, 1024}, {Swizzle::B128, false, 16, 2048}, 4, true}, 2);
    check_mma<256, 0, 0, false>("n256 A/B K-major 128B",
                                {{Swizzle::B128, false, 16, 1024}, {Swizzle::B128, false, 16, 1024}, 4, false}, 3);
    check_mma<8, 0, 0, true>("n8 regA, B K-major 128B", {{}, {Swizzle::B128, false, 16, 1024}, 4, true}, 4);
    // K-major 64B and 32B.
    check_mma<64, 0, 0, false>("n64 A/B K-major 64B",
                               {{Swizzle::B64, false, 16, 512}, {Swizzle::B64, false, 16, 1024}, 2, true}, 5);
    check_mma<32, 0, 0, false>("n32 A/B K-major 32B",
                               {{Swizzle::B32, false, 16, 256}, {Swizzle::B32, false, 16, 512}, 1, true}, 6);
    // No swizzle, K-major: core matrices; LBO = next K core matrix, SBO = next 8 rows.
    check_mma<64, 0, 0, false>("n64 A/B K-major interleave",
                               {{Swizzle::None, false, 128, 512}, {Swizzle::None, false, 8 * 256, 256}, 2, true}, 7);
    // MN-major B (trans-b): 128B (N = 128: two 64-column blocks, LBO apart), 64B, 32B, none.
    check_mma<128, 1, 0, true>("n128 regA, B MN-major 128B", {{}, {Swizzle::B128, true, 4096, 1024}, 2, true}, 8);
    check_mma<128, 1, 0, false>("n128 A K-major 128B, B MN-major 128B padded",
                                {{Swizzle::B128, false, 16, 1024}, {Swizzle::B128, true, 8192, 2048}, 2, true}, 9);
    check_mma<128, 1, 0, true>("n128 regA, B MN-major 64B", {{}, {Swizzle::B64, true, 2048, 512}, 2, true}, 10);
    check_mma<32, 1, 0, true>("n32 regA, B MN-major 32B", {{}, {Swizzle::B32, true, 1024, 256}, 2, false}, 11);
    check_mma<64, 1, 0, false>("n64 A K-major none, B MN-major none",
                               {{Swizzle::None, false, 128, 512}, {Swizzle::None, true, 1024, 128}, 2, true}, 12);
    // MN-major A (trans-a), 128B and none.
    check_mma<64, 0, 1, false>("n64 A MN-major 128B, B K-major 128B",
                               {{Swizzle::B128, true, 8192, 1024}, {Swizzle::B128, false, 16, 1024}, 2, true}, 13);
    check_mma<64, 1, 1, false>("n64 A MN-major none, B MN-major 64B",
                               {{Swizzle::None, true, 1024, 128}, {Swizzle::B64, true, 2048, 512}, 2, true}, 14);
}

// ---------------------------------------------------------------------------------------------------------------
// Asynchrony: accumulators read before the wait are NaN; shared memory is read at the wait, not at issue; groups
// retire oldest first (wait_group 1 leaves the newest pending); chained operations on the same accumulators.
namespace {
struct AsyncArgs {
    const uint8_t *img;
    uint32_t img_bytes;
    float *early;  // [128][32]: d1 read before any wait
    float *mid;    // [128][32] d1, [128][32] d2 after wait_group 1
    float *out;    // [128][32] d1, [128][32] d2 after wait_group 0
    float *chain;  // [128][32] d3 after wait_group 1, [128][32] d3 after wait_group 0
};
// A at 0 (64 x 16 K-major 128B), B1 at 8192, B2 at 16384 (64 x 16 K-major 128B each). Group 1: d1 = A*B1 + A*B1
// (two chained mma_async); group 2: d2 = A*B2, then B2 is zeroed before any wait: d2 must come out 0.
__global__ void async_kernel(AsyncArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    const int t = threadIdx.x;
    for (uint32_t i = t; i < p.img_bytes; i += blockDim.x) smem[i] = p.img[i];
    __syncthreads();
    float d1[32], d2[32];
    const uint64_t da = sm90::smem_desc(smem, 16, 1024, Swizzle::B128);
    sm90::wgmma_fence();
    sm90::wgmma_ss<64, 0>(d1, da, sm90::smem_desc(smem + 8192, 16, 1024, Swizzle::B128), false);
    sm90::wgmma_ss<64, 0>(d1, da, sm90::smem_desc(smem + 8192, 16, 1024, Swizzle::B128), true);
    sm90::wgmma_commit_group();
    sm90::wgmma_ss<64, 0>(d2, da, sm90::smem_desc(smem + 16384, 16, 1024, Swizzle::B128), false);
    sm90::wgmma_commit_group();
    for (int i = 0; i < 32; ++i) p.early[t * 32 + i] = d1[i];
    for (int i = t; i < 8192; i += 128) smem[16384 + i] = 0;  // B2 := 0 while its wgmma is in flight
    sm90::wgmma_wait_group<1>();
    for (int i = 0; i < 32; ++i) p.mid[t * 32 + i] = d1[i], p.mid[4096 + t * 32 + i] = d2[i];
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < 32; ++i) p.out[t * 32 + i] = d1[i], p.out[4096 + t * 32 + i] = d2[i];
    // A chain across two groups: after the wait that retires only the first, d3 belongs to the second (NaN).
    float d3[32];
    sm90::wgmma_fence();
    sm90::wgmma_ss<64, 0>(d3, da, sm90::smem_desc(smem + 8192, 16, 1024, Swizzle::B128), false);
    sm90::wgmma_commit_group();
    sm90::wgmma_ss<64, 0>(d3, da, sm90::smem_desc(smem + 8192, 16, 1024, Swizzle::B128), true);
    sm90::wgmma_commit_group();
    sm90::wgmma_wait_group<1>();
    for (int i = 0; i < 32; ++i) p.chain[t * 32 + i] = d3[i];
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < 32; ++i) p.chain[4096 + t * 32 + i] = d3[i];
}
}  // namespace

TEST_CASE(wgmma_is_asynchronous_until_wait_group) {
    emu::reset();
    std::mt19937 rng(21);
    auto A = random_bf16(64 * 16, rng), B1 = random_bf16(16 * 64, rng), B2 = random_bf16(16 * 64, rng);
    const Operand op{Swizzle::B128, false, 16, 1024};
    std::vector<uint8_t> img(24576, 0xff);
    auto put = [&](uint32_t off, float v) {
        const uint16_t h = bf(v);
        std::memcpy(&img[off], &h, 2);
    };
    for (int m = 0; m < 64; ++m)
        for (int k = 0; k < 16; ++k) put(op.offset(m, k), A[m * 16 + k]);
    for (int k = 0; k < 16; ++k)
        for (int n = 0; n < 64; ++n) {
            put(8192 + op.offset(n, k), B1[k * 64 + n]);
            put(16384 + op.offset(n, k), B2[k * 64 + n]);
        }
    uint8_t *d_img = dev_alloc<uint8_t>(img.size());
    to_dev(d_img, img);
    float *early = dev_alloc<float>(4096), *mid = dev_alloc<float>(8192), *out = dev_alloc<float>(8192);
    float *chain = dev_alloc<float>(8192);
    RIR_LAUNCH(async_kernel, 1, 128, img.size(), nullptr,
               AsyncArgs{d_img, static_cast<uint32_t>(img.size()), early, mid, out, chain});
    REQUIRE(cudaGetLastError() == cudaSuccess);
    auto e = from_dev(early, 4096), md = from_dev(mid, 8192), o = from_dev(out, 8192), ch = from_dev(chain, 8192);
    std::vector<float> zeros(128 * 32, 0.0f);
    auto once = reference(64, 16, A, B1, zeros, false);
    int early_nan = 0, mid_d1 = 0, mid_d2_nan = 0, out_d1 = 0, out_d2 = 0, chain_nan = 0, chain_d3 = 0;
    for (int i = 0; i < 4096; ++i) {
        early_nan += std::isnan(e[i]);
        // d1 = A*B1 then += A*B1 (chained: the second reads the first's result at retirement).
        float acc = once[i];
        const int thr = i / 32, reg = i % 32;
        int r, c;
        d_position(thr, reg, &r, &c);
        for (int k = 0; k < 16; ++k) acc += A[r * 16 + k] * B1[k * 64 + c];
        mid_d1 += md[i] == acc;
        mid_d2_nan += std::isnan(md[4096 + i]);
        out_d1 += o[i] == acc;
        out_d2 += o[4096 + i] == 0.0f;
        chain_nan += std::isnan(ch[i]);
        chain_d3 += ch[4096 + i] == acc;
    }
    CHECK_MSG(chain_nan == 4096 && chain_d3 == 4096, chain_nan << " NaN between the waits, " << chain_d3
                                                               << " right after: a chain across groups");
    CHECK_MSG(early_nan == 4096, early_nan << " accumulators were NaN before the wait");
    CHECK_MSG(mid_d1 == 4096, "after wait_group 1, " << mid_d1 << " of group 1's accumulators are right");
    CHECK_MSG(mid_d2_nan == 4096, "after wait_group 1, " << mid_d2_nan << " of group 2's are still NaN");
    CHECK_MSG(out_d1 == 4096 && out_d2 == 4096, out_d1 << ", " << out_d2 << ": group 2 must see B2 as zeroed");
    cudaFree(d_img);
    cudaFree(early);
    cudaFree(mid);
    cudaFree(out);
    cudaFree(chain);
}

// The dynamic shared memory is 1024-byte aligned (128B swizzle atoms), and ordinary kernels still run.
namespace {
__global__ void smem_align_kernel(int *out) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    out[0] = static_cast<int>(reinterpret_cast<uintptr_t>(smem) % 1024);
    out[1] = static_cast<int>(sm90::smem_u32(smem + 4096));
}
}  // namespace

TEST_CASE(dynamic_shared_memory_is_1024_byte_aligned) {
    emu::reset();
    int *d = dev_alloc<int>(2);
    RIR_LAUNCH(smem_align_kernel, 1, 32, 8192, nullptr, d);
    auto h = from_dev(d, 2);
    CHECK(h[0] == 0);
    CHECK(h[1] == 4096);  // the emulated shared address: the offset in the dynamic shared memory
    cudaFree(d);
    float *x = dev_alloc<float>(100);
    to_dev(x, std::vector<float>(100, 1.0f));
    RIR_LAUNCH(add_one_kernel, 1, 128, 0, nullptr, x, 100);
    CHECK(from_dev(x, 100)[99] == 2.0f);
    cudaFree(x);
}

RUN_TESTS()
