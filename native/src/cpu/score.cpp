// score.cpp: exact-search scoring kernels (see score.h for the definition of a score, bit for bit).
//
// Layout of the work, per ISA:
//  * A micro-kernel scores a tile of QT queries x RT rows over a run of dimensions with QT*RT 16-lane accumulators
//    held in registers (AVX-512: 4 x 6 zmm; AVX2: 2 x 3 pairs of ymm = 12 ymm; scalar: 16 floats each). Per
//    16-dimension step it loads the QT query vectors and the RT row vectors once each and does QT*RT fused
//    multiply-adds. A trailing partial step (D % 16 != 0) uses masked loads and a masked FMA (AVX2: FMA then blend)
//    that leaves the lanes past D untouched.
//  * One query tile (n_queries <= QT; the single-query case is memory-bound): each row tile runs over the whole
//    dimension in one kernel call ("direct"), rows read in place, f16 converted in the loop (vcvtph2ps), then the
//    accumulators are reduced (the fixed tree) and stored.
//  * Several query tiles ("packed"): the queries are first packed per call into a 64-byte aligned per-thread buffer,
//    per chunk of kChunk dimensions and per tile, interleaved per 16-dimension step ([step][QT][16]), so that a
//    tile's chunk is one contiguous 4 KiB stream. Per row tile and chunk, the rows are converted (f16) or copied
//    (f32) once to fp32 into an aligned scratch that stays in L1 ([RT][kChunk]) and scored against every query tile
//    in one kernel call (the tiles' accumulators saved to and reloaded from a per-thread lane buffer, 16 floats per
//    query and row, between chunks); meanwhile the next chunk's rows are prefetched into L2 (the hardware
//    prefetcher does not run far enough ahead on 6 short row streams). The chunks run in ascending dimension order,
//    so each lane sees exactly the sequence of the definition; the rows are read from memory once per call.
// Reductions happen once per (query, row), at the end, in the fixed tree of score.h.
//
// Measured on the 2-core Sapphire Rapids-class build machine (bench_score, 4096-d f16 rows, blocks of 768; noisy, the
// machine is shared): 64 queries about 115 GFLOP/s on one core (bench_gemm's fp32 fma_peak 213, its GEMM microkernel
// 166) and 230 on two; one query at memory bandwidth. Tried and slower there: 2 x 12 and 3 x 8 register tiles,
// chunks of 128 or 512 (1024 equal), query tiles in groups of 2-8 over all chunks with whole rows converted first.
#include "cpu/score.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
// GCC 12 reports its own _mm512_undefined_*() as "(may be) used uninitialized" once inlined (see simd.h).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#endif

