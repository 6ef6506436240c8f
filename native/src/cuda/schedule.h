// schedule.h: how the CUDA kernels split a packed batch into work, as plain host C++ (no CUDA types), so that it is
// unit-tested on any machine (native/tests/test_cuda_schedule.cpp) and the GPU-only part stays small.
#pragma once
#include <cstdint>
#include <vector>

namespace rir {
namespace cuda {

// One block of the attention kernel: query rows [q_begin, q_end) of one sequence whose keys are rows
// [k_begin, k_end) (the whole sequence: attention is bidirectional). Rows are packed-batch token indices.
struct AttnTile {
    int32_t q_begin, q_end, k_begin, k_end;
};

// Query rows per attention block (4 warps x 16 rows) and keys per inner step; the CPU twin's online softmax uses the
// same key block so that both round P at the same points (cpu/ops.h kAttnKeyBlock).
constexpr int kAttnQueryTile = 64;
constexpr int kAttnKeyTile = 64;

// Every (sequence, query tile) of the batch, longest sequences first (their blocks do the most work: starting them
// first evens out the tail), ties in batch order. The kernel's grid is (tiles.size(), heads).
std::vector<AttnTile> attention_tiles(const int32_t *cu_seqlens, int n_seqs, int q_tile = kAttnQueryTile);
// Upper bound of attention_tiles().size() for any batch of at most max_tokens tokens (workspace sizing).
int64_t max_attention_tiles(int64_t max_tokens, int q_tile = kAttnQueryTile);

// Pooling: each pooled range [cu[s] + pool_start[s], cu[s+1]) is cut into chunks of at most chunk_tokens tokens.
// A sequence with one chunk is finished by that chunk's block (slot = -1). The chunks of a longer sequence write
// fp32 partial sums to rows first_slot .. first_slot + n_slots - 1 of the partial buffer, which a second kernel adds
// in order: deterministic, no atomics.
struct PoolChunk {
    int32_t seq, t_begin, t_end, slot;
};
struct PoolSeq {
    int32_t first_slot, n_slots, count, reserved;  // n_slots = 0: finished by its single chunk; count = pooled tokens
};
constexpr int kPoolChunkTokens = 64;
struct PoolPlan {
    std::vector<PoolChunk> chunks;
    std::vector<PoolSeq> seqs;
    int32_t n_partials = 0;
};
PoolPlan pool_plan(const int32_t *cu_seqlens, const int32_t *pool_start, int n_seqs,
                   int chunk_tokens = kPoolChunkTokens);
// Upper bounds for a batch of at most max_tokens tokens (workspace sizing).
int64_t max_pool_chunks(int64_t max_tokens, int chunk_tokens = kPoolChunkTokens);
int64_t max_pool_partials(int64_t max_tokens, int chunk_tokens = kPoolChunkTokens);

// positions[t] = t - cu_seqlens[s] for every token t of sequence s.
void token_positions(const int32_t *cu_seqlens, int n_seqs, int32_t *positions);

}  // namespace cuda
}  // namespace rir
