// test_emu.cpp: tests of the CUDA emulator itself (native/emu/): scheduling and synchronization semantics, warp
// collectives, the PTX fragment layouts, the runtime API's error/memory behaviour and the fake cuBLASLt; the
// several-device behaviour is in test_emu_devices.cpp, the same executable. The kernels
// are written here in CUDA style and launched through RIR_LAUNCH exactly as the backend's are.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "cuda/cublaslt_api.h"
#include "cuda/cuda_compat.h"
#include "cuda/ptx.cuh"
#include "test_emu_util.h"

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Kernels.

// Each phase every thread reads its neighbour's value of the previous phase: only correct if no thread starts a
// phase before all have finished the previous one.
__global__ void phases_kernel(int *out, int phases) {
    __shared__ int buf[2][1024];
    const int n = blockDim.x * blockDim.y * blockDim.z;
    const int t = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
    buf[0][t] = t;
    __syncthreads();
    for (int p = 0; p < phases; ++p) {
        int v = buf[p & 1][(t + 1) % n];
        buf[(p + 1) & 1][t] = v + 1;
        __syncthreads();
    }
    out[blockIdx.x * n + t] = buf[phases & 1][t];
}

__global__ void index_kernel(uint4 *out) {
    const unsigned t = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
    const unsigned b = blockIdx.x + blockIdx.y * gridDim.x + blockIdx.z * gridDim.x * gridDim.y;
    const unsigned per = blockDim.x * blockDim.y * blockDim.z;
    out[b * per + t] = make_uint4(threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x + 100 * blockIdx.y + 10000 * blockIdx.z);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum of in[blockIdx.x * blockDim.x .. +blockDim.x) with warp shuffles and a shared array of partial sums.
__global__ void block_sum_kernel(const float *in, float *out) {
    __shared__ float partial[32];
    const int t = threadIdx.x, lane = t % 32, warp = t / 32;
    float v = warp_sum(in[blockIdx.x * blockDim.x + t]);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
        v = warp_sum(v);
        if (lane == 0) out[blockIdx.x] = v;
    }
}

// A block of 50 threads: warp 1 has 18 lanes.
__global__ void partial_warp_kernel(int *out) {
    const int t = threadIdx.x, lane = t % 32;
    int bcast = __shfl_sync(0xffffffffu, t, 0);             // lane 0 of each warp
    unsigned ballot = __ballot_sync(0xffffffffu, 1);        // existing lanes only
    int down = __shfl_down_sync(0xffffffffu, t, 1);         // own value where lane + 1 does not exist
    int up = __shfl_up_sync(0xffffffffu, t, 1);
    int seg = __shfl_sync(0xffffffffu, t, 3, 8);            // lane 3 of each 8-lane segment
    __syncthreads();
    out[t * 5 + 0] = bcast;
    out[t * 5 + 1] = static_cast<int>(ballot);
    out[t * 5 + 2] = down;
    out[t * 5 + 3] = up;
    out[t * 5 + 4] = seg;
    (void)lane;
}

// Reverses `n` floats through dynamic shared memory.
__global__ void dyn_smem_kernel(const float *in, float *out, int n) {
    RIR_DYNAMIC_SMEM(float, s);
    for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = in[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = s[n - 1 - i];
}

__global__ void atomics_kernel(int *counter, float *fsum, unsigned long long *usum, int *mx, int *mn, unsigned *bits,
                               int *cas_counter) {
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(counter, 1);
    atomicAdd(fsum, 0.5f);
    atomicAdd(usum, static_cast<unsigned long long>(g));
    atomicMax(mx, g);
    atomicMin(mn, -g);
    atomicOr(bits, 1u << (g % 32));
    int old = *cas_counter, assumed;
    do {
        assumed = old;
        old = atomicCAS(cas_counter, assumed, assumed + 2);
    } while (old != assumed);
}

// Threads past `n` return before the barriers; the others must still get through them.
__global__ void early_exit_kernel(int *out, int n) {
    __shared__ int s[256];
    const int t = threadIdx.x;
    if (t >= n) return;
    s[t] = t * 2;
    __syncthreads();
    int v = s[(t + 1) % n];
    __syncthreads();
    s[t] = v;
    __syncthreads();
    out[t] = s[t] + __syncthreads_count(t % 2 == 0) * 1000;
}

// One warp: D = A (16x16, row-major bf16) * B (16x8, B[k][n] row-major bf16) + C (16x8 fp32), fragments gathered
// from global memory per the documented layout.
__global__ void mma_kernel(const __nv_bfloat16 *A, const __nv_bfloat16 *B, const float *C, float *D) {
    const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
    auto pack = [](__nv_bfloat16 lo, __nv_bfloat16 hi) {
        return static_cast<uint32_t>(__bfloat16_as_ushort(lo)) | (static_cast<uint32_t>(__bfloat16_as_ushort(hi)) << 16);
    };
    uint32_t a[4] = {pack(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]),
                     pack(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]),
                     pack(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]),
                     pack(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9])};
    uint32_t b[2] = {pack(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]),
                     pack(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g])};
    float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
    rir::cuda::mma_16816_bf16(c, a, b, c);  // d aliases c, as accumulating kernels do
    D[g * 8 + 2 * t] = c[0];
    D[g * 8 + 2 * t + 1] = c[1];
    D[(g + 8) * 8 + 2 * t] = c[2];
    D[(g + 8) * 8 + 2 * t + 1] = c[3];
}