namespace rir {
namespace cpu {

namespace {

// Dimensions per chunk in the several-query-tiles path: 6 rows x 256 fp32 = 6 KiB of rows and 4 x 256 fp32 = 4 KiB
// per query tile, with up to 24 KiB of lane buffer for 64 queries, within a 48 KiB L1.
constexpr int32_t kChunk = 256;
constexpr int kMaxQt = 4;
constexpr int kMaxRt = 6;

// Direct kernel (one query tile): scores QT queries (q + i * ldq, i < QT) against RT rows (x + r * ldx, r < RT)
// over len dimensions, from +0, and stores the reduced scores[i * lds + r]. x is const float* or const uint16_t*
// (the table says which).
using DirectFn = void (*)(const float *q, int64_t ldq, const void *x, int64_t ldx, int32_t len, float *scores,
                          int64_t lds);
// Packed kernel (several query tiles): qp holds the tile's QT queries interleaved per 16-dimension step
// ([step][QT][16], 64-byte aligned), xp the RT rows' chunk as fp32 ([RT][kChunk], 64-byte aligned); len <= kChunk
// dimensions. first: start the accumulators at +0, else load them from lanes[(i * RT + r) * 16 ..]. scores non-null:
// reduce and store scores[i * lds + r]; null: store the accumulators back to lanes.
// Runs `tiles` consecutive tiles of QT queries: tile u reads qp + u * QT * kChunk, lanes + u * QT * RT * 16 and
// writes scores + u * QT * lds.
using PackedFn = void (*)(const float *qp, const float *xp, int32_t len, float *lanes, bool first, float *scores,
                          int64_t lds, int64_t tiles);
// Converts (f16) or copies (f32) n values of a row to fp32.
using RowFn = void (*)(const void *src, int32_t n, float *dst);

struct Kernels {
    int qt, rt;                               // register tile: queries x rows
    DirectFn f32[kMaxQt][kMaxRt];             // [QT - 1][RT - 1], rows of fp32
    DirectFn f16[kMaxQt][kMaxRt];             // rows of f16, converted in the loop
    PackedFn packed[kMaxQt][kMaxRt];
    RowFn row_f32, row_f16;
};

// ------------------------------------------------------------------------------------------------ scalar
// 16 lanes emulated with std::fma: the definition itself.
namespace scalar {

inline float load(const float *p) { return *p; }
inline float load(const uint16_t *p) { return half_to_float(*p); }

inline float reduce(const float *lane) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; ++i) s8[i] = lane[i] + lane[i + 8];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

template <int QT, int RT, class T>
void direct(const float *q, int64_t ldq, const void *xv, int64_t ldx, int32_t len, float *scores, int64_t lds) {
    const T *x = static_cast<const T *>(xv);
    for (int i = 0; i < QT; ++i) {
        for (int r = 0; r < RT; ++r) {
            float acc[16] = {};  // +0
            const float *qi = q + i * ldq;
            const T *xr = x + r * ldx;
            for (int32_t d = 0; d < len; ++d) acc[d & 15] = std::fma(qi[d], load(xr + d), acc[d & 15]);
            scores[i * lds + r] = reduce(acc);
        }
    }
}

template <int QT, int RT>
void packed(const float *qp, const float *xp, int32_t len, float *lanes, bool first, float *scores, int64_t lds,
            int64_t tiles) {
    for (int64_t u = 0; u < tiles; ++u, qp += QT * kChunk, lanes += QT * RT * 16, scores += scores ? QT * lds : 0) {
    for (int i = 0; i < QT; ++i) {
        for (int r = 0; r < RT; ++r) {
            float acc[16] = {};  // +0
            if (!first) std::memcpy(acc, lanes + (i * RT + r) * 16, sizeof acc);
            for (int32_t d = 0; d < len; ++d)
                acc[d & 15] = std::fma(qp[((d >> 4) * QT + i) * 16 + (d & 15)], xp[r * kChunk + d], acc[d & 15]);
            if (scores) scores[i * lds + r] = reduce(acc);
            else std::memcpy(lanes + (i * RT + r) * 16, acc, sizeof acc);
        }
    }
    }
}

void row_f32(const void *src, int32_t n, float *dst) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
void row_f16(const void *src, int32_t n, float *dst) {
    const uint16_t *h = static_cast<const uint16_t *>(src);
    for (int32_t i = 0; i < n; ++i) dst[i] = half_to_float(h[i]);
}

}  // namespace scalar

#if defined(__x86_64__)
#define RIR_AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define RIR_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define RIR_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define RIR_AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"), always_inline)) inline

// ------------------------------------------------------------------------------------------------ AVX2 + F16C
// An accumulator is two ymm: lanes 0-7 (h = 0) and lanes 8-15 (h = 1).
namespace avx2 {

RIR_AVX2_INLINE __m256 load8(const float *p) { return _mm256_loadu_ps(p); }
RIR_AVX2_INLINE __m256 load8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
// All ones in the first n (0..8) lanes.
RIR_AVX2_INLINE __m256i mask8(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}
// The first n (0..8) values, zeros after; never touches memory past them.
RIR_AVX2_INLINE __m256 load8_n(const float *p, int n) { return _mm256_maskload_ps(p, mask8(n)); }
RIR_AVX2_INLINE __m256 load8_n(const uint16_t *p, int n) {
    alignas(16) uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n; ++i) buf[i] = p[i];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i *>(buf)));
}
RIR_AVX2_INLINE int half_count(int rest, int h) {  // valid values of half h in a step with rest valid values
    const int n = rest - 8 * h;
    return n < 0 ? 0 : (n > 8 ? 8 : n);
}

