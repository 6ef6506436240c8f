// attention.cpp: bidirectional GQA attention over a packed batch (see ops.h). Lays keys and values out for the
// kernels, splits the work into tiles (sequence, kv head, block of query positions) and runs the tile kernel of the
// ISA (attention_kernel.inc, compiled once per ISA below). Memory grows with the batch, never with a length squared.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#include "bf16.h"
#include "cpu/gemm.h"
#include "cpu/ops.h"
#include "cpu/simd.h"
#include "cpu/vexp.h"

namespace rir {
namespace cpu {

namespace {

// Query rows per tile (query heads of the group x positions): enough rows that every key and value block loaded
// into cache feeds many of them, few enough that the tile's scores, P and O stay in L2 (64 rows x 128 dims x 4 bytes
// = 32 KiB of O).
constexpr int kAttnTileRows = 64;
// Row stride of the bf16 copy of P in the AVX512_BF16 kernels, in bf16 elements: one key block.
constexpr int kAttnPbStride = kAttnKeyBlock;

int tile_positions(int group) { return std::max(1, kAttnTileRows / group); }

struct AttnTile {
    const float *q;       // query row of the tile's first position, first head of the group
    int64_t ldq;          // row stride of q (and out)
    const float *kt;      // fp32 kernels: keys of the sequence, transposed: kt[dd * ldkt + j]
    int64_t ldkt;
    const float *v;       // fp32 kernels: value row 0 of the sequence, this kv head
    int64_t ldv;
    const uint32_t *kp;   // bf16 kernels (else null): kp[p * ldkp + j] = bf16 pair p of key j
    int64_t ldkp;
    const uint32_t *vp;   // bf16 kernels: vp[q * ldvp + c] = (v[2q][c], v[2q+1][c]) as a bf16 pair
    int64_t ldvp;
    float *out;           // output row of the tile's first position, first head of the group
    int64_t ldo;
    int64_t len;          // keys in the sequence
    int n_queries;        // positions in this tile
    int group;            // query heads per kv head
    int head_dim;
    float scale;
    bool bf16;            // BF16 mode rounding points
    float *scratch;       // this thread's attention_thread_floats()
};

struct AttnScratch {
    float *q, *o, *s, *m, *l, *alpha;
    bf16_t *pb;
};

inline size_t round_up16(size_t n) { return (n + 15) / 16 * 16; }  // floats: keeps every region 64-byte aligned

// Carves one thread's scratch: q [rows][d], o [rows][d], s [rows][key block], pb [rows][kAttnPbStride] bf16,
// m, l, alpha [rows].
AttnScratch attn_scratch(float *base, int rows, int d) {
    AttnScratch w;
    const size_t rd = round_up16(static_cast<size_t>(rows) * d), rk = round_up16(static_cast<size_t>(rows) * kAttnKeyBlock);
    const size_t rp = round_up16(static_cast<size_t>(rows) * kAttnPbStride / 2), r1 = round_up16(rows);
    w.q = base;
    w.o = w.q + rd;
    w.s = w.o + rd;
    w.pb = reinterpret_cast<bf16_t *>(w.s + rk);
    w.m = w.s + rk + rp;
    w.l = w.m + r1;
    w.alpha = w.l + r1;
    return w;
}

inline uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

}  // namespace

#define RIR_ATTN_NS attn_scalar
#define RIR_SIMD_NS simd_scalar
#define RIR_ATTN_TARGET
#define RIR_ATTN_MR 4
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_SIMD_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_MR

#if defined(__x86_64__)
#define RIR_ATTN_NS attn_avx2
#define RIR_SIMD_NS simd_avx2
#define RIR_ATTN_TARGET __attribute__((target("avx2,fma")))
#define RIR_ATTN_MR 6
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_SIMD_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_MR

#define RIR_ATTN_NS attn_avx512
#define RIR_SIMD_NS simd_avx512
#define RIR_ATTN_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define RIR_ATTN_MR 12
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_ATTN_TARGET

#define RIR_ATTN_NS attn_avx512bf16
#define RIR_ATTN_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
#define RIR_ATTN_BF16 1
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_SIMD_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_MR
#undef RIR_ATTN_BF16
#endif


#if defined(__x86_64__)
// The BF16 mode's attention on AMX tiles (Amx level, head_dim a multiple of 32): the same steps as the kernels above
// (attention_kernel.inc), with S = Q K^T and O += P V as 16 x 16 x 32 tile products (exact bf16 products, fp32 sums)
// and the online softmax of the AVX512_BF16 copy between them. Q is copied to bf16 rows (the A tiles), keys and
// values are read in place from the pair layouts (the B tiles: kp rows are head-dimension pairs over 16 keys, vp
// rows key pairs over 16 dimensions). Every sequence's keys start at a multiple of 32 in those layouts with zeros up
// to the next multiple of 32, so a tile never reads another sequence's values (P is zero there: 0 x a neighbour's inf
// would be NaN). Rows of a tile are independent, so each output is a function of its own row and sequence only.
#define RIR_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
namespace attn_amx {

RIR_AMX_TARGET void attention_tile(const AttnTile &a) {
    const int d = a.head_dim, nq = a.n_queries, rows = a.group * nq, rows16 = (rows + 15) / 16 * 16;
    const int64_t len = a.len;
    AttnScratch w = attn_scratch(a.scratch, rows16, d);
    bf16_t *qb = reinterpret_cast<bf16_t *>(w.q);  // [rows16][d] bf16
    // Q rows as bf16 (exact: they are bf16 values), padding rows zero.
    for (int hi = 0; hi < a.group; ++hi)
        for (int p = 0; p < nq; ++p) {
            const float *src = a.q + p * a.ldq + static_cast<int64_t>(hi) * d;
            bf16_t *dst = qb + static_cast<int64_t>(hi * nq + p) * d;
            for (int e = 0; e < d; e += 16) simd_avx512::vstore_bf16(dst + e, simd_avx512::vload(src + e));
        }
    std::fill(qb + static_cast<int64_t>(rows) * d, qb + static_cast<int64_t>(rows16) * d, bf16_t(0));
    std::fill(w.o, w.o + static_cast<int64_t>(rows16) * d, 0.0f);
    std::fill(w.m, w.m + rows16, -INFINITY);
    std::fill(w.l, w.l + rows16, 0.0f);
    const int64_t qstride = static_cast<int64_t>(d) * sizeof(bf16_t), ostride = static_cast<int64_t>(d) * sizeof(float);
    constexpr int64_t kSStride = kAttnKeyBlock * sizeof(float), kPStride = kAttnPbStride * sizeof(bf16_t);
    amx_begin();
    for (int64_t j0 = 0; j0 < len; j0 += kAttnKeyBlock) {
        const int kb = static_cast<int>(std::min<int64_t>(kAttnKeyBlock, len - j0));
        const int key_tiles = (kb + 15) / 16, key_steps = (kb + 31) / 32;
        // S = Q K^T (unscaled), 16 rows x 16 keys per tile.
        for (int r0 = 0; r0 < rows16; r0 += 16)
            for (int jt = 0; jt < key_tiles; ++jt) {
                _tile_zero(0);
                for (int e = 0; e < d; e += 32) {
                    _tile_loadd(4, qb + static_cast<int64_t>(r0) * d + e, qstride);
                    _tile_loadd(6, a.kp + (e / 2) * a.ldkp + j0 + jt * 16, a.ldkp * 4);
                    _tile_dpbf16ps(0, 4, 6);
                }
                _tile_stored(0, w.s + static_cast<int64_t>(r0) * kAttnKeyBlock + jt * 16, kSStride);
            }
        const __m512 sc = _mm512_set1_ps(a.scale);
        for (int r = 0; r < rows; ++r)
            for (int j = 0; j < key_tiles * 16; j += 16) {
                float *sr = w.s + static_cast<int64_t>(r) * kAttnKeyBlock + j;
                _mm512_storeu_ps(sr, _mm512_mul_ps(_mm512_loadu_ps(sr), sc));
            }
        // P (bf16, zero past kb up to the 32-key step), row statistics, alpha.
        if (kb < kAttnKeyBlock)
            for (int r = 0; r < rows16; ++r)
                std::fill(w.pb + static_cast<int64_t>(r) * kAttnPbStride, w.pb + (r + 1) * int64_t(kAttnPbStride),
                          bf16_t(0));
        attn_avx512bf16::softmax_block(w.s, kAttnKeyBlock, w.pb, kAttnPbStride, rows, kb, true, w.m, w.l, w.alpha);
        // O = O * alpha + P V, 16 rows x 16 dimensions per tile.
        for (int r = 0; r < rows; ++r) {
            const __m512 al = _mm512_set1_ps(w.alpha[r]);
            float *o = w.o + static_cast<int64_t>(r) * d;
            for (int e = 0; e < d; e += 16) _mm512_storeu_ps(o + e, _mm512_mul_ps(_mm512_loadu_ps(o + e), al));
        }
        for (int r0 = 0; r0 < rows16; r0 += 16)
            for (int e = 0; e < d; e += 16) {
                float *o = w.o + static_cast<int64_t>(r0) * d + e;
                _tile_loadd(0, o, ostride);
                for (int ks = 0; ks < key_steps; ++ks) {
                    _tile_loadd(4, w.pb + static_cast<int64_t>(r0) * kAttnPbStride + ks * 32, kPStride);
                    _tile_loadd(6, a.vp + (j0 / 2 + ks * 16) * a.ldvp + e, a.ldvp * 4);
                    _tile_dpbf16ps(0, 4, 6);
                }
                _tile_stored(0, o, ostride);
            }
    }
    amx_end();
    // out = r(O / l)
    for (int hi = 0; hi < a.group; ++hi)
        for (int p = 0; p < nq; ++p) {
            const int r = hi * nq + p;
            const float *o = w.o + static_cast<int64_t>(r) * d;
            float *dst = a.out + p * a.ldo + static_cast<int64_t>(hi) * d;
            const __m512 l = _mm512_set1_ps(w.l[r]);
            for (int e = 0; e < d; e += 16)
                _mm512_storeu_ps(dst + e, simd_avx512::vround_bf16(_mm512_div_ps(_mm512_loadu_ps(o + e), l)));
        }
}

}  // namespace attn_amx
#undef RIR_AMX_TARGET
#endif

namespace {

// Offsets of each sequence in the bf16 layouts: every sequence starts at a multiple of kSeqAlign columns and is
// followed by zeros up to the next one, so that value pairs (2q, 2q+1) never straddle two sequences and a 32-key tile
// step never reads another sequence (attn_amx). Returns the padded total.
constexpr int64_t kSeqAlign = 32;
int64_t padded_offsets(const int32_t *cu, int n_seqs, std::vector<int64_t> &off) {
    off.resize(n_seqs);
    int64_t total = 0;
    for (int s = 0; s < n_seqs; ++s) {
        off[s] = total;
        const int64_t len = cu[s + 1] - cu[s];
        total += (len + kSeqAlign - 1) / kSeqAlign * kSeqAlign;
    }
    return total;
}

// k, v [T, kv_heads * d] (row stride kvd; bf16 values in fp32) -> kp [kv_heads][d/2][Tp] and vp [kv_heads][Tp/2][d] bf16 pairs.
void layout_bf16_pairs(ThreadPool &pool, const float *k, const float *v, int64_t kvd, const int32_t *cu, int n_seqs,
                       int kv_heads, int d, const std::vector<int64_t> &off, int64_t tp, uint32_t *kp, uint32_t *vp) {
    pool.run(static_cast<int64_t>(n_seqs) * kv_heads, [&](int64_t task, int) {
        const int s = static_cast<int>(task / kv_heads), h = static_cast<int>(task % kv_heads);
        const int64_t start = cu[s], len = cu[s + 1] - start;
        const int64_t padded = (len + kSeqAlign - 1) / kSeqAlign * kSeqAlign;
        uint32_t *kdst = kp + static_cast<int64_t>(h) * (d / 2) * tp + off[s];
        for (int64_t j = 0; j < len; ++j) {
            const float *kr = k + (start + j) * kvd + static_cast<int64_t>(h) * d;
            for (int p = 0; p < d / 2; ++p)
                kdst[p * tp + j] = (f32_bits(kr[2 * p]) >> 16) | (f32_bits(kr[2 * p + 1]) & 0xffff0000u);
        }
        for (int p = 0; p < d / 2; ++p) std::fill(kdst + p * tp + len, kdst + p * tp + padded, 0u);
        uint32_t *vdst = vp + (static_cast<int64_t>(h) * (tp / 2) + off[s] / 2) * d;
        for (int64_t q = 0; q < (len + 1) / 2; ++q) {
            const float *v0 = v + (start + 2 * q) * kvd + static_cast<int64_t>(h) * d;
            const float *v1 = 2 * q + 1 < len ? v0 + kvd : nullptr;
            for (int c = 0; c < d; ++c)
                vdst[q * d + c] = (f32_bits(v0[c]) >> 16) | (v1 ? f32_bits(v1[c]) & 0xffff0000u : 0u);
        }
        std::fill(vdst + (len + 1) / 2 * d, vdst + padded / 2 * d, 0u);
    });
}

}  // namespace

size_t attention_kv_floats(int64_t T, int n_seqs, int kv_heads, int head_dim) {
    // The pair layouts: every sequence padded to a multiple of kSeqAlign tokens.
    return static_cast<size_t>(kv_heads) * head_dim * static_cast<size_t>(T + (kSeqAlign - 1) * n_seqs);
}

size_t attention_thread_floats(int heads, int kv_heads, int head_dim) {
    // Rows rounded up to whole 16-row tiles (attn_amx).
    const int group = heads / kv_heads, rows = (group * tile_positions(group) + 15) / 16 * 16;
    return 2 * round_up16(static_cast<size_t>(rows) * head_dim) +
           round_up16(static_cast<size_t>(rows) * kAttnKeyBlock) +
           round_up16(static_cast<size_t>(rows) * kAttnPbStride / 2) + 3 * round_up16(rows);
}

void attention(ThreadPool &pool, Isa isa, const float *q, int64_t ldq, const float *k, const float *v, int64_t ldkv,
               const int32_t *cu_seqlens, int n_seqs, int heads, int kv_heads, int head_dim, bool bf16, float *out,
               float *kv_scratch, float *thread_scratch) {
    void (*kernel)(const AttnTile &) = attn_scalar::attention_tile;
#if defined(__x86_64__)
    // Avx512Bf16: vdpbf16ps kernels in BF16 mode (select_isa() picks this level only where they are the faster
    // choice). Amx: tiles in BF16 mode when head_dim is a multiple of 32 (the tiles' K step), else the AVX-512 fp32
    // kernels.
    if (isa == Isa::Avx512Bf16) kernel = attn_avx512bf16::attention_tile;
    else if (isa == Isa::Amx && bf16 && head_dim % 32 == 0) kernel = attn_amx::attention_tile;
    else if (isa >= Isa::Avx512) kernel = attn_avx512::attention_tile;
    else if (isa == Isa::Avx2) kernel = attn_avx2::attention_tile;
#endif
    const int64_t T = cu_seqlens[n_seqs];
    const int group = heads / kv_heads, d = head_dim;
    const int64_t ldo = static_cast<int64_t>(heads) * d, kvd = static_cast<int64_t>(kv_heads) * d;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const size_t per_thread = attention_thread_floats(heads, kv_heads, d);

    // Keys and values as the kernels read them: transposed fp32 keys, or (BF16 mode on AVX512_BF16) bf16 pairs.
    const bool pairs = bf16 && (isa == Isa::Avx512Bf16 || (isa == Isa::Amx && d % 32 == 0));
    std::vector<int64_t> off;
    int64_t tp = 0;
    uint32_t *kp = nullptr, *vp = nullptr;
    if (pairs) {
        tp = padded_offsets(cu_seqlens, n_seqs, off);
        kp = reinterpret_cast<uint32_t *>(kv_scratch);
        vp = kp + kvd / 2 * tp;
        layout_bf16_pairs(pool, k, v, ldkv, cu_seqlens, n_seqs, kv_heads, d, off, tp, kp, vp);
    } else {
        transpose_keys(pool, k, ldkv, T, kv_heads, d, kv_scratch);
    }

    // Tiles: (sequence, block of query positions), longest sequences first (they cost the most per tile), each
    // with every kv head.
    const int positions = tile_positions(group);
    std::vector<int> order(n_seqs);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return cu_seqlens[a + 1] - cu_seqlens[a] > cu_seqlens[b + 1] - cu_seqlens[b];
    });
    std::vector<std::pair<int32_t, int32_t>> tiles;
    for (int s : order)
        for (int32_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; t += positions) tiles.emplace_back(s, t);