// ldmatrix from a 16x16 bf16 tile in shared memory (row stride 24 elements = 48 bytes, 16-byte aligned rows).
// Matrix j of .x4 is quadrant (rows 8*(j%2).., cols 8*(j/2)..); .x2 takes the left two quadrants. Also runs the mma
// on ldmatrix-loaded A (x4) and B (x2.trans of a K x N tile) fragments: the usual kernel pattern.
constexpr int kStride = 24;
__global__ void ldmatrix_kernel(const __nv_bfloat16 *tile, const __nv_bfloat16 *btile, uint32_t *out, float *D) {
    __shared__ __align__(16) __nv_bfloat16 s[16 * kStride];
    __shared__ __align__(16) __nv_bfloat16 sb[16 * kStride];
    const int lane = threadIdx.x;
    for (int i = lane; i < 16 * 16; i += 32) {
        s[(i / 16) * kStride + i % 16] = tile[i];
        sb[(i / 16) * kStride + i % 16] = btile[i];
    }
    __syncwarp();
    const int j = lane / 8, r = lane % 8;
    const __nv_bfloat16 *row4 = &s[(8 * (j % 2) + r) * kStride + 8 * (j / 2)];
    uint32_t x4[4], x4t[4], x2[2], x2t[2];
    rir::cuda::ldmatrix_x4(x4, row4);
    rir::cuda::ldmatrix_x4_trans(x4t, row4);
    const int j2 = (lane % 16) / 8;
    const __nv_bfloat16 *row2 = &s[(8 * j2 + r) * kStride];  // lanes 16..31: ignored
    rir::cuda::ldmatrix_x2(x2, row2);
    rir::cuda::ldmatrix_x2_trans(x2t, row2);
    for (int q = 0; q < 4; ++q) out[lane * 12 + q] = x4[q];
    for (int q = 0; q < 4; ++q) out[lane * 12 + 4 + q] = x4t[q];
    for (int q = 0; q < 2; ++q) out[lane * 12 + 8 + q] = x2[q];
    for (int q = 0; q < 2; ++q) out[lane * 12 + 10 + q] = x2t[q];
    // B stored K x N row-major (16 x 8 used): .x2.trans of rows k = 0..15 at column 0 gives the col-major B fragment.
    uint32_t b[2];
    rir::cuda::ldmatrix_x2_trans(b, &sb[(lane % 16) * kStride]);
    float c[4] = {0, 0, 0, 0}, d[4];
    rir::cuda::mma_16816_bf16(d, x4, b, c);
    const int g = lane / 4, t = lane % 4;
    D[g * 8 + 2 * t] = d[0];
    D[g * 8 + 2 * t + 1] = d[1];
    D[(g + 8) * 8 + 2 * t] = d[2];
    D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

__global__ void cp_async_kernel(const float4 *src, float4 *dst, int valid_count) {
    __shared__ __align__(16) float4 s[64];
    const int t = threadIdx.x;
    rir::cuda::cp_async_16(&s[t], &src[t < valid_count ? t : 0], t < valid_count);
    rir::cuda::cp_async_commit();
    rir::cuda::cp_async_wait<0>();
    __syncthreads();
    dst[t] = s[63 - t];
}

// Many threads and many barriers, for the scheduler's speed.
__global__ void stress_kernel(float *out, int iters) {
    __shared__ float s[512];
    const int t = threadIdx.x;
    float acc = 0.0f;
    s[t] = static_cast<float>(t);
    __syncthreads();
    for (int i = 0; i < iters; ++i) {
        acc += s[(t + i) % blockDim.x];
        __syncthreads();
        if (t == 0) s[i % blockDim.x] += 1.0f;
        __syncthreads();
    }
    out[blockIdx.x * blockDim.x + t] = acc;
}

// Lanes 0..15 wait in a shuffle while lanes 16..31 wait at the block barrier: a real deadlock.
__global__ void deadlock_kernel(int *out) {
    if (threadIdx.x < 16)
        out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
    else
        __syncthreads();
}

float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
uint16_t bits(__nv_bfloat16 h) { return __bfloat16_as_ushort(h); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
TEST_CASE(syncthreads_orders_phases_in_2d_and_3d_blocks) {
    emu::reset();
    const int phases = 37;
    for (dim3 block : {dim3(256), dim3(16, 16), dim3(8, 4, 3), dim3(1024)}) {
        const int n = static_cast<int>(block.x * block.y * block.z);
        int *d = dev_alloc<int>(2 * n);
        RIR_LAUNCH(phases_kernel, 2, block, 0, nullptr, d, phases);
        REQUIRE(cudaGetLastError() == cudaSuccess);
        auto h = from_dev(d, 2 * n);
        bool ok = true;
        for (int b = 0; b < 2; ++b)
            for (int t = 0; t < n; ++t) ok &= h[b * n + t] == (t + phases) % n + phases;
        CHECK_MSG(ok, "block " << block.x << "x" << block.y << "x" << block.z);
        cudaFree(d);
    }
}

// Thread t writes s[t] and reads s[t + 1] with no barrier in between: wrong in one of the two start orders.
__global__ void missing_barrier_kernel(int *out) {
    __shared__ int s[65];
    const int t = threadIdx.x;
    s[t] = t + 1;
    out[t] = s[t + 1];  // BUG on purpose: needs __syncthreads() before this read
}

TEST_CASE(reverse_order_exposes_a_missing_barrier) {
    emu::reset();
    int *d = dev_alloc<int>(64);
    int wrong[2] = {0, 0};
    for (int rev = 0; rev < 2; ++rev) {
        emu::set_reverse_order(rev == 1);
        RIR_LAUNCH(missing_barrier_kernel, 1, 64, 0, nullptr, d);
        auto h = from_dev(d, 64);
        for (int t = 0; t < 63; ++t) wrong[rev] += h[t] != t + 2;
    }
    emu::set_reverse_order(false);
    CHECK(wrong[0] + wrong[1] > 0);
    cudaFree(d);
}

TEST_CASE(builtin_indices_cover_grid_and_block) {
    emu::reset();
    dim3 grid(3, 2, 2), block(4, 2, 3);
    const int per = 24, blocks = 12;
    uint4 *d = dev_alloc<uint4>(per * blocks);
    RIR_LAUNCH(index_kernel, grid, block, 0, nullptr, d);
    auto h = from_dev(d, per * blocks);
    bool ok = true;
    for (unsigned bz = 0; bz < 2; ++bz)
        for (unsigned by = 0; by < 2; ++by)
            for (unsigned bx = 0; bx < 3; ++bx)
                for (unsigned tz = 0; tz < 3; ++tz)
                    for (unsigned ty = 0; ty < 2; ++ty)
                        for (unsigned tx = 0; tx < 4; ++tx) {
                            const uint4 &v = h[(bx + 3 * by + 6 * bz) * per + tx + 4 * ty + 8 * tz];
                            ok &= v.x == tx && v.y == ty && v.z == tz && v.w == bx + 100 * by + 10000 * bz;
                        }
    CHECK(ok);
    cudaFree(d);
}

TEST_CASE(block_reduction_with_shuffles_over_a_grid) {
    emu::reset();
    const int blocks = 7, threads = 256;
    std::vector<float> in(blocks * threads);
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> dist(-100, 100);
    for (auto &x : in) x = static_cast<float>(dist(rng));  // integers: the sum is exact in any order
    float *din = dev_alloc<float>(in.size()), *dout = dev_alloc<float>(blocks);
    to_dev(din, in);
    RIR_LAUNCH(block_sum_kernel, blocks, threads, 0, nullptr, din, dout);
    auto out = from_dev(dout, blocks);
    for (int b = 0; b < blocks; ++b) {
        float ref = 0;
        for (int t = 0; t < threads; ++t) ref += in[b * threads + t];
        CHECK_NEAR(out[b], ref, 0.0);
    }
    cudaFree(din);
    cudaFree(dout);
}

TEST_CASE(partial_warp_collectives_use_existing_lanes_only) {
    emu::reset();
    const int n = 50;
    int *d = dev_alloc<int>(n * 5);
    RIR_LAUNCH(partial_warp_kernel, 1, n, 0, nullptr, d);
    auto h = from_dev(d, n * 5);
    for (int t = 0; t < n; ++t) {
        int lane = t % 32, base = t - lane, lanes = t < 32 ? 32 : 18;
        CHECK_MSG(h[t * 5 + 0] == base, "t=" << t);
        CHECK_MSG(static_cast<unsigned>(h[t * 5 + 1]) == (lanes == 32 ? 0xffffffffu : (1u << 18) - 1), "t=" << t);
        CHECK_MSG(h[t * 5 + 2] == (lane + 1 < lanes ? t + 1 : t), "t=" << t);
        CHECK_MSG(h[t * 5 + 3] == (lane >= 1 ? t - 1 : t), "t=" << t);
        int src = (lane / 8) * 8 + 3;  // a lane that does not exist: the emulator returns the caller's own value
        CHECK_MSG(h[t * 5 + 4] == (src < lanes ? base + src : t), "t=" << t);
    }
    cudaFree(d);
}

TEST_CASE(dynamic_shared_memory_needs_the_attribute_above_48k) {
    emu::reset();
    const int n = 20000;  // 80 000 bytes
    std::vector<float> in(n);
    for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i);
    float *din = dev_alloc<float>(n), *dout = dev_alloc<float>(n);
    to_dev(din, in);
    const size_t smem = n * sizeof(float);
    RIR_LAUNCH(dyn_smem_kernel, 1, 128, smem, nullptr, din, dout, n);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024) ==
          cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    REQUIRE(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(smem)) == cudaSuccess);
    RIR_LAUNCH(dyn_smem_kernel, 1, 128, smem, nullptr, din, dout, n);
    CHECK(cudaGetLastError() == cudaSuccess);
    auto out = from_dev(dout, n);
    bool ok = true;
    for (int i = 0; i < n; ++i) ok &= out[i] == static_cast<float>(n - 1 - i);
    CHECK(ok);
    // Small dynamic smem needs no attribute.
    RIR_LAUNCH(dyn_smem_kernel, 1, 64, 4096, nullptr, din, dout, 1024);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(from_dev(dout, 1)[0] == 1023.0f);
    cudaFree(din);
    cudaFree(dout);
}

