// attention.cu: bidirectional flash-style attention over the packed varlen batch (kernels.h, attention).
// CPU twin: cpu::attention in BF16 mode (cpu/attention_kernel.inc), which rounds at the same points.
//
// One block = 4 warps = 64 query rows of one head of one sequence (a tile of schedule.h's attention_tiles(); the grid
// is tiles x heads, flattened so that the longest sequences start first). The block walks the sequence's keys in
// tiles of 64: S = Q K^T on tensor cores (mma.m16n8k16, bf16 in, fp32 accumulate), an online softmax in fp32 (running
// max and row sum; scores never leave registers, nothing of size T x T exists), P rounded to bf16, O += P V on tensor
// cores, and finally O / l rounded to bf16. Query head h reads kv head h / (heads / kv_heads) straight from the fused
// QKV buffer (GQA without a copy). K and V tiles are double-buffered in shared memory with cp.async (the next tile
// loads while this one is computed). Shared-memory rows are XOR-swizzled in 16-byte chunks (chunk c of row r lives
// at c ^ (r % 8)) so that ldmatrix's 8 rows hit 8 different bank groups.
//
// Head dims: the kernel is instantiated for padded widths HD = 64, 128 (tuned: ReasonIR-8B) and 256; a head_dim d <=
// HD is zero-padded in shared memory (zeros add nothing to dot products and produce columns that are not stored).
// d % 8 != 0 takes an element-wise load path (rows are then not 16-byte aligned).
#include <cmath>
#include <cstring>

#include "cuda/device_util.cuh"
#include "cuda/kernels.h"
#include "cuda/ptx.cuh"

namespace rir {
namespace cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBQ = kAttnQueryTile;  // 64 = kWarps * 16 query rows
constexpr int kBK = kAttnKeyTile;    // 64 keys per step
static_assert(kBQ == kWarps * 16, "one m16 row tile per warp");
static_assert(kBK == 64, "the score tile is 8 n8 tiles per warp");

__device__ __forceinline__ int swz(int row, int chunk) { return chunk ^ (row & 7); }

// Rows [r0, r0 + 64) of a [*, ld] bf16 matrix (columns [0, d)) into a swizzled [64][HD] shared tile; rows >= r_end and
// columns >= d become zeros.
template <int HD>
__device__ __forceinline__ void load_tile(bf16 *s, const bf16 *base, int64_t ld, int32_t r0, int32_t r_end, int d,
                                          bool vec) {
    constexpr int CH = HD / 8;
    for (int idx = threadIdx.x; idx < 64 * CH; idx += kThreads) {
        const int r = idx / CH, c = idx % CH;
        bf16 *dst = s + r * HD + swz(r, c) * 8;
        const int32_t row = r0 + r;
        if (vec) {
            const bool valid = row < r_end && c * 8 < d;
            const bf16 *src = valid ? base + static_cast<int64_t>(row) * ld + c * 8 : base;
            cp_async_16(dst, src, valid);
        } else {
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                const int col = c * 8 + e;
                dst[e] = (row < r_end && col < d) ? base[static_cast<int64_t>(row) * ld + col] : __float2bfloat16_rn(0.0f);
            }
        }
    }
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low 16 bits) = lo
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);  // not a pointer cast: that would break strict aliasing
    return bits;
}

