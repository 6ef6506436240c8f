// test_score.cpp: exact-search scoring (cpu/score.h, rir_score): every ISA level this CPU has gives the bits of a
// plain reference written here from the definition (16 lanes of std::fma chains, fixed reduction tree), for f16 and
// f32 rows, awkward dimensions, row and query counts; scores do not depend on the batch; bad arguments are refused.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "cpu/isa.h"
#include "cpu/score.h"
#include "reasonir.h"

namespace {

using rir::cpu::Isa;
using rir::cpu::ScoreDtype;

uint32_t bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
}

// binary16 -> float written independently of score.cpp's (ldexp instead of bit assembly).
float ref_half(uint16_t h) {
    const int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    const float sign = (h & 0x8000) ? -1.0f : 1.0f;
    if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -24);
    if (exp == 31) {
        if (man == 0) return sign * INFINITY;
        uint32_t b = (h & 0x8000u) << 16 | 0x7fc00000u | static_cast<uint32_t>(man) << 13;
        float f;
        std::memcpy(&f, &b, sizeof f);
        return f;
    }
    return sign * std::ldexp(static_cast<float>(1024 + man), exp - 25);
}

// The definition (reasonir.h, rir_score): 16 lanes, lane l = fma chain over d = l, l + 16, ... from +0, then
// s8[i] = l[i] + l[i+8], s4[i] = s8[i] + s8[i+4], s2[i] = s4[i] + s4[i+2], s2[0] + s2[1].
float ref_score(const float *q, const float *x, int dim) {
    float lane[16];
    for (int l = 0; l < 16; ++l) {
        float acc = 0.0f;
        for (int d = l; d < dim; d += 16) acc = std::fma(q[d], x[d], acc);
        lane[l] = acc;
    }
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; ++i) s8[i] = lane[i] + lane[i + 8];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

// Rows in both encodings: f16 bits (any finite half, from subnormals to 65504: mixed magnitudes make every change
// of summation order visible) and their exact fp32 values; f32 rows are Gaussians of varying scale.
struct Data {
    int dim = 0;
    int64_t rows = 0;
    int nq = 0;
    std::vector<uint16_t> f16;
    std::vector<float> f16_as_f32;
    std::vector<float> f32;
    std::vector<float> queries;
};

Data make_data(int dim, int64_t rows, int nq, uint32_t seed) {
    Data d;
    d.dim = dim;
    d.rows = rows;
    d.nq = nq;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> scale_exp(-12, 12);
    const size_t n = static_cast<size_t>(rows) * dim;
    d.f16.resize(n);
    d.f16_as_f32.resize(n);
    d.f32.resize(n);
    for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        do h = static_cast<uint16_t>(rng() & 0xffff);
        while (((h >> 10) & 0x1f) == 31);  // finite
        d.f16[i] = h;
        d.f16_as_f32[i] = ref_half(h);
        d.f32[i] = std::ldexp(normal(rng), scale_exp(rng));
    }
    d.queries.resize(static_cast<size_t>(nq) * dim);
    for (auto &v : d.queries) v = std::ldexp(normal(rng), scale_exp(rng) / 3);
    return d;
}

// ref[i * rows + j] = ref_score(query i, row j).
std::vector<float> reference(const Data &d, bool half) {
    const std::vector<float> &x = half ? d.f16_as_f32 : d.f32;
    std::vector<float> ref(static_cast<size_t>(d.nq) * d.rows);
    for (int i = 0; i < d.nq; ++i)
        for (int64_t j = 0; j < d.rows; ++j)
            ref[static_cast<size_t>(i) * d.rows + j] = ref_score(&d.queries[static_cast<size_t>(i) * d.dim],
                                                                 &x[static_cast<size_t>(j) * d.dim], d.dim);
    return ref;
}

