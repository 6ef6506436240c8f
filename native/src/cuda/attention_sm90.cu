// attention_sm90.cu: the attention of attention.cu (same function, same rounding points: twin cpu::attention in BF16
// mode) for Hopper (sm_90a): TMA loads into a multi-stage shared-memory ring guarded by mbarriers, wgmma for both
// products, a producer warpgroup and two consumer warpgroups. Design and reasoning: docs/attention-sm90.md.
//
// One CTA = kAttnSm90QueryTile (128) query rows of one head of one sequence; grid = tiles x heads, tile-major (as
// attention.cu, from schedule.h's attention_tiles(cu, n, 128)). Threads 0-127 (warpgroup 0) produce: one thread
// issues the TMA loads of Q (once) and of every 64-key step's K and V boxes. Warpgroups 1 and 2 consume, 64 query
// rows each: S = Q K^T (wgmma m64n64k16, both operands in shared memory, K-major), the online softmax over the 64-key
// block in registers, P rounded to bf16 into A-register fragments, O += P V (wgmma m64n{HD}k16, A from registers, V
// MN-major). The softmax steps in 64-key blocks exactly as the CPU twin (kAttnKeyBlock), so each output is r(O / l)
// of the same rounded P.
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "cuda/check.h"
#include "cuda/kernels.h"
#include "cuda/ptx_sm90.cuh"
#include "cuda/tma.h"
#include "error.h"

// The kernel body exists for sm_90a and in the emulator; the other device passes (sm_80, sm_89) and the host pass
// compile a body that traps (never launched: the backend picks this kernel on 9.x devices only).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || defined(REASONIR_CUDA_EMU)
#define RIR_ATTN_SM90_BODY 1
#else
#define RIR_ATTN_SM90_BODY 0
#endif