TEST_CASE(atomics_accumulate_over_all_threads) {
    emu::reset();
    int *counter = dev_alloc<int>(1), *mx = dev_alloc<int>(1), *mn = dev_alloc<int>(1), *cas = dev_alloc<int>(1);
    float *fsum = dev_alloc<float>(1);
    unsigned long long *usum = dev_alloc<unsigned long long>(1);
    unsigned *bitsp = dev_alloc<unsigned>(1);
    cudaMemset(counter, 0, 4);
    cudaMemset(mx, 0, 4);
    cudaMemset(mn, 0, 4);
    cudaMemset(cas, 0, 4);
    cudaMemset(fsum, 0, 4);
    cudaMemset(usum, 0, 8);
    cudaMemset(bitsp, 0, 4);
    const int blocks = 4, threads = 96;
    RIR_LAUNCH(atomics_kernel, blocks, threads, 0, nullptr, counter, fsum, usum, mx, mn, bitsp, cas);
    const int n = blocks * threads;
    CHECK(from_dev(counter, 1)[0] == n);
    CHECK(from_dev(fsum, 1)[0] == 0.5f * n);
    CHECK(from_dev(usum, 1)[0] == static_cast<unsigned long long>(n) * (n - 1) / 2);
    CHECK(from_dev(mx, 1)[0] == n - 1);
    CHECK(from_dev(mn, 1)[0] == -(n - 1));
    CHECK(from_dev(bitsp, 1)[0] == 0xffffffffu);
    CHECK(from_dev(cas, 1)[0] == 2 * n);
    for (void *p : {(void *)counter, (void *)mx, (void *)mn, (void *)cas, (void *)fsum, (void *)usum, (void *)bitsp})
        cudaFree(p);
}

TEST_CASE(returned_threads_count_as_arrived_at_barriers) {
    emu::reset();
    const int n = 100;
    int *d = dev_alloc<int>(n);
    RIR_LAUNCH(early_exit_kernel, 1, 256, 0, nullptr, d, n);
    CHECK(cudaGetLastError() == cudaSuccess);
    auto h = from_dev(d, n);
    bool ok = true;
    for (int t = 0; t < n; ++t) ok &= h[t] == ((t + 1) % n) * 2 + 50 * 1000;
    CHECK(ok);
    cudaFree(d);
}