const void *rows_of(const Data &d, bool half, int64_t first) {
    return half ? static_cast<const void *>(&d.f16[static_cast<size_t>(first) * d.dim])
                : static_cast<const void *>(&d.f32[static_cast<size_t>(first) * d.dim]);
}

std::vector<Isa> levels() {
    std::vector<Isa> out;
    for (int l = 0; l <= static_cast<int>(rir::cpu::detect_isa()); ++l) out.push_back(static_cast<Isa>(l));
    return out;
}

constexpr float kSentinel = 12345.0f;

// Scores rows [first, first + n) against queries [q0, q0 + nq) with ld = n + 3 at the given level and compares
// each with the reference; the 3 padding columns must be left alone. Returns the number of mismatches.
int compare(const Data &d, const std::vector<float> &ref, bool half, Isa isa, int64_t first, int64_t n, int q0,
            int nq, const char *what) {
    const int64_t ld = n + 3;
    std::vector<float> out(static_cast<size_t>(nq) * ld, kSentinel);
    rir::cpu::score_rows(isa, rows_of(d, half, first), half ? ScoreDtype::F16 : ScoreDtype::F32, n, d.dim,
                         &d.queries[static_cast<size_t>(q0) * d.dim], nq, out.data(), ld);
    int bad = 0;
    for (int i = 0; i < nq; ++i) {
        for (int64_t j = 0; j < ld; ++j) {
            const float got = out[static_cast<size_t>(i) * ld + j];
            const float want = j < n ? ref[static_cast<size_t>(q0 + i) * d.rows + first + j] : kSentinel;
            if (bits(got) != bits(want)) {
                if (bad++ < 3)
                    std::fprintf(stderr,
                                 "    %s %s isa=%s dim=%d rows=%lld+%lld queries=%d+%d: (%d,%lld) got %a want %a\n",
                                 what, half ? "f16" : "f32", rir::cpu::isa_name(isa), d.dim, (long long)first,
                                 (long long)n, q0, nq, i, (long long)j, got, want);
            }
        }
    }
    return bad;
}

}  // namespace

TEST_CASE(half_conversion_is_exact_for_every_value) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float want = ref_half(static_cast<uint16_t>(h)), got = rir::cpu::half_to_float(static_cast<uint16_t>(h));
        if (bits(want) != bits(got) && bad++ < 3) std::fprintf(stderr, "    half %04x: %a vs %a\n", h, got, want);
    }
    CHECK_MSG(bad == 0, bad << " halves convert wrongly");
}

TEST_CASE(reference_is_not_a_sequential_dot_product) {
    // Guards the test itself: with these mixed-magnitude data the 16-lane order differs from a plain ascending sum
    // (so comparing against ref_score would catch a kernel that summed sequentially) and from an unfused one.
    Data d = make_data(100, 50, 2, 7);
    int differ_seq = 0, differ_unfused = 0;
    for (int64_t j = 0; j < d.rows; ++j) {
        const float *q = d.queries.data(), *x = &d.f32[static_cast<size_t>(j) * d.dim];
        float seq = 0.0f, unfused[16] = {};
        for (int k = 0; k < d.dim; ++k) seq = std::fma(q[k], x[k], seq);
        for (int k = 0; k < d.dim; ++k) {
            volatile float p = q[k] * x[k];
            unfused[k & 15] += p;
        }
        float r = ref_score(q, x, d.dim);
        differ_seq += bits(seq) != bits(r);
        float s8[8], s4[4];
        for (int i = 0; i < 8; ++i) s8[i] = unfused[i] + unfused[i + 8];
        for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
        differ_unfused += bits((s4[0] + s4[2]) + (s4[1] + s4[3])) != bits(r);
    }
    CHECK_MSG(differ_seq > 10, differ_seq);
    CHECK_MSG(differ_unfused > 10, differ_unfused);
}

