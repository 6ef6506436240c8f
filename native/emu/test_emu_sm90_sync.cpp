// test_emu_sm90_sync.cpp: tests of the emulator's Hopper asynchronous copies and barriers: TMA loads (the swizzled
// layout against the PTX ISA tables, zero fill, poison before the wait, wake-up of threads already waiting), TMA
// tiles feeding wgmma for every swizzle and in the attention pattern, elect.sync, mbarrier phases, named barriers,
// tensor-map validation, and everything the emulator must stop on (in forked children whose stderr is checked).
// Part of the test_emu_sm90 executable (main in test_emu_sm90.cpp).
#include "test_emu_sm90_util.h"

// ---------------------------------------------------------------------------------------------------------------
// TMA: the swizzled layout a load writes (compared with the ISA tables), zero fill past every edge, the poison
// before the wait, and several mbarrier phases with expect_tx.
namespace {
struct TmaArgs {
    uint8_t *out;       // [phases][box bytes]: shared memory after each phase's wait
    uint8_t *before;    // [16]: shared memory read by thread 1 before the first wait
    int *flags;         // [0]: try_wait(parity 1) right after init
    int32_t c0[4], c1[4];
    uint32_t bytes;
    int phases;
};
__global__ void tma_kernel(const __grid_constant__ CUtensorMap map, TmaArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    __shared__ uint64_t bar, issued, read;
    const int t = threadIdx.x;
    for (uint32_t i = t; i < p.bytes; i += blockDim.x) smem[i] = 0;
    if (t == 0) {
        sm90::mbarrier_init(&bar, 1);
        sm90::mbarrier_init(&issued, 1);
        sm90::mbarrier_init(&read, 1);
        sm90::fence_barrier_init();
    }
    __syncthreads();
    if (t == 0) p.flags[0] = sm90::mbarrier_try_wait(&bar, 1);  // the phase "before" phase 0 counts as complete
    for (int ph = 0; ph < p.phases; ++ph) {
        if (t == 0) {
            sm90::mbarrier_arrive_expect_tx(&bar, p.bytes);
            sm90::tma_load_2d(smem, &map, p.c0[ph], p.c1[ph], &bar);
            if (ph == 0) sm90::mbarrier_arrive(&issued);
        }
        if (t == 1 && ph == 0) {
            sm90::mbarrier_wait(&issued, 0);  // the load was issued; nobody has waited on `bar` yet
            for (int i = 0; i < 16; ++i) p.before[i] = smem[i];
            sm90::mbarrier_arrive(&read);
        }
        // Nobody waits on `bar` (the first wait lands the copy) before thread 1 has read.
        if (ph == 0) sm90::mbarrier_wait(&read, 0);
        sm90::mbarrier_wait(&bar, ph & 1);
        for (uint32_t i = t; i < p.bytes; i += blockDim.x) p.out[ph * p.bytes + i] = smem[i];
        __syncthreads();  // everyone has read before the next load overwrites
    }
}

}  // namespace