TEST_CASE(mma_16816_bf16_matches_a_plain_matrix_product) {
    emu::reset();
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<__nv_bfloat16> A(16 * 16), B(16 * 8);
        std::vector<float> C(16 * 8);
        for (auto &x : A) x = __float2bfloat16_rn(dist(rng));
        for (auto &x : B) x = __float2bfloat16_rn(dist(rng));
        for (auto &x : C) x = dist(rng);
        auto *dA = dev_alloc<__nv_bfloat16>(A.size());
        auto *dB = dev_alloc<__nv_bfloat16>(B.size());
        float *dC = dev_alloc<float>(C.size()), *dD = dev_alloc<float>(C.size());
        to_dev(dA, A);
        to_dev(dB, B);
        to_dev(dC, C);
        RIR_LAUNCH(mma_kernel, 1, 32, 0, nullptr, dA, dB, dC, dD);
        auto D = from_dev(dD, C.size());
        double worst = 0;
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 8; ++j) {
                double ref = C[i * 8 + j];
                for (int k = 0; k < 16; ++k)
                    ref += static_cast<double>(float(A[i * 16 + k])) * static_cast<double>(float(B[k * 8 + j]));
                worst = std::max(worst, std::fabs(ref - D[i * 8 + j]));
            }
        CHECK_MSG(worst < 1e-4, "max |D - ref| = " << worst);
        cudaFree(dA);
        cudaFree(dB);
        cudaFree(dC);
        cudaFree(dD);
    }
}

TEST_CASE(ldmatrix_x4_x2_and_trans_match_direct_reads) {
    emu::reset();
    std::vector<__nv_bfloat16> tile(256), btile(256);
    for (int i = 0; i < 256; ++i) tile[i] = __ushort_as_bfloat16(static_cast<unsigned short>(0x3f80 + i));  // distinct
    std::mt19937 rng(3);
    std::normal_distribution<float> dist;
    for (auto &x : btile) x = __float2bfloat16_rn(dist(rng));
    auto *dt = dev_alloc<__nv_bfloat16>(256);
    auto *db = dev_alloc<__nv_bfloat16>(256);
    uint32_t *dout = dev_alloc<uint32_t>(32 * 12);
    float *dD = dev_alloc<float>(128);
    to_dev(dt, tile);
    to_dev(db, btile);
    RIR_LAUNCH(ldmatrix_kernel, 1, 32, 0, nullptr, dt, db, dout, dD);
    auto out = from_dev(dout, 32 * 12);
    // Element (row, col) of matrix j (.x4 quadrants: rows 8*(j%2), cols 8*(j/2)).
    auto at = [&](int j, int row, int col) { return bits(tile[(8 * (j % 2) + row) * 16 + 8 * (j / 2) + col]); };
    auto pack = [](uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); };
    bool ok4 = true, ok4t = true, ok2 = true, ok2t = true;
    for (int l = 0; l < 32; ++l) {
        int q = l / 4, p = 2 * (l % 4);
        for (int j = 0; j < 4; ++j) {
            ok4 &= out[l * 12 + j] == pack(at(j, q, p), at(j, q, p + 1));
            ok4t &= out[l * 12 + 4 + j] == pack(at(j, p, q), at(j, p + 1, q));
        }
        for (int j = 0; j < 2; ++j) {  // .x2: matrices 0 and 1 = the two left quadrants
            ok2 &= out[l * 12 + 8 + j] == pack(at(j, q, p), at(j, q, p + 1));
            ok2t &= out[l * 12 + 10 + j] == pack(at(j, p, q), at(j, p + 1, q));
        }
    }
    CHECK(ok4);
    CHECK(ok4t);
    CHECK(ok2);
    CHECK(ok2t);
    // ldmatrix.x4 (A) + ldmatrix.x2.trans (B) + mma == A(16x16) * B(16x8), B = btile[k][n] for n < 8.
    auto D = from_dev(dD, 128);
    double worst = 0;
    for (int i = 0; i < 16; ++i)
        for (int n = 0; n < 8; ++n) {
            double ref = 0;
            for (int k = 0; k < 16; ++k) ref += double(float(tile[i * 16 + k])) * double(float(btile[k * 16 + n]));
            worst = std::max(worst, std::fabs(ref - D[i * 8 + n]) / std::max(1.0, std::fabs(ref)));
        }
    CHECK_MSG(worst < 1e-5, "ldmatrix + mma relative error " << worst);
    cudaFree(dt);
    cudaFree(db);
    cudaFree(dout);
    cudaFree(dD);
}

TEST_CASE(cp_async_copies_or_zero_fills) {
    emu::reset();
    std::vector<float4> src(64);
    for (int i = 0; i < 64; ++i) src[i] = make_float4(i, i + 0.25f, i + 0.5f, i + 0.75f);
    float4 *ds = dev_alloc<float4>(64), *dd = dev_alloc<float4>(64);
    to_dev(ds, src);
    RIR_LAUNCH(cp_async_kernel, 1, 64, 0, nullptr, ds, dd, 40);
    auto out = from_dev(dd, 64);
    bool ok = true;
    for (int t = 0; t < 64; ++t) {
        int s = 63 - t;
        float4 e = s < 40 ? src[s] : make_float4(0, 0, 0, 0);
        ok &= out[t].x == e.x && out[t].y == e.y && out[t].z == e.z && out[t].w == e.w;
    }
    CHECK(ok);
    cudaFree(ds);
    cudaFree(dd);
}

TEST_CASE(bf16_conversions_round_to_nearest_even) {
    CHECK(bits(__float2bfloat16_rn(1.0f)) == 0x3f80);
    CHECK(bits(__float2bfloat16_rn(__uint_as_float(0x3f808000u))) == 0x3f80);  // tie, even stays
    CHECK(bits(__float2bfloat16_rn(__uint_as_float(0x3f818000u))) == 0x3f82);  // tie, odd rounds up
    CHECK(bits(__float2bfloat16_rn(__uint_as_float(0x3f808001u))) == 0x3f81);
    CHECK(bits(__float2bfloat16_rn(__uint_as_float(0x7f7fffffu))) == 0x7f80);  // overflow to inf
    CHECK(bits(__float2bfloat16_rn(-INFINITY)) == 0xff80);
    CHECK(bits(__float2bfloat16_rn(NAN)) == 0x7fff);
    CHECK(std::isnan(__bfloat162float(__float2bfloat16(-NAN))));
    __nv_bfloat162 p = __floats2bfloat162_rn(1.5f, -2.0f);
    CHECK(__low2float(p) == 1.5f && __high2float(p) == -2.0f);
    float2 f = __bfloat1622float2(__float22bfloat162_rn(make_float2(3.0f, bf(0.1f))));
    CHECK(f.x == 3.0f && f.y == bf(0.1f));
    uint32_t raw;
    std::memcpy(&raw, &p, 4);
    CHECK(raw == (0x3fc0u | (0xc000u << 16)));  // .x in the low half, as on the GPU
}