// The fixed tree from s8 = lanes 0-7 + lanes 8-15.
RIR_AVX2_INLINE float reduce(__m256 lo, __m256 hi) {
    const __m256 s8 = _mm256_add_ps(lo, hi);
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// Accumulator access shared by both kernels. QL(i, h, s) / XL(r, h, s) load step s's half h of query i / row r;
// QN / XN the same for the first n values only.
#define RIR_AVX2_BODY(QL, XL, QN, XN)                                                                             \
    const int32_t steps = len >> 4;                                                                               \
    for (int32_t s = 0; s < steps; ++s) {                                                                         \
        _Pragma("GCC unroll 6") for (int r = 0; r < RT; ++r) {                                                    \
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {                                                 \
                const __m256 xr = XL(r, h, s);                                                                    \
                _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) acc[i][r][h] =                               \
                    _mm256_fmadd_ps(QL(i, h, s), xr, acc[i][r][h]);                                               \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
    if (len & 15) {                                                                                               \
        const int rest = len & 15;                                                                                \
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {                                                     \
            const int n = half_count(rest, h);                                                                    \
            const __m256 keep = _mm256_castsi256_ps(mask8(n));                                                    \
            __m256 qv[QT];                                                                                        \
            _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) qv[i] = QN(i, h, steps, n);                      \
            _Pragma("GCC unroll 6") for (int r = 0; r < RT; ++r) {                                                \
                const __m256 xr = XN(r, h, steps, n);                                                             \
                /* lanes past D keep their value exactly */                                                       \
                _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) acc[i][r][h] =                               \
                    _mm256_blendv_ps(acc[i][r][h], _mm256_fmadd_ps(qv[i], xr, acc[i][r][h]), keep);               \
            }                                                                                                     \
        }                                                                                                         \
    }

template <int QT, int RT, class T>
RIR_AVX2_FN void direct(const float *q, int64_t ldq, const void *xv, int64_t ldx, int32_t len, float *scores,
                        int64_t lds) {
    const T *x = static_cast<const T *>(xv);
    __m256 acc[QT][RT][2];
    for (int i = 0; i < QT; ++i)
        for (int r = 0; r < RT; ++r) acc[i][r][0] = acc[i][r][1] = _mm256_setzero_ps();
#define QL(i, h, s) _mm256_loadu_ps(q + (i) * ldq + (s) * 16 + 8 * (h))
#define XL(r, h, s) load8(x + (r) * ldx + (s) * 16 + 8 * (h))
#define QN(i, h, s, n) load8_n(q + (i) * ldq + (s) * 16 + 8 * (h), n)
#define XN(r, h, s, n) load8_n(x + (r) * ldx + (s) * 16 + 8 * (h), n)
    RIR_AVX2_BODY(QL, XL, QN, XN)
#undef QL
#undef XL
#undef QN
#undef XN
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r) scores[i * lds + r] = reduce(acc[i][r][0], acc[i][r][1]);
    }
}

template <int QT, int RT>
RIR_AVX2_FN void packed(const float *qp, const float *xp, int32_t len, float *lanes, bool first, float *scores,
                        int64_t lds, int64_t tiles) {
  for (int64_t u = 0; u < tiles; ++u, qp += QT * kChunk, lanes += QT * RT * 16, scores += scores ? QT * lds : 0) {
    __m256 acc[QT][RT][2];
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r) {
            acc[i][r][0] = first ? _mm256_setzero_ps() : _mm256_load_ps(lanes + (i * RT + r) * 16);
            acc[i][r][1] = first ? _mm256_setzero_ps() : _mm256_load_ps(lanes + (i * RT + r) * 16 + 8);
        }
    }