TEST_CASE(tma_load_writes_the_swizzled_layout_with_zero_fill) {
    emu::reset();
    const int rows = 40, cols = 200;  // row stride padded to 416 bytes (a multiple of 16)
    const size_t stride = 416;
    std::vector<uint8_t> host(rows * stride, 0);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const uint16_t h = bf(tensor_value(r, c, cols));
            std::memcpy(&host[r * stride + c * 2], &h, 2);
        }
    uint8_t *g = dev_alloc<uint8_t>(host.size());
    to_dev(g, host);
    for (Swizzle sw : {Swizzle::None, Swizzle::B32, Swizzle::B64, Swizzle::B128}) {
        const uint32_t box_cols = sw == Swizzle::None ? 24 : span_of(sw) / 2, box_rows = 16;
        CUtensorMap map;
        rir::cuda::make_tensor_map_2d_bf16(&map, g, rows, cols, stride, box_rows, box_cols, sw);
        // Inside; past the right and bottom edges; before the left and top edges.
        const int32_t c0[4] = {8, cols - 5, -3, 64}, c1[4] = {3, rows - 10, -7, 0};
        const uint32_t bytes = box_rows * box_cols * 2;
        uint8_t *out = dev_alloc<uint8_t>(4 * bytes), *before = dev_alloc<uint8_t>(16);
        int *flags = dev_alloc<int>(1);
        TmaArgs p{out, before, flags, {c0[0], c0[1], c0[2], c0[3]}, {c1[0], c1[1], c1[2], c1[3]}, bytes, 4};
        RIR_LAUNCH(tma_kernel, 1, 64, 8192, nullptr, map, p);
        REQUIRE(cudaGetLastError() == cudaSuccess);
        auto o = from_dev(out, 4 * bytes);
        auto b = from_dev(before, 16);
        auto f = from_dev(flags, 1);
        int wrong = 0;
        for (int ph = 0; ph < 4; ++ph)
            for (uint32_t r = 0; r < box_rows; ++r)
                for (uint32_t c = 0; c < box_cols; ++c) {
                    const int gr = c1[ph] + static_cast<int>(r), gc = c0[ph] + static_cast<int>(c);
                    const float want = gr >= 0 && gr < rows && gc >= 0 && gc < cols ? tensor_value(gr, gc, cols) : 0.0f;
                    // Row r of the box is `box_cols * 2` bytes; with a swizzle its chunks follow the ISA tables.
                    const uint32_t off = sw == Swizzle::None ? r * box_cols * 2 + c * 2 : in_atom(sw, r, c * 2);
                    uint16_t h;
                    std::memcpy(&h, &o[ph * bytes + off], 2);
                    wrong += fb(h) != want;
                }
        bool poisoned = true;
        for (uint8_t x : b) poisoned &= x == 0xff;
        CHECK_MSG(wrong == 0, "swizzle " << static_cast<int>(sw) << ": " << wrong << " elements misplaced");
        CHECK_MSG(poisoned, "the destination must hold 0xff until a thread waits on the barrier");
        CHECK(f[0] == 1);
        cudaFree(out);
        cudaFree(before);
        cudaFree(flags);
    }
    cudaFree(g);
}

// Threads that wait on a barrier before the copy is even issued: issuing wakes them to land it (both run orders).
namespace {
__global__ void tma_late_issue_kernel(const __grid_constant__ CUtensorMap map, uint8_t *out, uint32_t bytes) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    __shared__ uint64_t bar, waiting;
    const int t = threadIdx.x;
    if (t == 0) {
        sm90::mbarrier_init(&bar, 1);
        sm90::mbarrier_init(&waiting, 63);
        sm90::fence_barrier_init();
    }
    __syncthreads();
    if (t == 0) {
        sm90::mbarrier_wait(&waiting, 0);  // threads 1..63 are about to block on `bar`
        sm90::mbarrier_arrive_expect_tx(&bar, bytes);
        sm90::tma_load_2d(smem, &map, 0, 0, &bar);
        return;  // the issuing thread never waits (a producer warp's pattern)
    }
    sm90::mbarrier_arrive(&waiting);
    sm90::mbarrier_wait(&bar, 0);
    for (uint32_t i = t - 1; i < bytes; i += blockDim.x - 1) out[i] = smem[i];
}
}  // namespace

TEST_CASE(tma_load_wakes_threads_already_waiting) {
    emu::reset();
    std::vector<uint16_t> h(64 * 64);
    for (int i = 0; i < 64 * 64; ++i) h[i] = bf(tensor_value(i / 64, i % 64, 64));
    uint16_t *g = dev_alloc<uint16_t>(h.size());
    to_dev(g, h);
    CUtensorMap map;
    rir::cuda::make_tensor_map_2d_bf16(&map, g, 64, 64, 128, 64, 64, Swizzle::None);
    uint8_t *out = dev_alloc<uint8_t>(8192);
    RIR_LAUNCH(tma_late_issue_kernel, 1, 64, 8192, nullptr, map, out, 8192u);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    auto o = from_dev(out, 8192);
    CHECK(std::memcmp(o.data(), h.data(), 8192) == 0);
    cudaFree(g);
    cudaFree(out);
}