TEST_CASE(invalid_launch_configurations_set_the_last_error) {
    emu::reset();
    float *d = dev_alloc<float>(4);
    unsigned long long before = emu::launches();
    RIR_LAUNCH(add_one_kernel, 1, 0, 0, nullptr, d, 4);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    RIR_LAUNCH(add_one_kernel, 0, 32, 0, nullptr, d, 4);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    RIR_LAUNCH(add_one_kernel, 1, 1025, 0, nullptr, d, 4);
    CHECK(cudaPeekAtLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, dim3(32, 32, 2), 0, nullptr, d, 4);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(emu::launches() == before);
    cudaFree(d);
}

TEST_CASE(injected_errors_fail_the_next_call_and_sticky_ones_stay) {
    emu::reset();
    float *d = dev_alloc<float>(16);
    emu::inject_error(cudaErrorMemoryAllocation);  // not sticky: one call fails
    void *p = nullptr;
    CHECK(cudaMalloc(&p, 64) == cudaErrorMemoryAllocation);
    CHECK(cudaMalloc(&p, 64) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaSuccess);
    cudaFree(p);

    emu::inject_error(cudaErrorIllegalAddress);  // sticky: the context is gone
    unsigned long long before = emu::launches();
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, nullptr, d, 16);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
    CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
    CHECK(cudaMalloc(&p, 64) == cudaErrorIllegalAddress);
    std::vector<float> h(16);
    CHECK(cudaMemcpy(h.data(), d, 64, cudaMemcpyDeviceToHost) == cudaErrorIllegalAddress);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, nullptr, d, 16);
    CHECK(emu::launches() == before);
    // Release calls report the error but still release (the backend's cleanup after a failure is checkable).
    cudaStream_t s;
    emu::reset();
    REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
    void *q = nullptr;
    REQUIRE(cudaMalloc(&q, 64) == cudaSuccess);
    emu::inject_error(cudaErrorLaunchFailure);
    CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure);
    CHECK(cudaFree(q) == cudaErrorLaunchFailure);
    CHECK(cudaStreamDestroy(s) == cudaErrorLaunchFailure);
    CHECK(emu::live_streams() == 0);
    CHECK(std::string(cudaGetErrorName(cudaErrorIllegalAddress)) == "cudaErrorIllegalAddress");
    CHECK(std::string(cudaGetErrorString(cudaErrorIllegalAddress)).find("illegal memory access") != std::string::npos);
    emu::reset();
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(emu::live_allocations() == 0);
}

TEST_CASE(memory_limit_and_bookkeeping) {
    emu::reset();
    const size_t base = emu::live_allocations();
    emu::set_memory_limit(1 << 20);
    void *a = nullptr, *b = nullptr, *h = nullptr;
    REQUIRE(cudaMalloc(&a, 512 * 1024) == cudaSuccess);
    CHECK(cudaMalloc(&b, 600 * 1024) == cudaErrorMemoryAllocation);
    CHECK(b == nullptr);
    size_t free_b = 0, total_b = 0;
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess);
    CHECK(total_b == (1u << 20) && free_b == 512 * 1024);
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
    CHECK(prop.totalGlobalMem == (1u << 20) && prop.major == 9 && prop.minor == 0 && prop.multiProcessorCount == 132);
    CHECK(std::string(prop.name) == "CUDA emulator (CPU)" && prop.sharedMemPerBlockOptin == 227 * 1024);
    REQUIRE(cudaMallocHost(&h, 100) == cudaSuccess);
    CHECK(emu::live_allocations() == base + 2);
    CHECK(cudaFree(static_cast<char *>(a) + 16) == cudaErrorInvalidValue);  // not an allocation's start
    // Copies must stay inside the device allocation.
    std::vector<char> host(1024 * 1024);
    CHECK(cudaMemcpy(a, host.data(), 512 * 1024, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(a, host.data(), 512 * 1024 + 1, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(host.data(), static_cast<char *>(a) + 1, 512 * 1024, cudaMemcpyDeviceToHost) ==
          cudaErrorInvalidValue);
    CHECK(cudaMemcpy(host.data(), a, 16, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // wrong direction
    CHECK(cudaMemset(a, 0, 512 * 1024 + 8) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(a, host.data(), 16, static_cast<cudaMemcpyKind>(7)) == cudaErrorInvalidMemcpyDirection);
    CHECK(cudaFree(a) == cudaSuccess);
    CHECK(cudaFreeHost(h) == cudaSuccess);
    CHECK(emu::live_allocations() == base);
    CHECK(emu::live_device_bytes() == 0);
    emu::reset();
}

TEST_CASE(device_count_streams_and_events) {
    emu::reset();
    int n = -1;
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 1);
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    CHECK(cudaSetDevice(0) == cudaSuccess);
    emu::set_device_count(0);
    CHECK(cudaGetDeviceCount(&n) == cudaErrorNoDevice && n == 0);
    void *p = nullptr;
    CHECK(cudaMalloc(&p, 16) == cudaErrorNoDevice);
    emu::reset();
    emu::inject_error(cudaErrorInsufficientDriver);
    CHECK(cudaGetDeviceCount(&n) == cudaErrorInsufficientDriver);
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess);
    int v = 0;
    CHECK(cudaDriverGetVersion(&v) == cudaSuccess && v >= 12000);
    CHECK(cudaRuntimeGetVersion(&v) == cudaSuccess && v >= 12000);

    cudaStream_t s;
    cudaEvent_t e0, e1, nt;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    REQUIRE(cudaEventCreate(&e0) == cudaSuccess);
    REQUIRE(cudaEventCreate(&e1) == cudaSuccess);
    REQUIRE(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming) == cudaSuccess);
    CHECK(emu::live_streams() == 1 && emu::live_events() == 3);
    float *d = dev_alloc<float>(1000);
    CHECK(cudaMemsetAsync(d, 0, 4000, s) == cudaSuccess);
    CHECK(cudaEventRecord(e0, s) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 4, 256, 0, s, d, 1000);
    CHECK(cudaEventRecord(e1, s) == cudaSuccess);
    CHECK(cudaEventRecord(nt, s) == cudaSuccess);
    CHECK(cudaStreamWaitEvent(s, e1, 0) == cudaSuccess);
    CHECK(cudaEventSynchronize(e1) == cudaSuccess);
    float ms = -1;
    CHECK(cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess && ms >= 0.0f);
    CHECK(cudaEventElapsedTime(&ms, e0, nt) == cudaErrorInvalidResourceHandle);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    std::vector<float> h(1000);
    CHECK(cudaMemcpyAsync(h.data(), d, 4000, cudaMemcpyDeviceToHost, s) == cudaSuccess);
    CHECK(h[0] == 1.0f && h[999] == 1.0f);
    CHECK(cudaEventDestroy(e0) == cudaSuccess && cudaEventDestroy(e1) == cudaSuccess && cudaEventDestroy(nt) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaErrorInvalidResourceHandle);
    CHECK(emu::live_streams() == 0 && emu::live_events() == 0);
    cudaFree(d);
    emu::reset();
}