#define QL(i, h, s) _mm256_load_ps(qp + ((s) * QT + (i)) * 16 + 8 * (h))
#define XL(r, h, s) _mm256_load_ps(xp + (r) * kChunk + (s) * 16 + 8 * (h))
#define QN(i, h, s, n) load8_n(qp + ((s) * QT + (i)) * 16 + 8 * (h), n)
#define XN(r, h, s, n) load8_n(xp + (r) * kChunk + (s) * 16 + 8 * (h), n)
    RIR_AVX2_BODY(QL, XL, QN, XN)
#undef QL
#undef XL
#undef QN
#undef XN
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r) {
            if (scores) {
                scores[i * lds + r] = reduce(acc[i][r][0], acc[i][r][1]);
            } else {
                _mm256_store_ps(lanes + (i * RT + r) * 16, acc[i][r][0]);
                _mm256_store_ps(lanes + (i * RT + r) * 16 + 8, acc[i][r][1]);
            }
        }
    }
  }
}
#undef RIR_AVX2_BODY

RIR_AVX2_FN void row_f16(const void *src, int32_t n, float *dst) {
    const uint16_t *h = static_cast<const uint16_t *>(src);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(h + i));
    for (; i < n; ++i) dst[i] = half_to_float(h[i]);
}

}  // namespace avx2

// ------------------------------------------------------------------------------------------------ AVX-512
namespace avx512 {

RIR_AVX512_INLINE __m512 load16(const float *p) { return _mm512_loadu_ps(p); }
RIR_AVX512_INLINE __m512 load16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}
// Masked-off elements read as zero and are never touched in memory (no fault past the end of a mapping).
RIR_AVX512_INLINE __m512 load16(__mmask16 m, const float *p) { return _mm512_maskz_loadu_ps(m, p); }
RIR_AVX512_INLINE __m512 load16(__mmask16 m, const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

RIR_AVX512_INLINE float reduce(__m512 v) {
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// QL(i, s) / XL(r, s): step s of query i / row r; QM / XM the same under mask m (zeros past it).
#define RIR_AVX512_BODY(QL, XL, QM, XM)                                                                           \
    const int32_t steps = len >> 4;                                                                               \
    for (int32_t s = 0; s < steps; ++s) {                                                                         \
        __m512 qv[QT];                                                                                            \
        _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) qv[i] = QL(i, s);                                    \
        _Pragma("GCC unroll 6") for (int r = 0; r < RT; ++r) {                                                    \
            const __m512 xr = XL(r, s);                                                                           \
            _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) acc[i][r] = _mm512_fmadd_ps(qv[i], xr, acc[i][r]); \
        }                                                                                                         \
    }                                                                                                             \
    if (len & 15) {                                                                                               \
        const __mmask16 m = static_cast<__mmask16>((1u << (len & 15)) - 1u);                                     \
        __m512 qv[QT];                                                                                            \
        _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) qv[i] = QM(i, steps, m);                             \
        _Pragma("GCC unroll 6") for (int r = 0; r < RT; ++r) {                                                    \
            const __m512 xr = XM(r, steps, m);                                                                    \
            /* lanes past D keep their value exactly */                                                           \
            _Pragma("GCC unroll 4") for (int i = 0; i < QT; ++i) acc[i][r] =                                      \
                _mm512_mask3_fmadd_ps(qv[i], xr, acc[i][r], m);                                                   \
        }                                                                                                         \
    }

template <int QT, int RT, class T>
RIR_AVX512_FN void direct(const float *q, int64_t ldq, const void *xv, int64_t ldx, int32_t len, float *scores,
                          int64_t lds) {
    const T *x = static_cast<const T *>(xv);
    __m512 acc[QT][RT];
    for (int i = 0; i < QT; ++i)
        for (int r = 0; r < RT; ++r) acc[i][r] = _mm512_setzero_ps();
#define QL(i, s) _mm512_loadu_ps(q + (i) * ldq + (s) * 16)
#define XL(r, s) load16(x + (r) * ldx + (s) * 16)
#define QM(i, s, m) load16(m, q + (i) * ldq + (s) * 16)
#define XM(r, s, m) load16(m, x + (r) * ldx + (s) * 16)
    RIR_AVX512_BODY(QL, XL, QM, XM)
#undef QL
#undef XL
#undef QM
#undef XM
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r) scores[i * lds + r] = reduce(acc[i][r]);
    }
}