// The attention pattern end to end: Q (64 x 64) and K (128 x 64) tiles TMA-loaded with 128B swizzle and multiplied
// as K-major operands (4 k-steps at +32 bytes), then V (64 x 128, two 64-column boxes) as the MN-major B of P*V
// (k-step +2048 bytes, LBO = the distance between the two column blocks).
namespace {
struct AttnArgs {
    float *s;  // [128][64]
    float *o;  // [128][64]
};
__global__ void attn_pattern_kernel(const __grid_constant__ CUtensorMap qm, const __grid_constant__ CUtensorMap km,
                                    const __grid_constant__ CUtensorMap vm, AttnArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    uint8_t *q = smem, *k = smem + 8192, *v = smem + 8192 + 16384;
    __shared__ uint64_t bar;
    const int t = threadIdx.x;
    if (t == 0) {
        sm90::mbarrier_init(&bar, 1);
        sm90::fence_barrier_init();
    }
    __syncthreads();
    if (sm90::elect_one() && t < 32) {
        sm90::mbarrier_arrive_expect_tx(&bar, 8192 + 16384 + 16384);
        sm90::tma_load_2d(q, &qm, 0, 0, &bar);
        sm90::tma_load_2d(k, &km, 0, 0, &bar);
        sm90::tma_load_2d(k + 8192, &km, 0, 64, &bar);
        sm90::tma_load_2d(v, &vm, 0, 0, &bar);
        sm90::tma_load_2d(v + 8192, &vm, 64, 0, &bar);
    }
    sm90::mbarrier_wait(&bar, 0);
    float s[64], o[64];
    sm90::wgmma_fence();
    for (int kk = 0; kk < 4; ++kk)
        sm90::wgmma_ss<128, 0>(s, sm90::smem_desc(q + 32 * kk, 1, 1024, Swizzle::B128),
                               sm90::smem_desc(k + 32 * kk, 1, 1024, Swizzle::B128), kk > 0);
    sm90::wgmma_commit_group();
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < 64; ++i) p.s[t * 64 + i] = s[i];
    sm90::wgmma_fence();
    for (int kk = 0; kk < 4; ++kk)
        sm90::wgmma_ss<128, 1>(o, sm90::smem_desc(q + 32 * kk, 1, 1024, Swizzle::B128),
                               sm90::smem_desc(v + 2048 * kk, 8192, 1024, Swizzle::B128), kk > 0);
    sm90::wgmma_commit_group();
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < 64; ++i) p.o[t * 64 + i] = o[i];
}
}  // namespace

TEST_CASE(tma_tiles_feed_wgmma_like_attention) {
    emu::reset();
    std::mt19937 rng(5);
    auto Q = random_bf16(64 * 64, rng), Kt = random_bf16(128 * 64, rng), V = random_bf16(64 * 128, rng);
    auto dev_bf16 = [](const std::vector<float> &x) {
        std::vector<uint16_t> h(x.size());
        for (size_t i = 0; i < x.size(); ++i) h[i] = bf(x[i]);
        uint16_t *d = dev_alloc<uint16_t>(h.size());
        to_dev(d, h);
        return d;
    };
    uint16_t *dq = dev_bf16(Q), *dk = dev_bf16(Kt), *dv = dev_bf16(V);
    CUtensorMap qm, km, vm;
    rir::cuda::make_tensor_map_2d_bf16(&qm, dq, 64, 64, 128, 64, 64, Swizzle::B128);
    rir::cuda::make_tensor_map_2d_bf16(&km, dk, 128, 64, 128, 64, 64, Swizzle::B128);
    rir::cuda::make_tensor_map_2d_bf16(&vm, dv, 64, 128, 256, 64, 64, Swizzle::B128);
    float *s = dev_alloc<float>(128 * 64), *o = dev_alloc<float>(128 * 64);
    auto *kern = attn_pattern_kernel;
    REQUIRE(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) == cudaSuccess);
    RIR_LAUNCH(kern, 1, 128, 8192 + 16384 + 16384, nullptr, qm, km, vm, AttnArgs{s, o});
    REQUIRE(cudaGetLastError() == cudaSuccess);
    // S = Q K^T: B[k][n] = K[n][k]; O = Q V (Q as the A operand again, so that O is an exact reference product).
    std::vector<float> B(64 * 128), zeros(128 * 64, 0.0f);
    for (int k = 0; k < 64; ++k)
        for (int n = 0; n < 128; ++n) B[k * 128 + n] = Kt[n * 64 + k];
    auto want_s = reference(128, 64, Q, B, zeros, false), want_o = reference(128, 64, Q, V, zeros, false);
    auto got_s = from_dev(s, 128 * 64), got_o = from_dev(o, 128 * 64);
    int bad_s = 0, bad_o = 0;
    for (size_t i = 0; i < want_s.size(); ++i) bad_s += got_s[i] != want_s[i], bad_o += got_o[i] != want_o[i];
    CHECK_MSG(bad_s == 0 && bad_o == 0, bad_s << " of S, " << bad_o << " of O differ");
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(s);
    cudaFree(o);
}