namespace rir {
namespace cuda {

namespace {

constexpr int kBQ = kAttnSm90QueryTile;  // 128 query rows: two consumer warpgroups of 64
constexpr int kBK = kAttnKeyTile;        // 64 keys per step = the softmax block of the twin
constexpr int kBox = 64;                 // a TMA box: 64 rows x 64 bf16 columns (128 bytes: the 128B swizzle span)
constexpr int kBoxBytes = kBox * kBox * 2;
constexpr int kStages = 4;               // K/V ring slots
constexpr int kThreads = 3 * 128;        // producer warpgroup + 2 consumer warpgroups
static_assert(kBQ == 2 * 64 && kBK == kBox, "two m64 consumer warpgroups; one key box per step");
static_assert(kBoxBytes % 1024 == 0, "every box starts on a 128B-swizzle atom (1024 bytes)");

// Shared-memory layout (offsets from a 1024-byte aligned base). Every [64 rows][64 cols] box is what one TMA load
// writes, 128B-swizzled. Q: box (b, half) = head-dim columns 64b.. of query rows 64 half.. at (2b + half) boxes, so
// that consumer c's 64 rows of column block b are one box. K and V of slot s: NB boxes each, by column block.
template <int HD>
struct Smem {
    static constexpr int NB = HD / 64;                      // column blocks of a head
    static constexpr int q_bytes = 2 * NB * kBoxBytes;
    static constexpr int kv_bytes = NB * kBoxBytes;         // K (or V) of one slot
    static constexpr int off_k = q_bytes;
    static constexpr int off_v = off_k + kStages * kv_bytes;
    static constexpr int off_bar = off_v + kStages * kv_bytes;
    static constexpr int bytes = off_bar + (2 * kStages + 1) * 8;  // full[kStages], empty[kStages], q_full
    static constexpr size_t alloc = bytes + 1024;           // + room to round the base up to 1024 bytes
};

#if RIR_ATTN_SM90_BODY
constexpr int kConsumerWarps = 8;        // arrivals that free a ring slot: one per consumer warp
constexpr int kBarTurn = 1;              // named barriers kBarTurn + c: consumer warpgroup c may issue its GEMMs
constexpr int kProducerRegs = 40, kConsumerRegs = 232;  // 128 x 40 + 256 x 232 = 64512 <= 65536 registers

// Keeps the compiler from moving reads or writes of wgmma operand registers across wgmma_wait_group: to it, the
// asynchronous instruction consumed and produced them at issue. (The emulator needs nothing.)
template <int R>
__device__ __forceinline__ void keep(float (&r)[R]) {
#if !defined(REASONIR_CUDA_EMU)
#pragma unroll
    for (int i = 0; i < R; ++i) asm volatile("" : "+f"(r[i])::"memory");
#else
    (void)r;
#endif
}
template <int R>
__device__ __forceinline__ void keep(uint32_t (&r)[R][4]) {
#if !defined(REASONIR_CUDA_EMU)
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(r[i][e])::"memory");
#else
    (void)r;
#endif
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low 16 bits) = lo
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}
#endif

// k_col / v_col: column of kv head 0's K / V in the map (a.k - a.q, a.v - a.q).
template <int HD>
__global__ void __launch_bounds__(kThreads, 1)
    attention_sm90_kernel(const __grid_constant__ CUtensorMap map, AttentionArgs a, int k_col, int v_col) {
#if RIR_ATTN_SM90_BODY
    using namespace sm90;
    using L = Smem<HD>;
    constexpr int NB = L::NB, KS = HD / 16;  // column blocks; k-steps of S = Q K^T over the head dimension
    RIR_DYNAMIC_SMEM(unsigned char, smem_raw);
    unsigned char *smem = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);
    unsigned char *sQ = smem, *sK = smem + L::off_k, *sV = smem + L::off_v;
    uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::off_bar), *empty = full + kStages, *q_full = empty + kStages;

    const int tile_idx = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
    const AttnTile tile = a.tiles[tile_idx];
    const int kvh = h / (a.heads / a.kv_heads);
    const int n_kt = (tile.k_end - tile.k_begin + kBK - 1) / kBK;
    // The warpgroup index through a shuffle: ptxas then knows it is warp-uniform, and does not serialize the wgmma
    // of the consumer branch as if they sat on a divergent path.
    const int wg = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);

    if (threadIdx.x == 0) {
        for (int s = 0; s < kStages; ++s) {
            mbarrier_init(&full[s], 1);                // the producer's arrive.expect_tx; then the TMA bytes
            mbarrier_init(&empty[s], kConsumerWarps);  // lane 0 of every consumer warp
        }
        mbarrier_init(q_full, 1);
        fence_barrier_init();
    }
    __syncthreads();

    if (wg == 0) {
        // Producer. Registers go to the consumers; one thread issues every copy, the others are done.
        setmaxnreg_dec<kProducerRegs>();
        if (threadIdx.x == 0) {
            const int qc = h * HD, kc = k_col + kvh * HD, vc = v_col + kvh * HD;
            mbarrier_arrive_expect_tx(q_full, L::q_bytes);
            for (int b = 0; b < NB; ++b)
                for (int half = 0; half < 2; ++half)
                    tma_load_2d(sQ + (2 * b + half) * kBoxBytes, &map, qc + 64 * b, tile.q_begin + 64 * half, q_full);
            for (int kt = 0; kt < n_kt; ++kt) {
                const int slot = kt % kStages;
                // The slot's previous tile (kt - kStages) must have been released by both consumer warpgroups: that
                // is the (kt / kStages)-th completion of empty[slot], phase parity (kt / kStages - 1) & 1. The first
                // pass over the ring does not wait (no phase of a fresh barrier has completed).
                if (kt >= kStages) mbarrier_wait(&empty[slot], static_cast<uint32_t>((kt / kStages - 1) & 1));
                mbarrier_arrive_expect_tx(&full[slot], 2 * L::kv_bytes);
                const int32_t row = tile.k_begin + kt * kBK;  // rows past the tensor end arrive as zeros
                for (int b = 0; b < NB; ++b) {
                    tma_load_2d(sK + slot * L::kv_bytes + b * kBoxBytes, &map, kc + 64 * b, row, &full[slot]);
                    tma_load_2d(sV + slot * L::kv_bytes + b * kBoxBytes, &map, vc + 64 * b, row, &full[slot]);
                }
            }
        }
        return;
    }

    // Consumer warpgroup c: query rows 64c .. 64c + 63 of the tile.
    setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
    const int g = lane >> 2, t4 = lane & 3;           // D fragment: rows g, g + 8 of the warp's 16; columns 2t4, +1
    const float sl2 = a.scale * 1.4426950408889634f;  // exp(x * scale) = exp2(x * scale * log2(e))

    float o[HD / 2];   // O (64 x HD) fragment
    float s[kBK / 2];  // S (64 x 64) fragment, then p
    uint32_t pa[4][4]; // r(P) as the A fragments of the four 16-key k-steps of P V
