// test_cpu_forward.cpp: the CPU backend's full forward on a small random model built in memory (no files):
// agreement with a plain double-precision reference forward written here, batch invariance, bidirectionality,
// pool_start, precision modes, thread invariance, ISA selection, bounded memory for an 8192-token sequence, errors.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bf16.h"
#include "check.h"
#include "cpu/cpu_backend.h"
#include "error.h"

using namespace rir;
using namespace rir::cpu;

namespace {

// A random Llama: Linear weights U(-sqrt(3/in), sqrt(3/in)) (unit-variance outputs), norm weights U(0.8, 1.2),
// embeddings U(-1, 1), all rounded to bf16 like a real checkpoint.
struct TestModel {
    LlamaConfig config;
    std::vector<std::vector<bf16_t>> tensors;
    ModelWeights weights;

    explicit TestModel(int layers = 2, uint32_t seed = 42) {
        config.hidden = 64;
        config.intermediate = 176;  // not a multiple of the GEMM's 32-column panels
        config.layers = layers;
        config.heads = 4;
        config.kv_heads = 2;
        config.head_dim = 16;
        config.vocab = 101;
        config.max_position = 16384;
        config.rms_eps = 1e-5;
        config.rope_theta = 10000.0;
        config.rope_scaling.llama3 = true;
        config.rope_scaling.original_max_position_embeddings = 256;  // small: positions here span all three bands
        std::mt19937 rng(seed);
        auto make = [&](size_t n, float lo, float hi) {
            std::uniform_real_distribution<float> d(lo, hi);
            tensors.emplace_back(n);
            for (auto &v : tensors.back()) v = f32_to_bf16(d(rng));
            return tensors.back().data();
        };
        auto linear = [&](int out, int in) {
            float a = std::sqrt(3.0f / in);
            return make(size_t(out) * in, -a, a);
        };
        tensors.reserve(4 + 9 * layers);  // pointers into the vectors must stay valid
        const int H = config.hidden, I = config.intermediate, qd = config.heads * config.head_dim,
                  kvd = config.kv_heads * config.head_dim;
        weights.embed = make(size_t(config.vocab) * H, -1.0f, 1.0f);
        for (int l = 0; l < layers; ++l) {
            LayerWeights L;
            L.attn_norm = make(H, 0.8f, 1.2f);
            L.wq = linear(qd, H);
            L.wk = linear(kvd, H);
            L.wv = linear(kvd, H);
            L.wo = linear(H, qd);
            L.mlp_norm = make(H, 0.8f, 1.2f);
            L.w_gate = linear(I, H);
            L.w_up = linear(I, H);
            L.w_down = linear(H, I);
            weights.layers.push_back(L);
        }
        weights.final_norm = make(H, 0.8f, 1.2f);
    }
};

std::unique_ptr<CpuBackend> backend(const TestModel &m, rir_precision p = RIR_PRECISION_FP32, int threads = 2,
                                    int64_t max_tokens = 0) {
    CpuOptions o;
    o.num_threads = threads;
    o.precision = p;
    o.max_batch_tokens = max_tokens;
    return std::make_unique<CpuBackend>(m.config, m.weights, o);
}

struct Batch {
    std::vector<int32_t> ids, cu{0}, pool_start;
    void add(const std::vector<int32_t> &seq, int32_t ps = 0) {
        ids.insert(ids.end(), seq.begin(), seq.end());
        cu.push_back(static_cast<int32_t>(ids.size()));
        pool_start.push_back(ps);
    }
    PackedBatch view() const {
        PackedBatch b;
        b.token_ids = ids.data();
        b.cu_seqlens = cu.data();
        b.pool_start = pool_start.data();
        b.n_seqs = static_cast<int32_t>(pool_start.size());
        return b;
    }
};

std::vector<int32_t> random_ids(int n, std::mt19937 &rng, int vocab) {
    std::uniform_int_distribution<int32_t> d(0, vocab - 1);
    std::vector<int32_t> v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

constexpr int kHidden = 64;  // TestModel's hidden size

std::vector<float> embed(CpuBackend &b, const Batch &batch, bool normalize = true) {
    std::vector<float> out(batch.pool_start.size() * kHidden);
    b.embed(batch.view(), normalize, out.data());
    return out;
}

// Bit-for-bit equality of two float arrays (memcmp: also tells -0 from +0 and compares NaN payloads).
bool same_bits(const float *a, const float *b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
}

// The spec's forward for one sequence, in double, written as plainly as possible (FP32 mode's exact-math target).
std::vector<double> reference_forward(const TestModel &m, const std::vector<int32_t> &ids, int pool_start) {
    const LlamaConfig &c = m.config;
    const int L = static_cast<int>(ids.size()), H = c.hidden, I = c.intermediate, d = c.head_dim;
    const int qd = c.heads * d, kvd = c.kv_heads * d, half = d / 2;
    auto w = [](const bf16_t *p, size_t i) { return double(bf16_to_f32(p[i])); };
    auto matmul = [&](const std::vector<double> &x, const bf16_t *W, int out, int in) {
        std::vector<double> y(size_t(L) * out, 0.0);
        for (int t = 0; t < L; ++t)
            for (int o = 0; o < out; ++o) {
                double s = 0;
                for (int i = 0; i < in; ++i) s += x[size_t(t) * in + i] * w(W, size_t(o) * in + i);
                y[size_t(t) * out + o] = s;
            }
        return y;
    };
    auto rmsnorm = [&](const std::vector<double> &x, const bf16_t *g) {
        std::vector<double> y(x.size());
        for (int t = 0; t < L; ++t) {
            double ss = 0;
            for (int i = 0; i < H; ++i) ss += x[size_t(t) * H + i] * x[size_t(t) * H + i];
            double inv = 1.0 / std::sqrt(ss / H + c.rms_eps);
            for (int i = 0; i < H; ++i) y[size_t(t) * H + i] = x[size_t(t) * H + i] * inv * w(g, i);
        }
        return y;
    };
    // inv_freq with llama3 scaling, in double (the backend's fp32 version differs by ~1e-7 relative)
    std::vector<double> inv(half);
    for (int i = 0; i < half; ++i) {
        double f = std::pow(c.rope_theta, -2.0 * i / d), wl = 2 * M_PI / f;
        const RopeScaling &r = c.rope_scaling;
        double lo = r.original_max_position_embeddings / r.low_freq_factor;
        double hi = r.original_max_position_embeddings / r.high_freq_factor;
        if (wl > lo) f /= r.factor;
        else if (wl >= hi) {
            double s = (r.original_max_position_embeddings / wl - r.low_freq_factor) /
                       (r.high_freq_factor - r.low_freq_factor);
            f = (1 - s) * f / r.factor + s * f;
        }
        inv[i] = f;
    }
    auto rope = [&](std::vector<double> &x, int nh) {
        for (int t = 0; t < L; ++t)
            for (int h = 0; h < nh; ++h) {
                double *a = &x[size_t(t) * nh * d + h * d];
                for (int i = 0; i < half; ++i) {
                    double cs = std::cos(t * inv[i]), sn = std::sin(t * inv[i]);
                    double x1 = a[i], x2 = a[i + half];
                    a[i] = x1 * cs - x2 * sn;
                    a[i + half] = x2 * cs + x1 * sn;
                }
            }
    };
    std::vector<double> h(size_t(L) * H);
    for (int t = 0; t < L; ++t)
        for (int i = 0; i < H; ++i) h[size_t(t) * H + i] = w(m.weights.embed, size_t(ids[t]) * H + i);
    for (const LayerWeights &lw : m.weights.layers) {
        std::vector<double> x = rmsnorm(h, lw.attn_norm);
        std::vector<double> q = matmul(x, lw.wq, qd, H), k = matmul(x, lw.wk, kvd, H), v = matmul(x, lw.wv, kvd, H);
        rope(q, c.heads);
        rope(k, c.kv_heads);
        std::vector<double> att(size_t(L) * qd, 0.0);
        for (int hh = 0; hh < c.heads; ++hh) {
            int kh = hh / (c.heads / c.kv_heads);
            for (int i = 0; i < L; ++i) {
                std::vector<double> p(L);
                double mx = -1e300, sum = 0;
                for (int j = 0; j < L; ++j) {
                    double s = 0;
                    for (int e = 0; e < d; ++e) s += q[size_t(i) * qd + hh * d + e] * k[size_t(j) * kvd + kh * d + e];
                    mx = std::max(mx, p[j] = s / std::sqrt(double(d)));
                }
                for (auto &x2 : p) sum += (x2 = std::exp(x2 - mx));
                for (int j = 0; j < L; ++j)
                    for (int e = 0; e < d; ++e)
                        att[size_t(i) * qd + hh * d + e] += p[j] / sum * v[size_t(j) * kvd + kh * d + e];
            }
        }
        std::vector<double> o = matmul(att, lw.wo, H, qd);
        for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
        x = rmsnorm(h, lw.mlp_norm);
        std::vector<double> g = matmul(x, lw.w_gate, I, H), u = matmul(x, lw.w_up, I, H);
        for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        std::vector<double> dn = matmul(g, lw.w_down, H, I);
        for (size_t i = 0; i < h.size(); ++i) h[i] += dn[i];
    }
    std::vector<double> f = rmsnorm(h, m.weights.final_norm), pooled(H, 0.0);
    for (int t = pool_start; t < L; ++t)
        for (int i = 0; i < H; ++i) pooled[i] += f[size_t(t) * H + i] / (L - pool_start);
    return pooled;
}

}  // namespace

TEST_CASE(fp32_forward_matches_double_reference) {
    TestModel m;
    auto b = backend(m);
    std::mt19937 rng(1);
    Batch batch;
    std::vector<std::vector<int32_t>> seqs = {random_ids(1, rng, 101), random_ids(9, rng, 101),
                                              random_ids(45, rng, 101)};
    const int ps[] = {0, 3, 0};
    for (int s = 0; s < 3; ++s) batch.add(seqs[s], ps[s]);
    std::vector<float> out = embed(*b, batch, false);
    for (int s = 0; s < 3; ++s) {
        std::vector<double> ref = reference_forward(m, seqs[s], ps[s]);
        double diff = 0;
        for (int i = 0; i < kHidden; ++i) diff = std::max(diff, std::fabs(out[s * kHidden + i] - ref[i]));
        // The parity target of the FP32 mode (max abs diff <= 1e-4 on the pooled vector). Outputs are O(1) after the
        // final RMSNorm and every op is fp32 with short sums, so the real error is ~1e-6.
        CHECK_MSG(diff <= 1e-4, "sequence " << s << ": max abs diff " << diff);
        std::fprintf(stderr, "  sequence %d (length %zu): max abs diff to the double reference %.2e\n", s,
                     seqs[s].size(), diff);
    }
}

TEST_CASE(sequence_alone_equals_sequence_in_packed_batch) {
    TestModel m;
    std::mt19937 rng(2);
    std::vector<int32_t> a = random_ids(37, rng, 101), x = random_ids(5, rng, 101), y = random_ids(80, rng, 101);
    for (rir_precision p : {RIR_PRECISION_FP32, RIR_PRECISION_BF16}) {
        auto b = backend(m, p);
        Batch alone, packed;
        alone.add(a, 2);
        packed.add(x);
        packed.add(a, 2);
        packed.add(y);
        std::vector<float> ea = embed(*b, alone), ep = embed(*b, packed);
        // Exact, on every ISA and in both modes: each GEMM row is summed over K in the same order whatever the other
        // rows (gemm.h), every other op is per token or per sequence, and attention, pooling and normalization only
        // ever see the sequence's own positions. So packing neighbours around a sequence changes no bit of its vector.
        CHECK_MSG(same_bits(ea.data(), ep.data() + kHidden, kHidden),
                  "precision " << p << ": max abs diff " << max_abs_diff(ea.data(), ep.data() + kHidden, kHidden));
        // and the neighbours really are different vectors
        CHECK(max_abs_diff(ep.data(), ep.data() + kHidden, kHidden) > 1e-2);
    }
}

TEST_CASE(attention_is_bidirectional) {
    TestModel m;
    auto b = backend(m);
    std::mt19937 rng(3);
    std::vector<int32_t> s1 = random_ids(12, rng, 101), s2 = s1;
    s2.back() = (s1.back() + 1) % 101;  // change only the LAST token
    Batch b1, b2;
    b1.add(s1);
    b2.add(s2);
    // Causal attention would leave position 0 untouched by a later token; bidirectional must not.
    std::vector<float> h1(12 * kHidden), h2(12 * kHidden);
    b->final_hidden(b1.view(), h1.data());
    b->final_hidden(b2.view(), h2.data());
    CHECK(max_abs_diff(h1.data(), h2.data(), kHidden) > 1e-3);  // hidden state at position 0
    // So does every earlier position (none of them is the changed token), and the pooled output (pool_start = 0).
    for (int t = 1; t < 11; ++t) CHECK_MSG(max_abs_diff(&h1[t * kHidden], &h2[t * kHidden], kHidden) > 1e-4, t);
    CHECK(max_abs_diff(embed(*b, b1).data(), embed(*b, b2).data(), kHidden) > 1e-3);
    Batch p1, p2;
    p1.add(std::vector<int32_t>(s1.begin(), s1.end() - 1));
    p2.add(std::vector<int32_t>(s2.begin(), s2.end() - 1));
    // Sanity of the above: without the last token the two sequences are identical, and so are their outputs.
    CHECK(max_abs_diff(embed(*b, p1).data(), embed(*b, p2).data(), kHidden) == 0.0);
}

TEST_CASE(packed_batch_of_lengths_1_to_2048_matches_each_alone) {
    TestModel m(1);
    auto b = backend(m);
    std::mt19937 rng(4);
    const int lengths[] = {1, 2048, 3, 31, 33, 130, 1, 517};
    std::vector<std::vector<int32_t>> seqs;
    Batch packed;
    for (int len : lengths) {
        seqs.push_back(random_ids(len, rng, 101));
        packed.add(seqs.back(), len > 4 ? len / 4 : 0);
    }
    std::vector<float> ep = embed(*b, packed);
    for (size_t s = 0; s < seqs.size(); ++s) {
        Batch alone;
        alone.add(seqs[s], packed.pool_start[s]);
        std::vector<float> ea = embed(*b, alone);
        // Bit-exact (see sequence_alone_equals_sequence_in_packed_batch): lengths 1 to 2048 put the sequence at every
        // offset relative to the GEMM's row tiles, the attention's query tiles and the thread chunks.
        double diff = max_abs_diff(ea.data(), ep.data() + s * kHidden, kHidden);
        CHECK_MSG(same_bits(ea.data(), ep.data() + s * kHidden, kHidden),
                  "sequence " << s << " (length " << lengths[s] << "): diff " << diff);
        // The norm of a normalized fp32 vector is 1 only to within fp32 rounding of the 64 squares and the division.
        double norm = 0;
        for (int i = 0; i < kHidden; ++i) norm += double(ep[s * kHidden + i]) * ep[s * kHidden + i];
        CHECK_NEAR(std::sqrt(norm), 1.0, 1e-5);  // L2-normalized rows
    }
}

TEST_CASE(pool_start_excludes_leading_positions) {
    TestModel m;
    std::mt19937 rng(5);
    std::vector<int32_t> s = random_ids(20, rng, 101);
    for (rir_precision p : {RIR_PRECISION_FP32, RIR_PRECISION_BF16}) {
        auto b = backend(m, p);
        Batch full;
        full.add(s, 0);
        std::vector<float> hidden(20 * kHidden);
        b->final_hidden(full.view(), hidden.data());  // per-position outputs of the same forward
        for (int ps : {0, 1, 7, 19}) {
            Batch batch;
            batch.add(s, ps);
            std::vector<float> pooled = embed(*b, batch, false);
            for (int i = 0; i < kHidden; ++i) {
                double mean = 0;
                for (int t = ps; t < 20; ++t) mean += hidden[t * kHidden + i];
                mean /= (20 - ps);
                CHECK_NEAR(pooled[i], mean, 1e-6);  // the same values averaged: fp32 rounding of one mean
            }
        }
        // and excluding positions makes a real difference
        Batch b0, b7;
        b0.add(s, 0);
        b7.add(s, 7);
        CHECK(max_abs_diff(embed(*b, b0).data(), embed(*b, b7).data(), kHidden) > 1e-3);
    }
}

TEST_CASE(fp32_and_bf16_modes_differ_but_agree_in_direction) {
    TestModel m;
    std::mt19937 rng(6);
    Batch batch;
    batch.add(random_ids(50, rng, 101));
    batch.add(random_ids(7, rng, 101), 2);
    auto b32 = backend(m, RIR_PRECISION_FP32), b16 = backend(m, RIR_PRECISION_BF16);
    CHECK(b32->precision() == RIR_PRECISION_FP32);
    CHECK(b16->precision() == RIR_PRECISION_BF16);
    std::vector<float> e32 = embed(*b32, batch), e16 = embed(*b16, batch);
    for (int s = 0; s < 2; ++s) {
        double dot = 0;
        for (int i = 0; i < kHidden; ++i) dot += double(e32[s * kHidden + i]) * e16[s * kHidden + i];
        CHECK_MSG(dot > 0.99, "cosine " << dot);  // unit vectors: the dot is the cosine
        CHECK(max_abs_diff(e32.data() + s * kHidden, e16.data() + s * kHidden, kHidden) > 1e-4);
    }
    // the default precision of the CPU backend is FP32
    auto bd = backend(m, RIR_PRECISION_DEFAULT);
    CHECK(bd->precision() == RIR_PRECISION_FP32);
}

TEST_CASE(thread_count_does_not_change_results) {
    TestModel m;
    std::mt19937 rng(7);
    Batch batch;
    batch.add(random_ids(70, rng, 101), 3);
    batch.add(random_ids(1, rng, 101));
    batch.add(random_ids(300, rng, 101));
    for (rir_precision p : {RIR_PRECISION_FP32, RIR_PRECISION_BF16}) {
        auto b1 = backend(m, p, 1), b3 = backend(m, p, 3);
        CHECK(b1->num_threads() == 1 && b3->num_threads() == 3);
        std::vector<float> e1 = embed(*b1, batch), e3 = embed(*b3, batch);
        // Exact: threads split work by rows, columns or heads, never a sum (gemm.h: each row's K order is fixed),
        // so the thread count changes which thread computes a value, not the value.
        CHECK_MSG(same_bits(e1.data(), e3.data(), e1.size()),
                  "precision " << p << ": max abs diff " << max_abs_diff(e1.data(), e3.data(), e1.size()));
    }
}

TEST_CASE(isa_cap_from_environment) {
    TestModel m;
    std::mt19937 rng(8);
    Batch batch;
    batch.add(random_ids(40, rng, 101));
    auto best = backend(m);
    // Unset, the engine takes the best level, except Avx512Bf16 where vdpbf16ps is slower than the FMA (Intel).
    const Isa dflt = detect_isa() == Isa::Avx512Bf16 && !dpbf16_is_fast() ? Isa::Avx512 : detect_isa();
    CHECK(best->isa() == dflt);
    CHECK(select_isa() == dflt);
    CHECK(best->device() == std::string("cpu (2 threads, ") + isa_name(dflt) + ")");
    std::vector<float> ref = embed(*best, batch);
    for (int level = 0; level <= static_cast<int>(detect_isa()); ++level) {
        Isa isa = static_cast<Isa>(level);
        setenv("REASONIR_CPU_ISA", isa_name(isa), 1);
        auto b = backend(m);
        CHECK(b->isa() == isa);
        CHECK(b->device().find(isa_name(isa)) != std::string::npos);
        // Different kernels sum in different orders (and use FMA or not): fp32-level differences only.
        CHECK(max_abs_diff(embed(*b, batch).data(), ref.data(), kHidden) <= 1e-5);
    }
    setenv("REASONIR_CPU_ISA", "avx1024", 1);
    CHECK_THROWS(backend(m), RIR_ERR_INVALID_ARGUMENT, "REASONIR_CPU_ISA");
    unsetenv("REASONIR_CPU_ISA");
}

TEST_CASE(long_sequence_runs_in_bounded_memory) {
    TestModel m(1);
    auto b = backend(m, RIR_PRECISION_FP32, 2);
    std::mt19937 rng(9);
    const int64_t L = 8192;
    Batch batch;
    batch.add(random_ids(L, rng, 101));
    std::vector<float> e = embed(*b, batch);
    for (float v : e) REQUIRE(std::isfinite(v));
    // Linear in L: per token h, x, q, k, v, k^T, attn (64 + 64 + 64 + 32 + 32 + 32 + 64 floats), the MLP's gate and
    // up for min(L, 2048) rows, per thread 32 x L attention scores, RoPE tables, plus GEMM panels (< 1 MiB per
    // thread at these sizes) and positions.
    const LlamaConfig &c = m.config;
    double per_token = 2.0 * c.hidden + 2.0 * c.heads * c.head_dim + 3.0 * c.kv_heads * c.head_dim;
    double bound = 4.0 * (L * per_token + 2048.0 * 2 * c.intermediate + 2 * 32.0 * L + L * c.head_dim) +
                   4.0 * L + 2 * (1 << 20);
    size_t ws = b->workspace_bytes();
    CHECK_MSG(ws <= bound, "workspace " << ws << " bytes > linear bound " << bound);
    // The full score matrix of one layer would be heads x L x L floats (1 GiB here); the workspace is ~17 MiB.
    CHECK(ws * 20 < 4.0 * c.heads * L * L);
}

TEST_CASE(bad_configs_and_batches_are_reported) {
    TestModel m;
    LlamaConfig c = m.config;
    c.kv_heads = 3;
    CpuOptions o;
    CHECK_THROWS(CpuBackend(c, m.weights, o), RIR_ERR_CONFIG, "num_key_value_heads");
    ModelWeights w = m.weights;
    w.layers[1].w_up = nullptr;
    CHECK_THROWS(CpuBackend(m.config, w, o), RIR_ERR_INTERNAL, "layers.1.mlp.up_proj.weight");
    o.num_threads = -1;
    CHECK_THROWS(CpuBackend(m.config, m.weights, o), RIR_ERR_INVALID_ARGUMENT, "num_threads");
    auto b = backend(m, RIR_PRECISION_FP32, 2, 10);
    CHECK(b->max_batch_tokens() == 10);
    CHECK(backend(m)->max_batch_tokens() == CpuBackend::kDefaultMaxBatchTokens);
    std::mt19937 rng(10);
    Batch batch;
    batch.add(random_ids(11, rng, 101));
    std::vector<float> out(kHidden);
    CHECK_THROWS(b->embed(batch.view(), true, out.data()), RIR_ERR_INPUT, "11 tokens");
    // the factory returns the same backend through the interface
    std::unique_ptr<Backend> viaf = make_cpu_backend(m.config, m.weights, CpuOptions{});
    CHECK(std::string(viaf->name()) == "cpu");
}

RUN_TESTS()
