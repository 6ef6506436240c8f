// attention.cpp: bidirectional GQA attention over a packed batch (see ops.h), tiled over queries so that memory grows
// with the sequence length, not with its square. The per-tile kernel is compiled per ISA from attention_kernel.inc.
#include <algorithm>
#include <cmath>

#include "cpu/bf16.h"
#include "cpu/ops.h"
#include "cpu/vexp.h"

namespace rir {
namespace cpu {

namespace {

struct AttnTile {
    const float *q;    // first query row of the tile, head h
    int64_t ldq;       // row stride of q
    const float *kt;   // keys of the sequence, kv head, transposed: kt[dd * ldkt + j]
    int64_t ldkt;
    const float *v;    // first value row of the sequence, kv head
    int64_t ldv;
    float *out;        // first output row of the tile, head h
    int64_t ldo;
    int64_t len;       // keys in the sequence
    int n_queries;     // rows in this tile (<= kAttnQueryTile)
    int head_dim;
    float scale;
    bool bf16;
    float *scores;     // [n_queries, len] scratch of the calling thread
};

}  // namespace

#define RIR_ATTN_NS attn_scalar
#define RIR_ATTN_TARGET
#define RIR_ATTN_BLOCK 8
#define RIR_ATTN_ROWS 4
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_BLOCK
#undef RIR_ATTN_ROWS

#if defined(__x86_64__)
#define RIR_ATTN_NS attn_avx2
#define RIR_ATTN_TARGET __attribute__((target("avx2,fma")))
#define RIR_ATTN_BLOCK 16
#define RIR_ATTN_ROWS 4
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_BLOCK
#undef RIR_ATTN_ROWS

#define RIR_ATTN_NS attn_avx512
#define RIR_ATTN_TARGET __attribute__((target("avx512f")))
#define RIR_ATTN_BLOCK 32
#define RIR_ATTN_ROWS 8
#include "cpu/attention_kernel.inc"
#undef RIR_ATTN_NS
#undef RIR_ATTN_TARGET
#undef RIR_ATTN_BLOCK
#undef RIR_ATTN_ROWS
#endif

size_t attention_scratch_floats(int64_t max_len) { return static_cast<size_t>(kAttnQueryTile) * max_len; }

void attention(ThreadPool &pool, Isa isa, const float *q, const float *kt, const float *v, const int32_t *cu_seqlens,
               int n_seqs, int heads, int kv_heads, int head_dim, bool bf16, float *out, float *scratch,
               size_t scratch_floats_per_thread) {
    void (*kernel)(const AttnTile &) = attn_scalar::attention_tile;
#if defined(__x86_64__)
    if (isa >= Isa::Avx512) kernel = attn_avx512::attention_tile;
    else if (isa == Isa::Avx2) kernel = attn_avx2::attention_tile;
#endif
    const int64_t T = cu_seqlens[n_seqs];
    const int group = heads / kv_heads;
    const int64_t ldq = static_cast<int64_t>(heads) * head_dim, ldkv = static_cast<int64_t>(kv_heads) * head_dim;
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

    // Task list: (sequence, first query of the tile) x heads, handed out dynamically by the pool.
    std::vector<std::pair<int32_t, int32_t>> tiles;
    for (int s = 0; s < n_seqs; ++s)
        for (int32_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; t += kAttnQueryTile) tiles.emplace_back(s, t);
    const int64_t n_tasks = static_cast<int64_t>(tiles.size()) * heads;

    pool.run(n_tasks, [&](int64_t task, int thread) {
        const auto [s, t0] = tiles[task / heads];
        const int h = static_cast<int>(task % heads), kvh = h / group;
        const int64_t start = cu_seqlens[s], len = cu_seqlens[s + 1] - start;
        AttnTile a;
        a.q = q + t0 * ldq + static_cast<int64_t>(h) * head_dim;
        a.ldq = ldq;
        a.kt = kt + static_cast<int64_t>(kvh) * head_dim * T + start;
        a.ldkt = T;
        a.v = v + start * ldkv + static_cast<int64_t>(kvh) * head_dim;
        a.ldv = ldkv;
        a.out = out + t0 * ldq + static_cast<int64_t>(h) * head_dim;
        a.ldo = ldq;
        a.len = len;
        a.n_queries = static_cast<int>(std::min<int64_t>(kAttnQueryTile, start + len - t0));
        a.head_dim = head_dim;
        a.scale = scale;
        a.bf16 = bf16;
        a.scores = scratch + static_cast<size_t>(thread) * scratch_floats_per_thread;
        kernel(a);
    });
}

}  // namespace cpu
}  // namespace rir
