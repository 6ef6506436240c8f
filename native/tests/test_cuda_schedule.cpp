// test_cuda_schedule.cpp: the CUDA backend's host-side work split (cuda/schedule.h), on any machine.
#include <algorithm>
#include <numeric>
#include <vector>

#include "check.h"
#include "cuda/schedule.h"

using namespace rir::cuda;

TEST_CASE(attention_tiles_cover_every_query_once_longest_first) {
    const std::vector<int32_t> cu = {0, 1, 65, 200, 264, 265};  // lengths 1, 64, 135, 64, 1
    const auto tiles = attention_tiles(cu.data(), 5, 64);
    std::vector<int> seen(265, 0);
    int32_t prev_len = 1 << 30;
    for (const AttnTile &t : tiles) {
        const int32_t len = t.k_end - t.k_begin;
        CHECK(len <= prev_len);  // longest sequences first
        prev_len = len;
        CHECK(t.q_begin >= t.k_begin && t.q_end <= t.k_end && t.q_end - t.q_begin <= 64 && t.q_begin < t.q_end);
        for (int32_t q = t.q_begin; q < t.q_end; ++q) seen[static_cast<size_t>(q)]++;
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
    CHECK(tiles.size() == 1 + 1 + 3 + 1 + 1);
    CHECK(tiles[0].k_begin == 65 && tiles[0].k_end == 200);  // the 135-token sequence
    CHECK(static_cast<int64_t>(tiles.size()) <= max_attention_tiles(265, 64));
}

TEST_CASE(attention_tile_bound_holds_for_all_short_sequences) {
    std::vector<int32_t> cu(101);
    std::iota(cu.begin(), cu.end(), 0);  // 100 sequences of 1 token
    CHECK(static_cast<int64_t>(attention_tiles(cu.data(), 100, 64).size()) <= max_attention_tiles(100, 64));
}

TEST_CASE(pool_plan_chunks_the_pooled_ranges) {
    const std::vector<int32_t> cu = {0, 1, 11, 211}, start = {0, 9, 3};  // pooled: 1, 1 and 197 tokens
    const PoolPlan p = pool_plan(cu.data(), start.data(), 3, 64);
    REQUIRE(p.seqs.size() == 3);
    CHECK(p.seqs[0].n_slots == 0 && p.seqs[0].count == 1);
    CHECK(p.seqs[1].n_slots == 0 && p.seqs[1].count == 1);
    CHECK(p.seqs[2].n_slots == 4 && p.seqs[2].count == 197 && p.seqs[2].first_slot == 0);
    CHECK(p.n_partials == 4);
    REQUIRE(p.chunks.size() == 6);
    CHECK(p.chunks[1].t_begin == 10 && p.chunks[1].t_end == 11 && p.chunks[1].slot == -1);
    CHECK(p.chunks[2].t_begin == 14 && p.chunks[2].t_end == 78 && p.chunks[2].slot == 0);
    CHECK(p.chunks[5].t_begin == 206 && p.chunks[5].t_end == 211 && p.chunks[5].slot == 3);
    CHECK(static_cast<int64_t>(p.chunks.size()) <= max_pool_chunks(211, 64));
    CHECK(p.n_partials <= max_pool_partials(211, 64));
}

TEST_CASE(pool_partials_bound_is_tight_enough_and_safe) {
    // Worst case for partial rows: sequences of exactly chunk + 1 pooled tokens (2 rows each).
    for (int64_t T : {65, 130, 1000, 4096}) {
        std::vector<int32_t> cu{0}, start;
        while (cu.back() + 65 <= T) {
            cu.push_back(cu.back() + 65);
            start.push_back(0);
        }
        const int n = static_cast<int>(start.size());
        if (n == 0) continue;
        CHECK(pool_plan(cu.data(), start.data(), n, 64).n_partials <= max_pool_partials(T, 64));
    }
}

TEST_CASE(positions_restart_per_sequence) {
    const std::vector<int32_t> cu = {0, 2, 5};
    std::vector<int32_t> pos(5);
    token_positions(cu.data(), 2, pos.data());
    CHECK((pos == std::vector<int32_t>{0, 1, 0, 1, 2}));
}

RUN_TESTS()