TEST_CASE(launches_from_several_host_threads_are_serialized) {
    emu::reset();
    const int workers = 4, rounds = 20, threads = 128;
    std::vector<float *> in(workers), out(workers);
    for (int w = 0; w < workers; ++w) {
        std::vector<float> h(threads, static_cast<float>(w + 1));
        in[w] = dev_alloc<float>(threads);
        out[w] = dev_alloc<float>(1);
        to_dev(in[w], h);
    }
    std::vector<int> good(workers, 0);
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
        pool.emplace_back([&, w] {
            for (int r = 0; r < rounds; ++r) {
                RIR_LAUNCH(block_sum_kernel, 1, threads, 0, nullptr, in[w], out[w]);
                float v = 0;
                cudaMemcpy(&v, out[w], 4, cudaMemcpyDeviceToHost);
                good[w] += v == static_cast<float>((w + 1) * threads);
            }
        });
    for (auto &t : pool) t.join();
    for (int w = 0; w < workers; ++w) {
        CHECK(good[w] == rounds);
        cudaFree(in[w]);
        cudaFree(out[w]);
    }
}

TEST_CASE(scheduler_is_fast_enough_for_barrier_heavy_kernels) {
    emu::reset();
    const int blocks = 20, threads = 512, iters = 300;  // 10 240 threads x 600 barriers
    float *d = dev_alloc<float>(blocks * threads);
    auto t0 = std::chrono::steady_clock::now();
    RIR_LAUNCH(stress_kernel, blocks, threads, 0, nullptr, d, iters);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "  %d threads x %d barriers: %.3f s\n", blocks * threads, 2 * iters, secs);
    auto h = from_dev(d, blocks * threads);
    // Reference on the host: the same recurrence, sequentially.
    std::vector<float> s(threads);
    std::vector<float> acc(threads, 0.0f);
    for (int t = 0; t < threads; ++t) s[t] = static_cast<float>(t);
    for (int i = 0; i < iters; ++i) {
        for (int t = 0; t < threads; ++t) acc[t] += s[(t + i) % threads];
        s[i % threads] += 1.0f;
    }
    bool ok = true;
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < threads; ++t) ok &= h[b * threads + t] == acc[t];
    CHECK(ok);
    CHECK_MSG(secs < 20.0, "took " << secs << " s");
    cudaFree(d);
}

TEST_CASE(deadlocks_are_reported_not_hung) {
    emu::reset();
    int *d = dev_alloc<int>(32);
    std::fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Child: the emulator must abort with a diagnostic (stderr stays visible in the test log).
        RIR_LAUNCH(deadlock_kernel, 1, 32, 0, nullptr, d);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    cudaFree(d);
}

TEST_CASE(strict_mode_stops_shuffles_from_absent_lanes) {
    emu::reset();
    int *d = dev_alloc<int>(50 * 5);
    std::fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        emu::set_strict(true);
        RIR_LAUNCH(partial_warp_kernel, 1, 50, 0, nullptr, d);  // lane 17 of the 18-lane warp reads lane 18
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    cudaFree(d);
}

// ---------------------------------------------------------------------------------------------------------------
// Fake cuBLASLt, loaded the way the backend loads the real one.
namespace {
struct Lt {
    void *so = nullptr;
    rir::lt::PFN_Create create;
    rir::lt::PFN_Destroy destroy;
    rir::lt::PFN_GetStatusString status_string;
    rir::lt::PFN_MatmulDescCreate desc_create;
    rir::lt::PFN_MatmulDescDestroy desc_destroy;
    rir::lt::PFN_MatmulDescSetAttribute desc_set;
    rir::lt::PFN_MatrixLayoutCreate layout_create;
    rir::lt::PFN_MatrixLayoutDestroy layout_destroy;
    rir::lt::PFN_MatmulPreferenceCreate pref_create;
    rir::lt::PFN_MatmulPreferenceDestroy pref_destroy;
    rir::lt::PFN_MatmulPreferenceSetAttribute pref_set;
    rir::lt::PFN_MatmulAlgoGetHeuristic heuristic;
    rir::lt::PFN_Matmul matmul;
    long (*live)();
};

bool load(Lt &lt) {
    const char *path = std::getenv("FAKE_CUBLASLT_LIB");
#ifdef FAKE_CUBLASLT_PATH
    if (!path) path = FAKE_CUBLASLT_PATH;
#endif
    if (!path) path = "libfake_cublaslt.so";
    lt.so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lt.so) {
        std::fprintf(stderr, "  dlopen(%s): %s\n", path, dlerror());
        return false;
    }
    auto sym = [&](const char *name) { return dlsym(lt.so, name); };
    lt.create = reinterpret_cast<rir::lt::PFN_Create>(sym("cublasLtCreate"));
    lt.destroy = reinterpret_cast<rir::lt::PFN_Destroy>(sym("cublasLtDestroy"));
    lt.status_string = reinterpret_cast<rir::lt::PFN_GetStatusString>(sym("cublasLtGetStatusString"));
    lt.desc_create = reinterpret_cast<rir::lt::PFN_MatmulDescCreate>(sym("cublasLtMatmulDescCreate"));
    lt.desc_destroy = reinterpret_cast<rir::lt::PFN_MatmulDescDestroy>(sym("cublasLtMatmulDescDestroy"));
    lt.desc_set = reinterpret_cast<rir::lt::PFN_MatmulDescSetAttribute>(sym("cublasLtMatmulDescSetAttribute"));
    lt.layout_create = reinterpret_cast<rir::lt::PFN_MatrixLayoutCreate>(sym("cublasLtMatrixLayoutCreate"));
    lt.layout_destroy = reinterpret_cast<rir::lt::PFN_MatrixLayoutDestroy>(sym("cublasLtMatrixLayoutDestroy"));
    lt.pref_create = reinterpret_cast<rir::lt::PFN_MatmulPreferenceCreate>(sym("cublasLtMatmulPreferenceCreate"));
    lt.pref_destroy = reinterpret_cast<rir::lt::PFN_MatmulPreferenceDestroy>(sym("cublasLtMatmulPreferenceDestroy"));
    lt.pref_set =
        reinterpret_cast<rir::lt::PFN_MatmulPreferenceSetAttribute>(sym("cublasLtMatmulPreferenceSetAttribute"));
    lt.heuristic = reinterpret_cast<rir::lt::PFN_MatmulAlgoGetHeuristic>(sym("cublasLtMatmulAlgoGetHeuristic"));
    lt.matmul = reinterpret_cast<rir::lt::PFN_Matmul>(sym("cublasLtMatmul"));
    lt.live = reinterpret_cast<long (*)()>(sym("fakeCublasLtLiveObjects"));
    return lt.create && lt.destroy && lt.status_string && lt.desc_create && lt.desc_destroy && lt.desc_set &&
           lt.layout_create && lt.layout_destroy && lt.pref_create && lt.pref_destroy && lt.pref_set &&
           lt.heuristic && lt.matmul && lt.live && sym("cublasLtGetVersion");
}