template <int HD, int STAGES>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionArgs a) {
    constexpr int KS = HD / 16;  // k-steps over the head dimension (S = Q K^T) and n8-tile pairs of O
    RIR_DYNAMIC_SMEM(bf16, smem);
    bf16 *sQ = smem;                   // [kBQ][HD]
    bf16 *sK = sQ + kBQ * HD;          // [STAGES][kBK][HD]
    bf16 *sV = sK + STAGES * kBK * HD; // [STAGES][kBK][HD]

    const int tile_idx = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
    const AttnTile tile = a.tiles[tile_idx];
    const int kvh = h / (a.heads / a.kv_heads);
    const int d = a.head_dim;
    const bool vec = (d % 8) == 0 && (a.ld_qkv % 8) == 0;
    const bf16 *qg = a.q + static_cast<int64_t>(h) * d;
    const bf16 *kg = a.k + static_cast<int64_t>(kvh) * d;
    const bf16 *vg = a.v + static_cast<int64_t>(kvh) * d;
    const int n_kt = (tile.k_end - tile.k_begin + kBK - 1) / kBK;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t4 = lane & 3;  // mma fragment row group and column pair
    const int mi = lane >> 3, r8 = lane & 7; // ldmatrix: which 8x8 matrix this lane addresses, and its row
    const float sl2 = a.scale * 1.4426950408889634f;  // exp(x * scale) = exp2(x * scale * log2(e))

    load_tile<HD>(sQ, qg, a.ld_qkv, tile.q_begin, tile.q_end, d, vec);
    load_tile<HD>(sK, kg, a.ld_qkv, tile.k_begin, tile.k_end, d, vec);
    load_tile<HD>(sV, vg, a.ld_qkv, tile.k_begin, tile.k_end, d, vec);
    cp_async_commit();

    uint32_t qf[KS][4];
    float o[2 * KS][4];
#pragma unroll
    for (int n = 0; n < 2 * KS; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};

    for (int kt = 0; kt < n_kt; ++kt) {
        const int stage = STAGES == 2 ? (kt & 1) : 0;
        const int32_t k0 = tile.k_begin + kt * kBK;
        if (STAGES == 2 && kt + 1 < n_kt) {
            const int ns = stage ^ 1;
            load_tile<HD>(sK + ns * kBK * HD, kg, a.ld_qkv, k0 + kBK, tile.k_end, d, vec);
            load_tile<HD>(sV + ns * kBK * HD, vg, a.ld_qkv, k0 + kBK, tile.k_end, d, vec);
            cp_async_commit();
            cp_async_wait<1>();  // everything but the tile just issued has landed
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (kt == 0) {
#pragma unroll
            for (int kk = 0; kk < KS; ++kk) {
                const int row = warp * 16 + (mi & 1) * 8 + r8;
                ldmatrix_x4(qf[kk], sQ + row * HD + swz(row, 2 * kk + (mi >> 1)) * 8);
            }
        }
        const bf16 *sKs = sK + stage * kBK * HD, *sVs = sV + stage * kBK * HD;

        // S = Q K^T for this warp's 16 rows x 64 keys: 8 n8 tiles, fp32.
        float s[8][4];
#pragma unroll
        for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KS; ++kk) {
#pragma unroll
            for (int jp = 0; jp < 4; ++jp) {
                uint32_t kb[4];
                const int key = jp * 16 + (mi >> 1) * 8 + r8;
                ldmatrix_x4(kb, sKs + key * HD + swz(key, 2 * kk + (mi & 1)) * 8);
                mma_16816_bf16(s[2 * jp], qf[kk], kb, s[2 * jp]);
                mma_16816_bf16(s[2 * jp + 1], qf[kk], kb + 2, s[2 * jp + 1]);
            }
        }
        // Keys past the end of the sequence (the zero-filled tail of the last tile) take no part.
        if (k0 + kBK > tile.k_end) {
#pragma unroll
            for (int j = 0; j < 8; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (k0 + j * 8 + 2 * t4 + (e & 1) >= tile.k_end) s[j][e] = -INFINITY;
        }
        // Online softmax, rows g (r = 0: elements 0, 1) and g + 8 (r = 1: elements 2, 3). The four lanes of a quad
        // hold the 64 scores of a row between them.
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * r], s[j][2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m_run[r], mx);  // finite: every tile holds at least one key of the sequence
            const float alpha = exp2f((m_run[r] - m_new) * sl2);  // 0 on the first tile (m_run = -inf)
            m_run[r] = m_new;
            l_run[r] *= alpha;
#pragma unroll
            for (int n = 0; n < 2 * KS; ++n) {
                o[n][2 * r] *= alpha;
                o[n][2 * r + 1] *= alpha;
            }
#pragma unroll
            for (int j = 0; j < 8; ++j) {
#pragma unroll
                for (int e = 2 * r; e < 2 * r + 2; ++e) {
                    const float p = exp2f((s[j][e] - m_new) * sl2);
                    s[j][e] = p;
                    l_run[r] += p;  // the row sum uses the unrounded fp32 p (this lane's share; quad-reduced at the end)
                }
            }
        }
        // O += P V: P (16 x 64, rounded to bf16) is the A operand, reused from the score registers.
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
            uint32_t pa[4];
            pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int np = 0; np < KS; ++np) {
                uint32_t vb[4];
                const int key = kk * 16 + (mi & 1) * 8 + r8;
                ldmatrix_x4_trans(vb, sVs + key * HD + swz(key, 2 * np + (mi >> 1)) * 8);
                mma_16816_bf16(o[2 * np], pa, vb, o[2 * np]);
                mma_16816_bf16(o[2 * np + 1], pa, vb + 2, o[2 * np + 1]);
            }
        }
        __syncthreads();  // this stage is free for the load two steps ahead (or the next one with one stage)
        if (STAGES == 1 && kt + 1 < n_kt) {
            load_tile<HD>(sK, kg, a.ld_qkv, k0 + kBK, tile.k_end, d, vec);
            load_tile<HD>(sV, vg, a.ld_qkv, k0 + kBK, tile.k_end, d, vec);
            cp_async_commit();
        }
    }

    // out = r(O / l) for the rows and columns that exist.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int32_t row = tile.q_begin + warp * 16 + g + 8 * r;
        if (row >= tile.q_end) continue;
        bf16 *orow = a.out + static_cast<int64_t>(row) * a.ld_out + static_cast<int64_t>(h) * d;