TEST_CASE(every_isa_matches_the_reference_bit_for_bit) {
    // The reference is computed once per (dim, dtype) for 1000 rows x 64 queries; since a score depends only on its
    // query and row, every call below (any prefix or window of rows and queries) must reproduce its entries.
    const int dims[] = {1, 15, 16, 17, 100, 4096};
    const int query_counts[] = {1, 3, 4, 5, 64};
    const std::vector<Isa> isas = levels();
    std::fprintf(stderr, "  levels tested: 0..%s\n", rir::cpu::isa_name(isas.back()));
    for (int dim : dims) {
        Data d = make_data(dim, 1000, 64, 1000u + static_cast<uint32_t>(dim));
        for (bool half : {true, false}) {
            const std::vector<float> ref = reference(d, half);
            for (Isa isa : isas) {
                int bad = 0;
                for (int nq : query_counts) {
                    const int q0 = nq == 64 ? 0 : 7;  // a window of queries, not always the first ones
                    for (int64_t n = 1; n <= 37; ++n) bad += compare(d, ref, half, isa, 11, n, q0, nq, "window");
                    bad += compare(d, ref, half, isa, 0, 1000, q0, nq, "all rows");
                }
                CHECK_MSG(bad == 0, bad << " mismatches: dim " << dim << (half ? " f16 " : " f32 ")
                                        << rir::cpu::isa_name(isa));
            }
        }
    }
}

TEST_CASE(rows_past_the_dimension_leave_negative_zero_lanes_alone) {
    // Every product is a negative number below half the smallest subnormal, so every lane that sees a dimension
    // becomes -0 and stays -0. With D >= 16 all 16 lanes do, and the score is -0; adding a padded +0 to the lanes past
    // D in the last partial step (instead of leaving them alone) would make it +0. With D < 16 the untouched lanes
    // are +0 and so is the score.
    for (int dim : {1, 17, 33, 100}) {
        const uint32_t want = dim >= 16 ? 0x80000000u : 0u;
        std::vector<float> q(dim, -1e-39f), x(2 * dim, 1e-30f);
        std::vector<uint16_t> xh(2 * dim, 0x0001);  // smallest subnormal half, 2^-24
        CHECK(bits(ref_score(q.data(), x.data(), dim)) == want);
        for (Isa isa : levels()) {
            float out[2] = {1, 1};
            rir::cpu::score_rows(isa, x.data(), ScoreDtype::F32, 2, dim, q.data(), 1, out, 2);
            CHECK_MSG(bits(out[0]) == want && bits(out[1]) == want,
                      rir::cpu::isa_name(isa) << " f32 dim " << dim << ": " << out[0]);
            out[0] = out[1] = 1;
            rir::cpu::score_rows(isa, xh.data(), ScoreDtype::F16, 2, dim, q.data(), 1, out, 2);
            CHECK_MSG(bits(out[0]) == want && bits(out[1]) == want,
                      rir::cpu::isa_name(isa) << " f16 dim " << dim << ": " << out[0]);
            // The same through the several-query-tiles path.
            std::vector<float> qs;
            for (int i = 0; i < 9; ++i) qs.insert(qs.end(), q.begin(), q.end());
            float many[18];
            rir::cpu::score_rows(isa, xh.data(), ScoreDtype::F16, 2, dim, qs.data(), 9, many, 2);
            for (float s : many) CHECK_MSG(bits(s) == want, rir::cpu::isa_name(isa) << " dim " << dim);
        }
    }
}