// TMA writes and descriptor reads agree for every swizzle: A (64 x S/2) and B (64 x S/2, K-major) are loaded with
// swizzle S and multiplied through descriptors of the same swizzle, S/64 k-steps of 16 (one for 32B).
namespace {
struct SwzArgs {
    uint32_t sw, sbo;
    int ksteps;
    float *out;  // [128][32]
};
__global__ void tma_wgmma_kernel(const __grid_constant__ CUtensorMap am, const __grid_constant__ CUtensorMap bm,
                                 SwzArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    __shared__ uint64_t bar;
    const int t = threadIdx.x;
    if (t == 0) {
        sm90::mbarrier_init(&bar, 1);
        sm90::fence_barrier_init();
    }
    __syncthreads();
    if (t == 0) {
        sm90::mbarrier_arrive_expect_tx(&bar, 2 * 64 * p.sbo / 8);
        sm90::tma_load_2d(smem, &am, 0, 0, &bar);
        sm90::tma_load_2d(smem + 8192, &bm, 0, 0, &bar);
    }
    sm90::mbarrier_wait(&bar, 0);
    float d[32];
    sm90::wgmma_fence();
    for (int kk = 0; kk < p.ksteps; ++kk)
        sm90::wgmma_ss<64, 0>(d, sm90::smem_desc(smem + 32 * kk, 1, p.sbo, Swizzle(p.sw)),
                              sm90::smem_desc(smem + 8192 + 32 * kk, 1, p.sbo, Swizzle(p.sw)), kk > 0);
    sm90::wgmma_commit_group();
    sm90::wgmma_wait_group<0>();
    for (int i = 0; i < 32; ++i) p.out[t * 32 + i] = d[i];
}
}  // namespace

TEST_CASE(tma_writes_what_descriptors_read_for_every_swizzle) {
    emu::reset();
    for (Swizzle sw : {Swizzle::B32, Swizzle::B64, Swizzle::B128}) {
        const int K = static_cast<int>(span_of(sw)) / 2, ksteps = K / 16;
        std::mt19937 rng(40 + K);
        auto A = random_bf16(64 * K, rng), Bt = random_bf16(64 * K, rng);  // Bt[n][k]
        auto up = [](const std::vector<float> &x) {
            std::vector<uint16_t> h(x.size());
            for (size_t i = 0; i < x.size(); ++i) h[i] = bf(x[i]);
            uint16_t *d = dev_alloc<uint16_t>(h.size());
            to_dev(d, h);
            return d;
        };
        uint16_t *da = up(A), *db = up(Bt);
        CUtensorMap am, bm;
        rir::cuda::make_tensor_map_2d_bf16(&am, da, 64, K, K * 2, 64, K, sw);
        rir::cuda::make_tensor_map_2d_bf16(&bm, db, 64, K, K * 2, 64, K, sw);
        float *out = dev_alloc<float>(128 * 32);
        RIR_LAUNCH(tma_wgmma_kernel, 1, 128, 16384, nullptr, am, bm,
                   SwzArgs{static_cast<uint32_t>(sw), 8 * span_of(sw), ksteps, out});
        REQUIRE(cudaGetLastError() == cudaSuccess);
        std::vector<float> B(K * 64), zeros(128 * 32, 0.0f);
        for (int k = 0; k < K; ++k)
            for (int n = 0; n < 64; ++n) B[k * 64 + n] = Bt[n * K + k];
        auto want = reference(64, K, A, B, zeros, false);
        auto got = from_dev(out, 128 * 32);
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) bad += got[i] != want[i];
        CHECK_MSG(bad == 0, "swizzle " << span_of(sw) << "B: " << bad << " accumulators differ");
        cudaFree(da);
        cudaFree(db);
        cudaFree(out);
    }
}