#pragma unroll
        for (int n = 0; n < 2 * KS; ++n) {
            const int col = n * 8 + 2 * t4;
            if (col < d) {
                const uint32_t bits = pack_bf16(o[n][2 * r] / l_run[r], o[n][2 * r + 1] / l_run[r]);
                memcpy(orow + col, &bits, sizeof bits);  // 4-byte aligned: ld_out, h * d and col are even
            }
        }
    }
}

template <int HD>
constexpr int stages_for() {
    return HD <= 128 ? 2 : 1;  // 256: one stage keeps a block at 96 KiB, inside sm_86/sm_89's 99 KiB
}

template <int HD>
constexpr size_t smem_bytes() {
    return static_cast<size_t>(kBQ + 2 * stages_for<HD>() * kBK) * HD * sizeof(bf16);
}

int padded_head_dim(int d) { return d <= 64 ? 64 : d <= 128 ? 128 : 256; }

template <int HD>
void launch(const AttentionArgs &a, cudaStream_t stream) {
    auto *k = attention_kernel<HD, stages_for<HD>()>;
    const unsigned grid = static_cast<unsigned>(static_cast<int64_t>(a.n_tiles) * a.heads);
    RIR_LAUNCH(k, grid, kThreads, smem_bytes<HD>(), stream, a);
}

}  // namespace

size_t attention_smem_bytes(int head_dim) {
    switch (padded_head_dim(head_dim)) {
        case 64: return smem_bytes<64>();
        case 128: return smem_bytes<128>();
        default: return smem_bytes<256>();
    }
}

void attention_prepare(int head_dim) {
    const int bytes = static_cast<int>(attention_smem_bytes(head_dim));
    switch (padded_head_dim(head_dim)) {
        case 64: cudaFuncSetAttribute(attention_kernel<64, stages_for<64>()>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes); break;
        case 128: cudaFuncSetAttribute(attention_kernel<128, stages_for<128>()>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes); break;
        default: cudaFuncSetAttribute(attention_kernel<256, stages_for<256>()>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes); break;
    }
}

void attention(const AttentionArgs &a, cudaStream_t stream) {
    if (a.n_tiles <= 0) return;
    switch (padded_head_dim(a.head_dim)) {
        case 64: launch<64>(a, stream); break;
        case 128: launch<128>(a, stream); break;
        default: launch<256>(a, stream); break;
    }
}

}  // namespace cuda
}  // namespace rir