template <int QT, int RT>
RIR_AVX512_FN void packed(const float *qp, const float *xp, int32_t len, float *lanes, bool first, float *scores,
                          int64_t lds, int64_t tiles) {
  for (int64_t u = 0; u < tiles; ++u, qp += QT * kChunk, lanes += QT * RT * 16, scores += scores ? QT * lds : 0) {
    __m512 acc[QT][RT];
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r)
            acc[i][r] = first ? _mm512_setzero_ps() : _mm512_load_ps(lanes + (i * RT + r) * 16);
    }
#define QL(i, s) _mm512_load_ps(qp + ((s) * QT + (i)) * 16)
#define XL(r, s) _mm512_load_ps(xp + (r) * kChunk + (s) * 16)
#define QM(i, s, m) _mm512_maskz_load_ps(m, qp + ((s) * QT + (i)) * 16)
#define XM(r, s, m) _mm512_maskz_load_ps(m, xp + (r) * kChunk + (s) * 16)
    RIR_AVX512_BODY(QL, XL, QM, XM)
#undef QL
#undef XL
#undef QM
#undef XM
#pragma GCC unroll 4
    for (int i = 0; i < QT; ++i) {
#pragma GCC unroll 6
        for (int r = 0; r < RT; ++r) {
            if (scores) scores[i * lds + r] = reduce(acc[i][r]);
            else _mm512_store_ps(lanes + (i * RT + r) * 16, acc[i][r]);
        }
    }
  }
}
#undef RIR_AVX512_BODY

RIR_AVX512_FN void row_f16(const void *src, int32_t n, float *dst) {
    const uint16_t *h = static_cast<const uint16_t *>(src);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load16(h + i));
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(dst + i, m, load16(m, h + i));
    }
}

}  // namespace avx512
#endif  // __x86_64__

// Fills a Kernels table with the 4 x 6 instances of each kernel template (only [qt - 1][rt - 1] within the ISA's
// tile are used).
#define RIR_DIRECT_ROW(NS, Q, T)                                                                                 \
    {NS::direct<Q, 1, T>, NS::direct<Q, 2, T>, NS::direct<Q, 3, T>, NS::direct<Q, 4, T>, NS::direct<Q, 5, T>,  \
     NS::direct<Q, 6, T>},
#define RIR_PACKED_ROW(NS, Q)                                                                                    \
    {NS::packed<Q, 1>, NS::packed<Q, 2>, NS::packed<Q, 3>, NS::packed<Q, 4>, NS::packed<Q, 5>, NS::packed<Q, 6>},
#define RIR_TABLE(NS, QT, RT, ROW_F16)                                                                           \
    {QT,                                                                                                         \
     RT,                                                                                                         \
     {RIR_DIRECT_ROW(NS, 1, float) RIR_DIRECT_ROW(NS, 2, float) RIR_DIRECT_ROW(NS, 3, float)                    \
          RIR_DIRECT_ROW(NS, 4, float)},                                                                         \
     {RIR_DIRECT_ROW(NS, 1, uint16_t) RIR_DIRECT_ROW(NS, 2, uint16_t) RIR_DIRECT_ROW(NS, 3, uint16_t)           \
          RIR_DIRECT_ROW(NS, 4, uint16_t)},                                                                      \
     {RIR_PACKED_ROW(NS, 1) RIR_PACKED_ROW(NS, 2) RIR_PACKED_ROW(NS, 3) RIR_PACKED_ROW(NS, 4)},                  \
     scalar::row_f32,                                                                                            \
     ROW_F16}