    pool.run(static_cast<int64_t>(tiles.size()) * kv_heads, [&](int64_t task, int thread) {
        const auto [s, t0] = tiles[task / kv_heads];
        const int kvh = static_cast<int>(task % kv_heads);
        const int64_t start = cu_seqlens[s], len = cu_seqlens[s + 1] - start;
        AttnTile a{};
        a.q = q + t0 * ldq + static_cast<int64_t>(kvh) * group * d;
        a.ldq = ldq;
        a.out = out + t0 * ldo + static_cast<int64_t>(kvh) * group * d;
        a.ldo = ldo;
        if (pairs) {
            a.kp = kp + static_cast<int64_t>(kvh) * (d / 2) * tp + off[s];
            a.ldkp = tp;
            a.vp = vp + (static_cast<int64_t>(kvh) * (tp / 2) + off[s] / 2) * d;
            a.ldvp = d;
        } else {
            a.kt = kv_scratch + static_cast<int64_t>(kvh) * d * T + start;
            a.ldkt = T;
            a.v = v + start * ldkv + static_cast<int64_t>(kvh) * d;
            a.ldv = ldkv;
        }
        a.len = len;
        a.n_queries = static_cast<int>(std::min<int64_t>(positions, start + len - t0));
        a.group = group;
        a.head_dim = d;
        a.scale = scale;
        a.bf16 = bf16;
        a.scratch = thread_scratch + static_cast<size_t>(thread) * per_thread;
        kernel(a);
    });
}

}  // namespace cpu
}  // namespace rir