// One GEMM through the whole API: D[m x n] = alpha op(A) op(B) + beta C, all column-major with the given lds.
// Returns the status of the first failing call.
struct Gemm {
    int ta, tb, ab_type, cd_type;
    uint64_t m, n, k;
    int64_t lda, ldb, ldc;
    float alpha, beta;
};
int run_gemm(Lt &lt, const Gemm &g, const void *A, const void *B, const void *C, void *D) {
    using namespace rir::lt;
    Handle h;
    MatmulDesc desc;
    MatrixLayout la, lb, lc;
    MatmulPreference pref;
    int st = lt.create(&h);
    if (st) return st;
    lt.desc_create(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    int32_t ta = g.ta, tb = g.tb;
    lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
    lt.desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
    uint32_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    lt.desc_set(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi));
    lt.layout_create(&la, g.ab_type, g.ta ? g.k : g.m, g.ta ? g.m : g.k, g.lda);
    lt.layout_create(&lb, g.ab_type, g.tb ? g.n : g.k, g.tb ? g.k : g.n, g.ldb);
    lt.layout_create(&lc, g.cd_type, g.m, g.n, g.ldc);  // C and D share a layout here
    lt.pref_create(&pref);
    uint64_t ws = 0;
    lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    HeuristicResult res;
    int returned = 0;
    st = lt.heuristic(h, desc, la, lb, lc, lc, pref, 1, &res, &returned);
    if (st == 0 && returned != 1) st = -1;
    if (st == 0)
        st = lt.matmul(h, desc, &g.alpha, A, la, B, lb, &g.beta, C, lc, D, lc, &res.algo, nullptr, 0, nullptr);
    lt.pref_destroy(pref);
    lt.layout_destroy(la);
    lt.layout_destroy(lb);
    lt.layout_destroy(lc);
    lt.desc_destroy(desc);
    lt.destroy(h);
    return st;
}
}  // namespace

TEST_CASE(fake_cublaslt_all_transposes_and_types_match_a_naive_product) {
    Lt lt;
    REQUIRE(load(lt));
    std::mt19937 rng(11);
    std::normal_distribution<float> dist;
    const uint64_t m = 37, n = 21, k = 53;
    for (int types = 0; types < 3; ++types) {
        // 0: bf16 in, bf16 out; 1: bf16 in, fp32 out; 2: fp32 in, fp32 out
        const int abt = types == 2 ? rir::lt::CUDA_R_32F : rir::lt::CUDA_R_16BF;
        const int cdt = types == 0 ? rir::lt::CUDA_R_16BF : rir::lt::CUDA_R_32F;
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) {
                Gemm g{ta, tb, abt, cdt, m, n, k, 0, 0, 0, 1.5f, -0.5f};
                const uint64_t arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
                g.lda = static_cast<int64_t>(arows + 3);  // padded leading dimensions
                g.ldb = static_cast<int64_t>(brows + 1);
                g.ldc = static_cast<int64_t>(m + 2);
                std::vector<float> Af(g.lda * acols), Bf(g.ldb * bcols), Cf(g.ldc * n);
                for (auto &x : Af) x = bf(dist(rng));
                for (auto &x : Bf) x = bf(dist(rng));
                for (auto &x : Cf) x = bf(dist(rng));
                auto as_bf = [](const std::vector<float> &v) {
                    std::vector<__nv_bfloat16> o(v.size());
                    for (size_t i = 0; i < v.size(); ++i) o[i] = __float2bfloat16_rn(v[i]);
                    return o;
                };
                std::vector<__nv_bfloat16> Ab = as_bf(Af), Bb = as_bf(Bf), Cb = as_bf(Cf), Db(Cf.size());
                std::vector<float> Df(Cf.size());
                const void *A = abt == rir::lt::CUDA_R_32F ? (const void *)Af.data() : (const void *)Ab.data();
                const void *B = abt == rir::lt::CUDA_R_32F ? (const void *)Bf.data() : (const void *)Bb.data();
                const void *C = cdt == rir::lt::CUDA_R_32F ? (const void *)Cf.data() : (const void *)Cb.data();
                void *D = cdt == rir::lt::CUDA_R_32F ? (void *)Df.data() : (void *)Db.data();
                int st = run_gemm(lt, g, A, B, C, D);
                CHECK_MSG(st == 0, "status " << st << " ta=" << ta << " tb=" << tb << " types=" << types);
                double worst = 0;
                for (uint64_t i = 0; i < m; ++i)
                    for (uint64_t j = 0; j < n; ++j) {
                        double ref = 0;
                        for (uint64_t q = 0; q < k; ++q) {
                            double a = ta ? Af[q + i * g.lda] : Af[i + q * g.lda];
                            double b = tb ? Bf[j + q * g.ldb] : Bf[q + j * g.ldb];
                            ref += a * b;
                        }
                        ref = g.alpha * ref + g.beta * Cf[i + j * g.ldc];
                        double got = cdt == rir::lt::CUDA_R_32F ? Df[i + j * g.ldc] : float(Db[i + j * g.ldc]);
                        worst = std::max(worst, std::fabs(got - ref) / std::max(1.0, std::fabs(ref)));
                    }
                const double tol = cdt == rir::lt::CUDA_R_16BF ? 1e-2 : 1e-5;
                CHECK_MSG(worst < tol, "rel err " << worst << " ta=" << ta << " tb=" << tb << " types=" << types);
            }
    }
    CHECK(lt.live() == 0);
}