TEST_CASE(a_query_scores_the_same_alone_and_in_a_batch_of_64) {
    Data d = make_data(4096, 300, 64, 99);
    for (bool half : {true, false}) {
        for (Isa isa : levels()) {
            std::vector<float> batch(64 * 300), alone(300), split(64 * 300);
            rir::cpu::score_rows(isa, rows_of(d, half, 0), half ? ScoreDtype::F16 : ScoreDtype::F32, 300, 4096,
                                 d.queries.data(), 64, batch.data(), 300);
            // Rows in uneven pieces, queries in a batch of 64.
            for (int64_t r0 = 0; r0 < 300; r0 += 37)
                rir::cpu::score_rows(isa, rows_of(d, half, r0), half ? ScoreDtype::F16 : ScoreDtype::F32,
                                     r0 + 37 <= 300 ? 37 : 300 - r0, 4096, d.queries.data(), 64, split.data() + r0,
                                     300);
            int bad = 0;
            for (int i : {0, 5, 37, 63}) {
                rir::cpu::score_rows(isa, rows_of(d, half, 0), half ? ScoreDtype::F16 : ScoreDtype::F32, 300, 4096,
                                     &d.queries[static_cast<size_t>(i) * 4096], 1, alone.data(), 300);
                for (int j = 0; j < 300; ++j) bad += bits(alone[j]) != bits(batch[static_cast<size_t>(i) * 300 + j]);
            }
            for (size_t k = 0; k < batch.size(); ++k) bad += bits(split[k]) != bits(batch[k]);
            CHECK_MSG(bad == 0, bad << " differ, " << rir::cpu::isa_name(isa) << (half ? " f16" : " f32"));
        }
    }
}

TEST_CASE(non_finite_rows_give_non_finite_scores) {
    const int dim = 40;
    std::vector<float> q(dim, 0.5f);
    std::vector<uint16_t> rows(3 * dim, 0x3c00);  // 1.0
    rows[5] = 0x7c00;                              // +inf in row 0
    rows[dim + 7] = 0x7e00;                        // NaN in row 1
    for (Isa isa : levels()) {
        float out[3];
        rir::cpu::score_rows(isa, rows.data(), ScoreDtype::F16, 3, dim, q.data(), 1, out, 3);
        CHECK_MSG(std::isinf(out[0]) && out[0] > 0, rir::cpu::isa_name(isa) << ": " << out[0]);
        CHECK_MSG(std::isnan(out[1]), rir::cpu::isa_name(isa) << ": " << out[1]);
        CHECK_MSG(out[2] == 20.0f, rir::cpu::isa_name(isa) << ": " << out[2]);
    }
}