// elect.sync: exactly one lane per warp, the lowest.
namespace {
__global__ void elect_kernel(int *out) { out[threadIdx.x] = sm90::elect_one() ? 1 : 0; }
}  // namespace

TEST_CASE(elect_one_picks_one_lane_per_warp) {
    emu::reset();
    int *d = dev_alloc<int>(80);
    RIR_LAUNCH(elect_kernel, 1, 80, 0, nullptr, d);
    auto h = from_dev(d, 80);
    int bad = 0;
    for (int t = 0; t < 80; ++t) bad += h[t] != (t % 32 == 0 ? 1 : 0);
    CHECK(bad == 0);
    cudaFree(d);
}

// ---------------------------------------------------------------------------------------------------------------
// mbarrier arrivals without transactions, over several phases: a barrier of 64 arrivals orders each phase's writes
// before the reads of other threads; parity alternates.
namespace {
__global__ void mbarrier_phases_kernel(int *out, int phases) {
    __shared__ uint64_t bar;
    __shared__ int slot[64];
    const int t = threadIdx.x;
    if (t == 0) {
        sm90::mbarrier_init(&bar, 64);
        sm90::fence_barrier_init();
    }
    __syncthreads();
    for (int ph = 0; ph < phases; ++ph) {
        slot[t] = 1000 * ph + t;
        sm90::mbarrier_arrive(&bar);
        sm90::mbarrier_wait(&bar, ph & 1);
        out[ph * 64 + t] = slot[(t + 1) % 64];
        __syncthreads();  // all reads done before the next phase's writes
    }
}

// Named barriers: warps 0-1 produce, arrive on barrier 1 (128 threads) and go on; warps 2-3 wait on it and consume,
// for several rounds; barrier 2 (128 threads) sends the "slot free" signal back.
__global__ void named_barrier_kernel(int *out, int rounds) {
    __shared__ int buf[64];
    const int t = threadIdx.x;
    for (int r = 0; r < rounds; ++r) {
        if (t < 64) {
            if (r > 0) sm90::named_barrier_sync(2, 128);  // consumers are done with the previous round
            buf[t] = 100 * r + t;
            sm90::named_barrier_arrive(1, 128);
        } else {
            sm90::named_barrier_sync(1, 128);
            out[r * 64 + (t - 64)] = buf[(t - 64 + 5) % 64];
            if (r + 1 < rounds) sm90::named_barrier_arrive(2, 128);
        }
    }
}
}  // namespace

TEST_CASE(mbarrier_phases_order_arrivals) {
    emu::reset();
    const int phases = 5;
    int *d = dev_alloc<int>(phases * 64);
    RIR_LAUNCH(mbarrier_phases_kernel, 1, 64, 0, nullptr, d, phases);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    auto h = from_dev(d, phases * 64);
    int bad = 0;
    for (int ph = 0; ph < phases; ++ph)
        for (int t = 0; t < 64; ++t) bad += h[ph * 64 + t] != 1000 * ph + (t + 1) % 64;
    CHECK(bad == 0);
    cudaFree(d);
}