#pragma unroll
    for (int i = 0; i < HD / 2; ++i) o[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < kBK / 2; ++i) s[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) pa[i][0] = pa[i][1] = pa[i][2] = pa[i][3] = 0u;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};

    // Descriptors. Q / K (K-major, 128B swizzle): k-step kk is column block kk / 4, 32 bytes per 16 columns inside
    // the 128-byte row; SBO = 1024 (the next 8 rows), LBO unused. V (MN-major): k-step kk = keys 16kk.. = 16 rows of
    // 128 bytes further (2048 bytes); LBO = the next 64 head-dim columns (the next box), SBO = 1024 (8 key rows).
    const unsigned char *sQc = sQ + c * kBoxBytes;
    auto q_desc = [&](int kk) {
        return smem_desc(sQc + (kk / 4) * 2 * kBoxBytes + (kk % 4) * 32, 16, 1024, Swizzle::B128);
    };
    auto k_desc = [&](int slot, int kk) {
        return smem_desc(sK + slot * L::kv_bytes + (kk / 4) * kBoxBytes + (kk % 4) * 32, 16, 1024, Swizzle::B128);
    };
    auto v_desc = [&](int slot, int kk) {
        return smem_desc(sV + slot * L::kv_bytes + kk * 2048, kBoxBytes, 1024, Swizzle::B128);
    };
    // O += P V of the slot's 64 keys (4 k-steps), as one commit group.
    auto issue_pv = [&](int slot) {
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) wgmma_rs<HD, 1>(o, pa[kk], v_desc(slot, kk), true);
        wgmma_commit_group();
    };
    // The ring slot's K and V are no longer read by this warp (its wgmma reading them have retired).
    auto release = [&](int slot) {
        if (lane == 0) mbarrier_arrive(&empty[slot]);
    };

    mbarrier_wait(q_full, 0);
    // Ping-pong: consumer 0 issues first; consumer 1 opens its first turn here. Every bar.sync of one warpgroup has
    // exactly one bar.arrive of the other (consumer 1 skips its hand-over after its last iteration).
    if (c == 1) named_barrier_arrive(kBarTurn + 0, 256);

    // One 64-key step. The first (FIRST = true) has no previous P V to issue: a separate instantiation rather than a
    // branch, because a branch between wgmma_fence and the wgmma makes the compiler put register moves there, and
    // ptxas then serializes every wgmma of the kernel.
    auto step = [&](int kt, auto first) {
        constexpr bool FIRST = decltype(first)::value;
        const int slot = kt % kStages, prev = (kt + kStages - 1) % kStages;
        const int32_t k0 = tile.k_begin + kt * kBK;
        mbarrier_wait(&full[slot], static_cast<uint32_t>((kt / kStages) & 1));

        // In this warpgroup's turn: S_kt = Q K_kt^T, then O += P_{kt-1} V_{kt-1} (the previous step's P: the
        // softmax below overlaps that product on the tensor cores). Then the other warpgroup's turn.
        named_barrier_sync(kBarTurn + c, 256);
        keep(o);
        keep(pa);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < KS; ++kk) wgmma_ss<kBK, 0>(s, q_desc(kk), k_desc(slot, kk), kk > 0);
        wgmma_commit_group();
        if constexpr (!FIRST) issue_pv(prev);
        if (c == 0 || kt + 1 < n_kt) named_barrier_arrive(kBarTurn + (1 - c), 256);
        if constexpr (FIRST) wgmma_wait_group<0>();
        else wgmma_wait_group<1>();  // S_kt is done; P_{kt-1} V_{kt-1} may still run
        keep(s);

        // Keys past the end of the sequence (the next sequence's rows, or zeros past the tensor end) take no part.
        if (k0 + kBK > tile.k_end) {
#pragma unroll
            for (int j = 0; j < kBK / 8; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (k0 + j * 8 + 2 * t4 + (e & 1) >= tile.k_end) s[4 * j + e] = -INFINITY;
        }
        // Online softmax of rows g (r = 0: elements 0, 1 of each n8 tile) and g + 8 (r = 1: elements 2, 3); the four
        // lanes of a quad hold a row's 64 scores. Same operations as attention.cu.
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < kBK / 8; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m_run[r], mx);  // finite: every key step holds at least one key of the sequence
            alpha[r] = exp2f((m_run[r] - m_new) * sl2);  // 0 on the first step (m_run = -inf)
            m_run[r] = m_new;
            l_run[r] *= alpha[r];