const Kernels kScalar = RIR_TABLE(scalar, 4, 6, scalar::row_f16);
#if defined(__x86_64__)
const Kernels kAvx2 = RIR_TABLE(avx2, 2, 3, avx2::row_f16);
const Kernels kAvx512 = RIR_TABLE(avx512, 4, 6, avx512::row_f16);
#endif
#undef RIR_DIRECT_ROW
#undef RIR_PACKED_ROW
#undef RIR_TABLE

const Kernels &kernels_for(Isa isa) {
#if defined(__x86_64__)
    switch (score_isa(isa)) {
        case Isa::Avx512: return kAvx512;
        case Isa::Avx2: return kAvx2;
        default: break;
    }
#endif
    return kScalar;
}

// A 64-byte aligned float buffer that only grows (per-thread scratch, kept between calls).
class AlignedFloats {
public:
    AlignedFloats() = default;
    AlignedFloats(const AlignedFloats &) = delete;
    AlignedFloats &operator=(const AlignedFloats &) = delete;
    ~AlignedFloats() { std::free(p_); }
    float *get(size_t n) {
        if (n > n_) {
            void *p = std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
            if (!p) throw std::bad_alloc();
            std::free(p_);
            p_ = static_cast<float *>(p);
            n_ = n;
        }
        return p_;
    }

private:
    float *p_ = nullptr;
    size_t n_ = 0;
};

// The several-query-tiles path's scratch: the packed queries, the lane buffer, one row tile's chunk in fp32.
struct Scratch {
    AlignedFloats queries, lanes, rows;
};
thread_local Scratch tls_scratch;

}  // namespace

float half_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u);  // infinity, or NaN made quiet
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        const float f = static_cast<float>(man) * 0x1p-24f;  // zero or subnormal: exact
        return sign ? -f : f;
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

Isa score_isa(Isa requested) {
#if defined(__x86_64__)
    if (static_cast<int>(requested) >= static_cast<int>(Isa::Avx512)) return Isa::Avx512;
    if (requested == Isa::Avx2) {
        // CPUID.1:ECX.F16C[bit 29] (read directly: clang 14's __builtin_cpu_supports does not know "f16c"); the
        // OS support for the ymm state was checked with AVX2 (isa.cpp).
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
        return f16c ? Isa::Avx2 : Isa::Scalar;
    }
#endif
    (void)requested;
    return Isa::Scalar;
}