TEST_CASE(named_barriers_synchronize_producers_and_consumers) {
    emu::reset();
    const int rounds = 4;
    int *d = dev_alloc<int>(rounds * 64);
    RIR_LAUNCH(named_barrier_kernel, 1, 128, 0, nullptr, d, rounds);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    auto h = from_dev(d, rounds * 64);
    int bad = 0;
    for (int r = 0; r < rounds; ++r)
        for (int t = 0; t < 64; ++t) bad += h[r * 64 + t] != 100 * r + (t + 5) % 64;
    CHECK(bad == 0);
    cudaFree(d);
    // Ordinary kernels still run, with the 1024-byte aligned dynamic shared memory.
    float *x = dev_alloc<float>(100);
    to_dev(x, std::vector<float>(100, 1.0f));
    RIR_LAUNCH(add_one_kernel, 1, 128, 0, nullptr, x, 100);
    CHECK(from_dev(x, 100)[99] == 2.0f);
    cudaFree(x);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor maps: the entry point, and the driver's validation.
TEST_CASE(tensor_maps_are_validated_like_the_driver) {
    emu::reset();
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    REQUIRE(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) ==
            cudaSuccess);
    CHECK(q == cudaDriverEntryPointSuccess && fn != nullptr);
    void *none = &q;
    CHECK(cudaGetDriverEntryPointByVersion("cuNoSuchThing", &none, 12000, cudaEnableDefault, &q) == cudaSuccess);
    CHECK(q == cudaDriverEntryPointSymbolNotFound && none == nullptr);
    CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &none, 11080, cudaEnableDefault, &q) ==
          cudaSuccess);
    CHECK(q == cudaDriverEntryPointVersionNotSufficent && none == nullptr);
    auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
    uint8_t *g = dev_alloc<uint8_t>(1 << 16);
    CUtensorMap map;
    auto try_encode = [&](void *addr, cuuint64_t cols, cuuint64_t stride, cuuint32_t bc, cuuint32_t br,
                          CUtensorMapSwizzle sw) {
        const cuuint64_t dims[2] = {cols, 64};
        const cuuint64_t strides[1] = {stride};
        const cuuint32_t box[2] = {bc, br}, es[2] = {1, 1};
        return encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, addr, dims, strides, box, es,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, sw, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    };
    CHECK(try_encode(g, 128, 256, 64, 64, CU_TENSOR_MAP_SWIZZLE_128B) == CUDA_SUCCESS);
    CHECK(try_encode(g + 8, 128, 256, 64, 64, CU_TENSOR_MAP_SWIZZLE_128B) == CUDA_ERROR_INVALID_VALUE);  // 16 B
    CHECK(try_encode(g, 128, 264, 64, 64, CU_TENSOR_MAP_SWIZZLE_128B) == CUDA_ERROR_INVALID_VALUE);      // stride
    CHECK(try_encode(g, 512, 1024, 64, 257, CU_TENSOR_MAP_SWIZZLE_NONE) == CUDA_ERROR_INVALID_VALUE);    // box 256
    CHECK(try_encode(g, 128, 256, 128, 64, CU_TENSOR_MAP_SWIZZLE_128B) == CUDA_ERROR_INVALID_VALUE);     // 256 B > 128
    CHECK(try_encode(g, 128, 256, 64, 8, CU_TENSOR_MAP_SWIZZLE_64B) == CUDA_ERROR_INVALID_VALUE);        // 128 B > 64
    CHECK(try_encode(g, 128, 256, 4, 8, CU_TENSOR_MAP_SWIZZLE_NONE) == CUDA_ERROR_INVALID_VALUE);        // 8 B inner
    CHECK(try_encode(g, 128, 256, 16, 8, CU_TENSOR_MAP_SWIZZLE_32B) == CUDA_SUCCESS);
    // make_tensor_map_2d_bf16 names the parameters and the emulator's reason.
    CHECK_THROWS(rir::cuda::make_tensor_map_2d_bf16(&map, g, 64, 128, 264, 64, 64, Swizzle::B128), RIR_ERR_DEVICE,
                 "globalStrides[0] = 264");
    CHECK_THROWS(rir::cuda::make_tensor_map_2d_bf16(&map, g, 64, 128, 256, 64, 128, Swizzle::B128), RIR_ERR_DEVICE,
                 "box 64 x 128");
    cudaFree(g);
}