TEST_CASE(the_c_api_honours_REASONIR_CPU_ISA_and_gives_the_same_bits) {
    Data d = make_data(333, 50, 9, 5);
    const std::vector<float> ref = reference(d, true);
    const char *names[] = {"scalar", "avx2", "avx512", "avx512bf16", "amx"};
    for (int l = 0; l <= static_cast<int>(rir::cpu::detect_isa()); ++l) {
        setenv("REASONIR_CPU_ISA", names[l], 1);
        std::vector<float> out(9 * 50);
        REQUIRE(rir_score(d.f16.data(), RIR_DTYPE_F16, 50, 333, d.queries.data(), 9, out.data(), 50) == RIR_OK);
        CHECK(std::string(rir_score_last_error()).empty());
        int bad = 0;
        for (size_t k = 0; k < out.size(); ++k) bad += bits(out[k]) != bits(ref[k]);
        CHECK_MSG(bad == 0, bad << " differ with REASONIR_CPU_ISA=" << names[l]);
    }
    setenv("REASONIR_CPU_ISA", "sse9", 1);
    float s;
    CHECK(rir_score(d.f16.data(), RIR_DTYPE_F16, 1, 333, d.queries.data(), 1, &s, 1) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(std::string(rir_score_last_error()).find("REASONIR_CPU_ISA") != std::string::npos,
              rir_score_last_error());
    unsetenv("REASONIR_CPU_ISA");
}

TEST_CASE(bad_arguments_are_refused_with_a_reason) {
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8}, x[16] = {}, out[4];
    struct Bad {
        rir_status st;
        const char *needle;
        rir_status got;
    };
    const Bad cases[] = {
        {RIR_ERR_INVALID_ARGUMENT, "unknown dtype 3", rir_score(x, 3, 2, 8, q, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "unknown dtype 0", rir_score(x, 0, 2, 8, q, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "dim must be >= 1, got 0", rir_score(x, RIR_DTYPE_F32, 2, 0, q, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "n_rows must be >= 0, got -1", rir_score(x, RIR_DTYPE_F32, -1, 8, q, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "n_queries must be >= 0, got -2",
         rir_score(x, RIR_DTYPE_F32, 2, 8, q, -2, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "ld_scores 1 is smaller than n_rows 2",
         rir_score(x, RIR_DTYPE_F32, 2, 8, q, 1, out, 1)},
        {RIR_ERR_INVALID_ARGUMENT, "rows is NULL", rir_score(nullptr, RIR_DTYPE_F16, 2, 8, q, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "queries is NULL", rir_score(x, RIR_DTYPE_F32, 2, 8, nullptr, 1, out, 2)},
        {RIR_ERR_INVALID_ARGUMENT, "scores is NULL", rir_score(x, RIR_DTYPE_F32, 2, 8, q, 1, nullptr, 2)},
    };
    // Each call above overwrote the last error; check the statuses, then the messages one call at a time.
    for (const Bad &b : cases) CHECK_MSG(b.got == b.st, "status " << b.got << " for '" << b.needle << "'");
    CHECK(rir_score(x, 3, 2, 8, q, 1, out, 2) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(std::string(rir_score_last_error()).find("unknown dtype 3") != std::string::npos, rir_score_last_error());
    CHECK(rir_score(x, RIR_DTYPE_F32, 2, 8, q, 1, out, 1) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(std::string(rir_score_last_error()).find("ld_scores 1 is smaller than n_rows 2") != std::string::npos,
              rir_score_last_error());
    CHECK(rir_score(x, RIR_DTYPE_F32, 2, 8, nullptr, 1, out, 2) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(std::string(rir_score_last_error()).find("queries is NULL") != std::string::npos, rir_score_last_error());
    // The last error is per thread.
    std::string other;
    std::thread([&] { other = rir_score_last_error(); }).join();
    CHECK_MSG(other.empty(), other);
    // Empty work is fine with NULL pointers; success clears the message.
    CHECK(rir_score(nullptr, RIR_DTYPE_F16, 0, 8, nullptr, 0, nullptr, 0) == RIR_OK);
    CHECK(std::string(rir_score_last_error()).empty());
    CHECK(rir_score(x, RIR_DTYPE_F32, 2, 8, nullptr, 0, nullptr, 2) == RIR_OK);
    // A valid call writes the scores (1*0 + ... = 0 for the zero rows; row of ones: 36).
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    out[0] = out[1] = -1;
    CHECK(rir_score(ones, RIR_DTYPE_F32, 1, 8, q, 1, out, 1) == RIR_OK);
    CHECK(out[0] == 36.0f);
}

TEST_CASE(threads_score_concurrently_with_their_own_scratch) {
    Data d = make_data(512, 200, 20, 42);
    const std::vector<float> ref = reference(d, true);
    int bad[2] = {0, 0};
    auto work = [&](int t) {
        for (int rep = 0; rep < 20; ++rep) {
            std::vector<float> out(20 * 100);
            const int64_t first = t * 100;
            rir::cpu::score_rows(rir::cpu::select_isa(), rows_of(d, true, first), ScoreDtype::F16, 100, 512,
                                 d.queries.data(), 20, out.data(), 100);
            for (int i = 0; i < 20; ++i)
                for (int j = 0; j < 100; ++j)
                    bad[t] += bits(out[static_cast<size_t>(i) * 100 + j]) !=
                              bits(ref[static_cast<size_t>(i) * 200 + first + j]);
        }
    };
    std::thread a(work, 0), b(work, 1);
    a.join();
    b.join();
    CHECK(bad[0] == 0 && bad[1] == 0);
}

RUN_TESTS()