TEST_CASE(fake_cublaslt_validates_like_the_real_library) {
    Lt lt;
    REQUIRE(load(lt));
    using namespace rir::lt;
    std::vector<float> A(64 * 64, 1.0f), B(64 * 64, 1.0f), C(64 * 64, 0.0f);
    // ld < rows
    Gemm g{0, 0, CUDA_R_32F, CUDA_R_32F, 8, 8, 8, 4, 8, 8, 1.0f, 0.0f};
    CHECK(run_gemm(lt, g, A.data(), B.data(), C.data(), C.data()) == CUBLAS_STATUS_INVALID_VALUE);
    // fp32 inputs with bf16 output: not a supported combination
    g = Gemm{0, 0, CUDA_R_32F, CUDA_R_16BF, 8, 8, 8, 8, 8, 8, 1.0f, 0.0f};
    CHECK(run_gemm(lt, g, A.data(), B.data(), C.data(), C.data()) == CUBLAS_STATUS_NOT_SUPPORTED);
    // mismatched inner dimensions: build the layouts by hand
    Handle h;
    REQUIRE(lt.create(&h) == 0);
    MatmulDesc desc;
    MatrixLayout la, lb, lc;
    MatmulPreference pref;
    lt.desc_create(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    lt.layout_create(&la, CUDA_R_32F, 8, 5, 8);
    lt.layout_create(&lb, CUDA_R_32F, 6, 8, 6);
    lt.layout_create(&lc, CUDA_R_32F, 8, 8, 8);
    lt.pref_create(&pref);
    HeuristicResult res;
    int returned = 7;
    CHECK(lt.heuristic(h, desc, la, lb, lc, lc, pref, 1, &res, &returned) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(returned == 0);
    float one = 1.0f, zero = 0.0f;
    CHECK(lt.matmul(h, desc, &one, A.data(), la, B.data(), lb, &zero, C.data(), lc, C.data(), lc, nullptr, nullptr, 0,
                    nullptr) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(std::string(lt.status_string(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
    // The failure knob.
    lt.layout_destroy(lb);
    lt.layout_create(&lb, CUDA_R_32F, 5, 8, 5);
    CHECK(lt.matmul(h, desc, &one, A.data(), la, B.data(), lb, &zero, C.data(), lc, C.data(), lc, nullptr, nullptr, 0,
                    nullptr) == CUBLAS_STATUS_SUCCESS);
    CHECK(C[0] == 5.0f);
    setenv("FAKE_CUBLASLT_FAIL", "matmul", 1);
    CHECK(lt.matmul(h, desc, &one, A.data(), la, B.data(), lb, &zero, C.data(), lc, C.data(), lc, nullptr, nullptr, 0,
                    nullptr) == CUBLAS_STATUS_EXECUTION_FAILED);
    unsetenv("FAKE_CUBLASLT_FAIL");
    lt.pref_destroy(pref);
    lt.layout_destroy(la);
    lt.layout_destroy(lb);
    lt.layout_destroy(lc);
    lt.desc_destroy(desc);
    lt.destroy(h);
    CHECK(lt.live() == 0);
}

TEST_CASE(fake_cublaslt_is_fast_enough_for_model_shapes) {
    Lt lt;
    REQUIRE(load(lt));
    using namespace rir::lt;
    // The engine's projection shape: D[N=1024, T=512] = W[K=4096, N]^T (stored K x N col-major = N x K row-major)
    // times X[K, T]: TN with bf16 in and out.
    const uint64_t N = 1024, T = 512, K = 4096;
    std::vector<__nv_bfloat16> W(K * N), X(K * T), D(N * T);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto &x : W) x = __float2bfloat16_rn(dist(rng));
    for (auto &x : X) x = __float2bfloat16_rn(dist(rng));
    Gemm g{1, 0, CUDA_R_16BF, CUDA_R_16BF, N, T, K, static_cast<int64_t>(K), static_cast<int64_t>(K),
           static_cast<int64_t>(N), 1.0f, 0.0f};
    auto t0 = std::chrono::steady_clock::now();
    CHECK(run_gemm(lt, g, W.data(), X.data(), nullptr, D.data()) == 0);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "  [%llu x %llu] x [%llu x %llu] bf16 GEMM: %.3f s\n", (unsigned long long)N,
                 (unsigned long long)K, (unsigned long long)K, (unsigned long long)T, secs);
    // Spot-check a few outputs.
    for (uint64_t idx : {uint64_t(0), uint64_t(777), N * T - 1}) {
        uint64_t i = idx % N, j = idx / N;
        double ref = 0;
        for (uint64_t q = 0; q < K; ++q) ref += double(float(W[q + i * K])) * double(float(X[q + j * K]));
        CHECK_NEAR(float(D[idx]), ref, 0.02 * std::max(1.0, std::fabs(ref)));
    }
    CHECK_MSG(secs < 30.0, "took " << secs << " s");
}

// `test_emu --probe`: prints what the environment configured (for environment_configuration_at_start).
int probe() {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    std::printf("devices %d (%s%s%s)\n", n, cudaGetErrorName(e), e ? ": " : "", e ? cudaGetErrorString(e) : "");
    for (int d = 0; d < n; ++d) {
        cudaDeviceProp p;
        cudaGetDeviceProperties(&p, d);
        std::printf("device %d: %zu bytes, %s\n", d, p.totalGlobalMem, emu::fault_pending(d) ? "fault pending" : "no fault");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && std::string(argv[1]) == "--probe") return probe();
    return check::run_all();
}