// ---------------------------------------------------------------------------------------------------------------
// What the emulator must stop on (each in a forked child; the message is checked).
namespace {
struct FailArgs {
    int mode;
    float *out;
};
// mode 0: no fence before the first mma_async; 1: no fence after a wait; 2: warp 3 skips the fence (diverging
// warpgroup sequence); 3: never waited; 4: accumulator written while in flight; 5: only 3 warps in the warpgroup;
// 6: mbarrier never completed; 7: named barrier short of threads; 8: TMA copy never waited; 9: TMA destination
// misaligned; 10: mbarrier used without init; 11: setmaxnreg out of bounds; 12: setmaxnreg differs between threads;
// 13: a swizzled TMA box narrower than the swizzle span (not emulated).
__global__ void fail_kernel(const __grid_constant__ CUtensorMap map, FailArgs p) {
    RIR_DYNAMIC_SMEM(uint8_t, smem);
    __shared__ uint64_t bar;
    const int t = threadIdx.x;
    for (int i = t; i < 16384; i += blockDim.x) smem[i] = 0;
    if (t == 0) sm90::mbarrier_init(&bar, 2);
    __syncthreads();
    float d[16];
    const uint64_t desc = sm90::smem_desc(smem, 16, 1024, Swizzle::B128);
    switch (p.mode) {
        case 0: sm90::wgmma_ss<32, 0>(d, desc, desc, false); break;
        case 1:
            sm90::wgmma_fence();
            sm90::wgmma_ss<32, 0>(d, desc, desc, false);
            sm90::wgmma_commit_group();
            sm90::wgmma_wait_group<0>();
            sm90::wgmma_ss<32, 0>(d, desc, desc, true);
            break;
        case 2:
            if (t / 32 != 3) sm90::wgmma_fence();
            sm90::wgmma_ss<32, 0>(d, desc, desc, false);
            break;
        case 3:
            sm90::wgmma_fence();
            sm90::wgmma_ss<32, 0>(d, desc, desc, false);
            sm90::wgmma_commit_group();
            break;
        case 4:
            sm90::wgmma_fence();
            sm90::wgmma_ss<32, 0>(d, desc, desc, false);
            sm90::wgmma_commit_group();
            d[3] = 1.0f;
            sm90::wgmma_wait_group<0>();
            break;
        case 5:
            if (t >= 96) return;
            sm90::wgmma_fence();
            break;
        case 6:
            if (t == 0) sm90::mbarrier_arrive(&bar);  // 1 of 2 arrivals
            sm90::mbarrier_wait(&bar, 0);
            break;
        case 7:
            if (t >= 96) return;
            sm90::named_barrier_sync(1, 128);
            break;
        case 8:
            if (t == 0) sm90::tma_load_2d(smem, &map, 0, 0, &bar);
            break;
        case 9:
            if (t == 0) sm90::tma_load_2d(smem + 128, &map, 0, 0, &bar);
            break;
        case 10:
            sm90::mbarrier_arrive(reinterpret_cast<uint64_t *>(smem + 8192));
            break;
        case 11: sm90::setmaxnreg_inc<240>(); emu::sm90::setmaxnreg(20, true); break;
        case 12:
            if (t < 64) sm90::setmaxnreg_inc<240>(); else sm90::setmaxnreg_inc<232>();
            break;
        case 13:
            if (t == 0) sm90::tma_load_2d(smem, &map, 0, 0, &bar);  // a 64-byte box row under 128B swizzle
            break;
    }
    if (p.out) p.out[t] = d[0];
}
void run_fail(int mode) {
    uint16_t *g = dev_alloc<uint16_t>(64 * 64);
    CUtensorMap map;
    rir::cuda::make_tensor_map_2d_bf16(&map, g, 64, 64, 128, 64, mode == 13 ? 32 : 64, Swizzle::B128);
    RIR_LAUNCH(fail_kernel, 1, 128, 16384, nullptr, map, FailArgs{mode, nullptr});
}
}  // namespace

TEST_CASE(wgmma_misuse_stops_the_run) {
    emu::reset();
    CHECK(dies_with([] { run_fail(0); }, "without a wgmma.fence"));
    CHECK(dies_with([] { run_fail(1); }, "without a wgmma.fence"));
    CHECK(dies_with([] { run_fail(2); }, "different warpgroup instructions"));
    CHECK(dies_with([] { run_fail(3); }, "never retired by a wgmma.wait_group"));
    CHECK(dies_with([] { run_fail(4); }, "was written while the wgmma.mma_async using it was in flight"));
    CHECK(dies_with([] { run_fail(5); }, "executed by 96 of the 128 threads"));
}

TEST_CASE(barrier_deadlocks_and_tma_misuse_stop_the_run) {
    emu::reset();
    CHECK(dies_with([] { run_fail(6); }, "deadlock"));
    CHECK(dies_with([] { run_fail(7); }, "named barrier"));
    CHECK(dies_with([] { run_fail(8); }, "never landed"));
    CHECK(dies_with([] { run_fail(9); }, "not 1024-byte aligned"));
    CHECK(dies_with([] { run_fail(10); }, "mbarrier.init missing"));
    CHECK(dies_with([] { run_fail(11); }, "must be in 24..256"));
    CHECK(dies_with([] { run_fail(12); }, "different setmaxnreg"));
    CHECK(dies_with([] { run_fail(13); }, "exactly the swizzle span"));
}

