// score.h: exact-search scoring, the arithmetic behind rir_score (reasonir.h): a block of index rows (f16 or f32)
// against a batch of fp32 queries, single-threaded (callers run one block per thread).
//
// The score of a query q and a row x over dimension D is defined, bit for bit, as:
//   16 lane partial sums: lane l (0..15) accumulates the dimensions d with d % 16 == l, in ascending d, as an fp32
//   fused multiply-add chain starting at +0 (acc = fma(q[d], x[d], acc)); dimensions past D (when D % 16 != 0)
//   contribute nothing (the lane is left as it is, not added +0);
//   then one fixed reduction tree: s8[i] = lane[i] + lane[i+8] (i < 8), s4[i] = s8[i] + s8[i+4],
//   s2[i] = s4[i] + s4[i+2], score = s2[0] + s2[1].
// Row values are f16 (IEEE binary16, converted exactly to fp32) or f32. A score is therefore a function of the query
// and the row only: the same for 1 or 64 queries in a call, any block, tile or thread split, and every ISA level
// (AVX-512: one zmm per accumulator; AVX2: two ymm per accumulator, lanes 0-7 and 8-15, each lane the same sequence;
// scalar: 16 lanes emulated with std::fma). Bit-identical on every x86-64 CPU. Non-finite row values give NaN or
// infinite scores (a NaN's payload is not specified); queries are expected to be finite.
#pragma once
#include <cstdint>

#include "cpu/isa.h"

namespace rir {
namespace cpu {

enum class ScoreDtype : int32_t { F16 = 1, F32 = 2 };  // the values of reasonir.h's rir_dtype

// The kernel family score_rows runs for a requested level: Avx512 for every level >= Avx512, Avx2 when the CPU also
// has F16C (else Scalar), Scalar for Scalar.
Isa score_isa(Isa requested);

// scores[i * ld_scores + j] = score(queries + i * dim, row j) for i < n_queries, j < n_rows. rows: n_rows x dim
// values of dtype, row-major without padding (any alignment of the element type). isa: a level this CPU supports
// (normally select_isa()). No argument checking here: n_rows >= 0, dim >= 1, n_queries >= 0, ld_scores >= n_rows
// and valid pointers are the caller's (api.cpp validates). With more than one query tile (n_queries > 4 on
// AVX-512, > 2 on AVX2) it uses a thread-local scratch of about n_queries * (4 * dim + 384) bytes + 6 KiB (the packed
// queries, the lane buffers, one row tile's chunk; grown on demand, kept for the thread's next call, freed when the
// thread exits).
void score_rows(Isa isa, const void *rows, ScoreDtype dtype, int64_t n_rows, int32_t dim, const float *queries,
                int32_t n_queries, float *scores, int64_t ld_scores);

// The exact fp32 value of an IEEE binary16 (NaNs come back quiet, sign and payload kept, like vcvtph2ps).
float half_to_float(uint16_t h);

}  // namespace cpu
}  // namespace rir