#pragma unroll
            for (int j = 0; j < kBK / 8; ++j)
#pragma unroll
                for (int e = 2 * r; e < 2 * r + 2; ++e) {
                    const float p = exp2f((s[4 * j + e] - m_new) * sl2);
                    s[4 * j + e] = p;
                    l_run[r] += p;  // the row sum uses the unrounded fp32 p (this lane's share; quad-reduced at the end)
                }
        }
        if constexpr (!FIRST) {
            wgmma_wait_group<0>();  // P_{kt-1} V_{kt-1} is in O; slot prev is no longer read
            keep(o);
            keep(pa);
            release(prev);
        }
        // O_kt = O_{kt-1} * alpha + P_kt V_kt: rescale now, add the product in the next iteration (or after the loop).
#pragma unroll
        for (int j = 0; j < HD / 8; ++j) {
            o[4 * j + 0] *= alpha[0];
            o[4 * j + 1] *= alpha[0];
            o[4 * j + 2] *= alpha[1];
            o[4 * j + 3] *= alpha[1];
        }
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) {
            pa[kk][0] = pack_bf16(s[8 * kk + 0], s[8 * kk + 1]);
            pa[kk][1] = pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
            pa[kk][2] = pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
            pa[kk][3] = pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
        }
    };
    step(0, std::true_type());
    for (int kt = 1; kt < n_kt; ++kt) step(kt, std::false_type());
    // The last step's P V. Its slot is not released: the producer has no further tile to put there.
    keep(o);
    keep(pa);
    wgmma_fence();
    issue_pv((n_kt - 1) % kStages);
    wgmma_wait_group<0>();
    keep(o);

    // out = r(O / l) for the rows that exist (every column exists: 64 | HD).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int32_t row = tile.q_begin + 64 * c + 16 * warp + g + 8 * r;
        if (row >= tile.q_end) continue;
        bf16 *orow = a.out + static_cast<int64_t>(row) * a.ld_out + static_cast<int64_t>(h) * HD;
#pragma unroll
        for (int j = 0; j < HD / 8; ++j) {
            const uint32_t bits = pack_bf16(o[4 * j + 2 * r] / l_run[r], o[4 * j + 2 * r + 1] / l_run[r]);
            memcpy(orow + 8 * j + 2 * t4, &bits, sizeof bits);  // 4-byte aligned: ld_out, h * HD and the column are even
        }
    }
#else
    __trap();  // an sm_80/sm_89 pass of the build: never launched there
#endif
}