void score_rows(Isa isa, const void *rows, ScoreDtype dtype, int64_t n_rows, int32_t dim, const float *queries,
                int32_t n_queries, float *scores, int64_t ld_scores) {
    if (n_rows <= 0 || n_queries <= 0) return;
    const Kernels &k = kernels_for(isa);
    const bool half = dtype == ScoreDtype::F16;
    const size_t esize = half ? 2 : 4;
    const char *base = static_cast<const char *>(rows);
    auto row_ptr = [&](int64_t r) { return base + static_cast<size_t>(r) * static_cast<size_t>(dim) * esize; };

    if (n_queries <= k.qt) {
        // One query tile: whole dimension per kernel call, rows read in place (f16 converted in the loop).
        const DirectFn *table = half ? k.f16[n_queries - 1] : k.f32[n_queries - 1];
        for (int64_t r0 = 0; r0 < n_rows; r0 += k.rt) {
            const int rt = static_cast<int>(n_rows - r0 < k.rt ? n_rows - r0 : k.rt);
            table[rt - 1](queries, dim, row_ptr(r0), dim, dim, scores + r0, ld_scores);
        }
        return;
    }

    // Several query tiles. Pack the queries once: for chunk c and tile t, a block of qt x kChunk floats holding
    // the tile's queries interleaved per 16-dimension step, zeros past the dimension.
    const int64_t tiles = (n_queries + k.qt - 1) / k.qt;
    const int64_t chunks = (dim + kChunk - 1) / kChunk;
    const size_t block = static_cast<size_t>(k.qt) * kChunk;
    Scratch &s = tls_scratch;
    float *qpack = s.queries.get(static_cast<size_t>(chunks * tiles) * block);
    for (int64_t c = 0; c < chunks; ++c) {
        const int32_t c0 = static_cast<int32_t>(c * kChunk);
        const int32_t steps = (std::min(kChunk, dim - c0) + 15) / 16;
        for (int64_t t = 0; t < tiles; ++t) {
            const int64_t q0 = t * k.qt;
            const int qt = static_cast<int>(n_queries - q0 < k.qt ? n_queries - q0 : k.qt);
            float *dst = qpack + static_cast<size_t>(c * tiles + t) * block;
            for (int32_t st = 0; st < steps; ++st) {
                const int32_t d0 = c0 + st * 16;
                const int32_t n = dim - d0 < 16 ? dim - d0 : 16;
                for (int i = 0; i < qt; ++i, dst += 16) {
                    std::memcpy(dst, queries + (q0 + i) * static_cast<int64_t>(dim) + d0, static_cast<size_t>(n) * 4);
                    if (n < 16) std::memset(dst + n, 0, static_cast<size_t>(16 - n) * 4);
                }
            }
        }
    }
    const size_t tile_lanes = static_cast<size_t>(k.qt) * k.rt * 16;
    float *lanes = s.lanes.get(static_cast<size_t>(tiles) * tile_lanes);
    float *xrows = s.rows.get(static_cast<size_t>(k.rt) * kChunk);
    const RowFn to_f32 = half ? k.row_f16 : k.row_f32;
    for (int64_t r0 = 0; r0 < n_rows; r0 += k.rt) {
        const int rt = static_cast<int>(n_rows - r0 < k.rt ? n_rows - r0 : k.rt);
        for (int64_t c = 0; c < chunks; ++c) {
            const int32_t c0 = static_cast<int32_t>(c * kChunk);
            const int32_t len = dim - c0 < kChunk ? dim - c0 : kChunk;
            // The row tile's chunk in fp32, converted (or copied) once for all query tiles.
            for (int r = 0; r < rt; ++r)
                to_f32(row_ptr(r0 + r) + static_cast<size_t>(c0) * esize, len, xrows + r * kChunk);
            // Prefetch what the next round converts (the next chunk, or the next row tile's first one) into L2
            // while this one is scored: a row tile's rows are read from memory once, 6 short streams the hardware
            // prefetcher does not run far enough ahead on.
            {
                const int64_t nr0 = c + 1 < chunks ? r0 : r0 + k.rt;
                const int64_t nc0 = c + 1 < chunks ? c0 + kChunk : 0;
                const int64_t nrt = std::min<int64_t>(k.rt, n_rows - nr0);
                const int64_t nlen = std::min<int64_t>(kChunk, dim - nc0);
                for (int64_t r = 0; r < nrt; ++r) {
                    const char *p = row_ptr(nr0 + r) + static_cast<size_t>(nc0) * esize;
                    for (int64_t b = 0; b < nlen * static_cast<int64_t>(esize); b += 64)
                        __builtin_prefetch(p + b, 0, 2);
                }
            }
            const bool first = c == 0;
            const bool last = c + 1 == chunks;
            // The full tiles in one call, then the partial one.
            const int64_t full = n_queries / k.qt;
            const int rest = static_cast<int>(n_queries - full * k.qt);
            if (full > 0)
                k.packed[k.qt - 1][rt - 1](qpack + static_cast<size_t>(c * tiles) * block, xrows, len, lanes, first,
                                           last ? scores + r0 : nullptr, ld_scores, full);
            if (rest > 0)
                k.packed[rest - 1][rt - 1](qpack + static_cast<size_t>(c * tiles + full) * block, xrows, len,
                                           lanes + full * tile_lanes, first,
                                           last ? scores + full * k.qt * ld_scores + r0 : nullptr, ld_scores, 1);
        }
    }
}

}  // namespace cpu
}  // namespace rir
