// schedule.cpp: see schedule.h.
#include "cuda/schedule.h"

#include <algorithm>

namespace rir {
namespace cuda {

std::vector<AttnTile> attention_tiles(const int32_t *cu, int n_seqs, int q_tile) {
    std::vector<int> order(static_cast<size_t>(n_seqs));
    for (int s = 0; s < n_seqs; ++s) order[static_cast<size_t>(s)] = s;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return cu[a + 1] - cu[a] > cu[b + 1] - cu[b]; });
    std::vector<AttnTile> tiles;
    tiles.reserve(static_cast<size_t>(max_attention_tiles(n_seqs > 0 ? cu[n_seqs] : 0, q_tile)));
    for (int s : order)
        for (int32_t q = cu[s]; q < cu[s + 1]; q += q_tile)
            tiles.push_back({q, std::min(q + q_tile, cu[s + 1]), cu[s], cu[s + 1]});
    return tiles;
}

int64_t max_attention_tiles(int64_t max_tokens, int q_tile) {
    // Each sequence of n tokens takes ceil(n / q_tile) <= n / q_tile + 1 tiles, and there are at most max_tokens
    // sequences; the sum is largest when every sequence is short.
    return max_tokens / q_tile + max_tokens;
}

PoolPlan pool_plan(const int32_t *cu, const int32_t *pool_start, int n_seqs, int chunk_tokens) {
    PoolPlan p;
    p.seqs.resize(static_cast<size_t>(n_seqs));
    for (int s = 0; s < n_seqs; ++s) {
        const int32_t begin = cu[s] + pool_start[s], end = cu[s + 1];
        const int32_t n_chunks = (end - begin + chunk_tokens - 1) / chunk_tokens;
        PoolSeq &q = p.seqs[static_cast<size_t>(s)];
        q.count = end - begin;
        q.reserved = 0;
        if (n_chunks == 1) {
            q.first_slot = 0;
            q.n_slots = 0;
            p.chunks.push_back({s, begin, end, -1});
            continue;
        }
        q.first_slot = p.n_partials;
        q.n_slots = n_chunks;
        for (int32_t c = 0; c < n_chunks; ++c) {
            const int32_t t0 = begin + c * chunk_tokens;
            p.chunks.push_back({s, t0, std::min(t0 + chunk_tokens, end), p.n_partials++});
        }
    }
    return p;
}

int64_t max_pool_chunks(int64_t max_tokens, int chunk_tokens) {
    return max_tokens / chunk_tokens + max_tokens;  // as max_attention_tiles
}

int64_t max_pool_partials(int64_t max_tokens, int chunk_tokens) {
    // Only sequences with more than chunk_tokens pooled tokens use partial rows: at most max_tokens / (chunk_tokens
    // + 1) of them, each with ceil(n / chunk_tokens) <= n / chunk_tokens + 1 rows.
    return max_tokens / chunk_tokens + max_tokens / (chunk_tokens + 1) + 1;
}

void token_positions(const int32_t *cu, int n_seqs, int32_t *pos) {
    for (int s = 0; s < n_seqs; ++s)
        for (int32_t t = cu[s]; t < cu[s + 1]; ++t) pos[t] = t - cu[s];
}

}  // namespace cuda
}  // namespace rir