template <int HD>
void launch(const AttentionArgs &a, int64_t total_tokens, cudaStream_t stream) {
    const int64_t k_col = a.k - a.q, v_col = a.v - a.q;
    const int64_t qd = static_cast<int64_t>(a.heads) * HD, kvd = static_cast<int64_t>(a.kv_heads) * HD;
    auto bad = [](const std::string &what) { throw Error(RIR_ERR_INVALID_ARGUMENT, "attention sm90: " + what); };
    if (a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0) bad("heads must be a multiple of kv_heads");
    if (reinterpret_cast<uintptr_t>(a.q) % 16 != 0 || a.ld_qkv % 8 != 0)
        bad("the QKV buffer and its rows must be 16-byte aligned (TMA), ld_qkv " + std::to_string(a.ld_qkv));
    if (qd > a.ld_qkv || k_col < qd || v_col < k_col + kvd || v_col + kvd > a.ld_qkv)
        bad("q, k, v must be consecutive column ranges of one row of ld_qkv " + std::to_string(a.ld_qkv) + " columns");
    if (total_tokens <= 0 || total_tokens > INT32_MAX) bad("total_tokens " + std::to_string(total_tokens));
    if (a.ld_out % 2 != 0) bad("ld_out must be even");
    // One map over the whole fused buffer; q, k and v of a head are column offsets. Box 64 x 64 with 128B swizzle.
    CUtensorMap map;
    make_tensor_map_2d_bf16(&map, a.q, static_cast<uint64_t>(total_tokens), static_cast<uint64_t>(a.ld_qkv),
                            static_cast<uint64_t>(a.ld_qkv) * 2, kBox, kBox, sm90::Swizzle::B128);
    auto *k = attention_sm90_kernel<HD>;
    const unsigned grid = static_cast<unsigned>(static_cast<int64_t>(a.n_tiles) * a.heads);
    RIR_LAUNCH(k, grid, kThreads, Smem<HD>::alloc, stream, map, a, static_cast<int>(k_col), static_cast<int>(v_col));
}

}  // namespace

bool attention_sm90_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }

size_t attention_sm90_smem_bytes(int head_dim) {
    switch (head_dim) {
        case 64: return Smem<64>::alloc;
        case 128: return Smem<128>::alloc;
        default: return 0;
    }
}

[[noreturn]] static void unsupported(int head_dim) {
    throw Error(RIR_ERR_INVALID_ARGUMENT,
                "attention sm90: head_dim " + std::to_string(head_dim) + " is not supported (64, 128)");
}

void attention_sm90_prepare(int head_dim) {
    const int bytes = static_cast<int>(attention_sm90_smem_bytes(head_dim));
    constexpr cudaFuncAttribute attr = cudaFuncAttributeMaxDynamicSharedMemorySize;
    switch (head_dim) {
        case 64: check(cudaFuncSetAttribute(attention_sm90_kernel<64>, attr, bytes), "attention sm90 smem limit"); break;
        case 128: check(cudaFuncSetAttribute(attention_sm90_kernel<128>, attr, bytes), "attention sm90 smem limit"); break;
        default: unsupported(head_dim);
    }
}

std::string attention_sm90_unavailable() {
    // CMakeLists.txt defines REASONIR_CUDA_SM90A when CMAKE_CUDA_ARCHITECTURES has 90a (the default list does). Known
    // at build time, so the answer cannot depend on how a driver reports JIT-compiled code.
#if defined(REASONIR_CUDA_EMU) || defined(REASONIR_CUDA_SM90A)
    return "";
#else
    return "the sm90 attention kernel is not in this build (CMAKE_CUDA_ARCHITECTURES has no 90a)";
#endif
}

void attention_sm90(const AttentionArgs &a, int64_t total_tokens, cudaStream_t stream) {
    if (!attention_sm90_supports(a.head_dim)) unsupported(a.head_dim);
    if (a.n_tiles <= 0) return;
    if (a.head_dim == 64) launch<64>(a, total_tokens, stream);
    else launch<128>(a, total_tokens, stream);
}

}  // namespace cuda
}  // namespace rir
