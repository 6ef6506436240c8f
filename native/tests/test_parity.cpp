// Parity of the engine (through the C API, as any caller sees it) with the independent numpy reference
// (weights-tools/reference.py): for every golden fixture, all its sequences in ONE packed batch.
// Tolerances (same as java ParityTest, reasoning in README "Numerics"):
//   FP32: pooled vector max abs diff <= 1e-4, normalized cosine >= 0.99999;
//   BF16: pooled vector max abs diff <= 0.05, normalized cosine >= 0.999.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "fixture_inputs.h"
#include "json.h"
#include "npy.h"
#include "reasonir.h"

namespace {

using Sequences = FixtureSequences;
inline Sequences load_inputs(const std::string &path) { return load_fixture_inputs(path); }

void check_fixture(const std::string &name, rir_precision precision, const char *mode, double max_abs,
                   double min_cos) {
    const std::string fixtures = check::env_or_die("REASONIR_FIXTURES");
    const std::string generated = check::env_or_die("REASONIR_GENERATED");
    Sequences s = load_inputs(fixtures + "/" + name + "/inputs.json");
    NpyMatrix expected = read_npy(fixtures + "/" + name + "/expected_" + mode + ".npy");
    const std::string dir = generated + "/" + name;
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = "cpu";
    o.precision = precision;
    o.max_batch_tokens = static_cast<int64_t>(s.ids.size());
    rir_model *m = nullptr;
    char err[1024];
    const rir_status st = rir_open(&o, &m, err, sizeof err);
    CHECK_MSG(st == RIR_OK, "rir_open(" << dir << "): " << err);
    REQUIRE(st == RIR_OK);
    const int n = static_cast<int>(s.pool.size());
    const int hidden = rir_hidden_size(m);
    CHECK(rir_precision_of(m) == precision);
    REQUIRE(expected.rows == n && expected.cols == hidden);
    std::vector<float> pooled(static_cast<size_t>(n) * hidden), normed(pooled.size());
    REQUIRE(rir_embed(m, s.ids.data(), s.cu.data(), s.pool.data(), n, RIR_EMBED_NO_NORMALIZE, pooled.data(),
                      static_cast<int64_t>(pooled.size())) == RIR_OK);
    REQUIRE(rir_embed(m, s.ids.data(), s.cu.data(), s.pool.data(), n, 0, normed.data(),
                      static_cast<int64_t>(normed.size())) == RIR_OK);
    double worst_diff = 0, worst_cos = 1;
    for (int i = 0; i < n; ++i) {
        const float *e = expected.row(i), *p = &pooled[static_cast<size_t>(i) * hidden],
                    *q = &normed[static_cast<size_t>(i) * hidden];
        double diff = 0, dot = 0, ne = 0, nq = 0;
        for (int j = 0; j < hidden; ++j) {
            diff = std::fmax(diff, std::fabs(static_cast<double>(p[j]) - e[j]));
            dot += static_cast<double>(q[j]) * e[j];
            ne += static_cast<double>(e[j]) * e[j];
            nq += static_cast<double>(q[j]) * q[j];
        }
        const double cos = dot / std::sqrt(ne * nq);
        CHECK_MSG(diff <= max_abs, name << " " << mode << " sequence " << i << ": max abs diff " << diff);
        CHECK_MSG(cos >= min_cos, name << " " << mode << " sequence " << i << ": cosine " << cos);
        CHECK_NEAR(std::sqrt(nq), 1.0, 1e-5);
        worst_diff = std::fmax(worst_diff, diff);
        worst_cos = std::fmin(worst_cos, cos);
    }
    std::printf("parity %-10s %s: max abs diff %.3g, min cosine %.8f (%d sequences, %zu tokens, %s)\n", name.c_str(),
                mode, worst_diff, worst_cos, n, s.ids.size(), rir_device(m));
    rir_close(m);
}

}  // namespace

TEST_CASE(parity_llama3_gqa_fp32) { check_fixture("llama3_gqa", RIR_PRECISION_FP32, "fp32", 1e-4, 0.99999); }
TEST_CASE(parity_plain_mha_fp32) { check_fixture("plain_mha", RIR_PRECISION_FP32, "fp32", 1e-4, 0.99999); }
TEST_CASE(parity_h256_l4_fp32) { check_fixture("h256_l4", RIR_PRECISION_FP32, "fp32", 1e-4, 0.99999); }
TEST_CASE(parity_llama3_gqa_bf16) { check_fixture("llama3_gqa", RIR_PRECISION_BF16, "bf16", 0.05, 0.999); }
TEST_CASE(parity_plain_mha_bf16) { check_fixture("plain_mha", RIR_PRECISION_BF16, "bf16", 0.05, 0.999); }
TEST_CASE(parity_h256_l4_bf16) { check_fixture("h256_l4", RIR_PRECISION_BF16, "bf16", 0.05, 0.999); }

RUN_TESTS()
