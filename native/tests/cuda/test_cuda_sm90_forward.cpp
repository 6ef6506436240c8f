// test_cuda_sm90_forward.cpp: the sm90 attention kernel (wgmma + TMA, native/src/cuda/attention_sm90.cu) end to end,
// through the C API, with and without CUDA graphs. The committed fixtures have head_dim 16 or 32, which the sm90
// kernel does not support (64 and 128 only), so this test writes its own small random-weight Llama checkpoint with
// head_dim 128 (GQA: 2 query heads on 1 kv head) and compares the sm90 model with the CPU backend in BF16 mode and
// with the sm80 kernel. On the emulator (compute capability 9.0) every comparison runs; on a real GPU other than 9.0
// the sm90 opens must be refused by name instead; without a GPU the real build is skipped (exit 77).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "checkpoint_fixtures.h"
#include "cuda_test.h"
#include "reasonir.h"

using namespace cudatest;
namespace fs = std::filesystem;
namespace cf = checkpoint_fixtures;

namespace {

// The model: small enough that the emulator embeds a 500-token batch in seconds, with the head_dim of ReasonIR-8B.
constexpr int kHidden = 256, kHeads = 2, kKvHeads = 1, kHeadDim = 128, kLayers = 2, kInter = 512, kVocab = 512;
constexpr int64_t kMaxTokens = 512;

// Standard normal draws by Box-Muller on mt19937's 32-bit outputs: std::normal_distribution's algorithm differs
// between standard libraries, mt19937's sequence does not (log and cos may differ in the last ulp between libms,
// which the rounding to bf16 all but always absorbs; each run compares models of the same checkpoint anyway).
struct Normal {
    std::mt19937 rng;
    explicit Normal(unsigned seed) : rng(seed) {}
    double uniform() { return (static_cast<double>(rng()) + 0.5) / 4294967296.0; }  // in (0, 1), never 0
    double operator()() {
        const double u1 = uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
};

cf::Tensor bf16_tensor(const std::string &name, std::vector<uint64_t> shape, Normal &n, double mean, double scale) {
    cf::Tensor t{name, "BF16", std::move(shape), {}};
    const uint64_t count = cf::numel(t.shape);
    t.data.reserve(count * 2);
    for (uint64_t i = 0; i < count; ++i) {
        const uint16_t b = rir::f32_to_bf16(static_cast<float>(mean + scale * n()));
        t.data.push_back(static_cast<uint8_t>(b & 0xFF));
        t.data.push_back(static_cast<uint8_t>(b >> 8));
    }
    return t;
}

// Writes the head_dim-128 checkpoint (deterministic: seeded) into a folder of REASONIR_SCRATCH of its own per build,
// so that the real and the emulated test can run at the same time. Projections ~ N(0, 0.05^2): the attention logits
// then have a spread of about 0.6 (neither uniform nor one-hot softmax rows); norm weights ~ 1 + N(0, 0.1^2).
std::string write_model() {
    const fs::path dir = fs::path(check::env_or_die("REASONIR_SCRATCH")) /
                         (kEmulated ? "test_cuda_sm90_forward_emu" : "test_cuda_sm90_forward") / "head_dim_128";
    fs::remove_all(dir);
    fs::create_directories(dir);
    Normal n(20261207);
    const uint64_t H = kHidden, I = kInter, Q = kHeads * kHeadDim, KV = kKvHeads * kHeadDim;
    std::vector<cf::Tensor> ts;
    ts.push_back(bf16_tensor("embed_tokens.weight", {kVocab, H}, n, 0.0, 0.05));
    for (int l = 0; l < kLayers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        ts.push_back(bf16_tensor(p + "input_layernorm.weight", {H}, n, 1.0, 0.1));
        ts.push_back(bf16_tensor(p + "self_attn.q_proj.weight", {Q, H}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "self_attn.k_proj.weight", {KV, H}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "self_attn.v_proj.weight", {KV, H}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "self_attn.o_proj.weight", {H, Q}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "post_attention_layernorm.weight", {H}, n, 1.0, 0.1));
        ts.push_back(bf16_tensor(p + "mlp.gate_proj.weight", {I, H}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "mlp.up_proj.weight", {I, H}, n, 0.0, 0.05));
        ts.push_back(bf16_tensor(p + "mlp.down_proj.weight", {H, I}, n, 0.0, 0.05));
    }
    ts.push_back(bf16_tensor("norm.weight", {H}, n, 1.0, 0.1));
    cf::Fields cfg = cf::base_config();  // the fields the loader tests' checkpoints carry (Llama 3.1 rope scaling)
    cfg = cf::with(cfg, "hidden_size", std::to_string(kHidden));
    cfg = cf::with(cfg, "intermediate_size", std::to_string(kInter));
    cfg = cf::with(cfg, "num_hidden_layers", std::to_string(kLayers));
    cfg = cf::with(cfg, "num_attention_heads", std::to_string(kHeads));
    cfg = cf::with(cfg, "num_key_value_heads", std::to_string(kKvHeads));
    cfg = cf::with(cfg, "head_dim", std::to_string(kHeadDim));
    cfg = cf::with(cfg, "vocab_size", std::to_string(kVocab));
    cfg = cf::with(cfg, "model_type", "\"llama\"");
    cf::write_text(dir / "config.json", cf::config_text(cfg));
    cf::write_safetensors(dir / "model.safetensors", ts);
    return dir.string();
}

// One packed batch: one sequence per length, random ids, pooled from pool_start.
struct Batch {
    std::vector<int32_t> ids, cu{0}, pool;
    Batch(const std::vector<int> &lens, const std::vector<int> &pool_start, unsigned seed) {
        std::mt19937 rng(seed);
        for (size_t i = 0; i < lens.size(); ++i) {
            for (int t = 0; t < lens[i]; ++t) ids.push_back(static_cast<int32_t>(rng() % kVocab));
            cu.push_back(cu.back() + lens[i]);
            pool.push_back(pool_start[i]);
        }
    }
    int n() const { return static_cast<int>(pool.size()); }
};

// Lengths around the sm90 kernel's tiles: 1 and 7 (one partial 64-key block and a mostly empty 128-row query tile),
// 64 (exactly one key block), 129 (one row past a query tile and one key past two blocks), 300 (three query tiles,
// five key blocks, the last partial). pool_start > 0 on three of them. 501 tokens: still a graph (<= 512).
Batch packed_batch() { return Batch({1, 7, 64, 129, 300}, {0, 3, 0, 5, 17}, 11); }
// A single 32-token sequence: the small batch CUDA graphs are for.
Batch small_batch() { return Batch({32}, {2}, 12); }

struct Model {
    rir_model *m = nullptr;
    rir_status status = RIR_OK;
    std::string error;
    Model(const std::string &dir, const char *device, rir_attention attention, rir_cuda_graphs graphs) {
        rir_open_options o;
        rir_open_options_init(&o);
        o.model_dir = dir.c_str();
        o.device = device;
        o.precision = RIR_PRECISION_BF16;
        o.max_batch_tokens = kMaxTokens;
        o.attention = attention;
        o.cuda_graphs = graphs;
        char err[1024] = "";
        status = rir_open(&o, &m, err, sizeof err);
        error = err;
    }
    ~Model() { rir_close(m); }
    Model(const Model &) = delete;
    std::vector<float> embed(const Batch &b) {
        std::vector<float> out(static_cast<size_t>(b.n()) * kHidden);
        const rir_status s = rir_embed(m, b.ids.data(), b.cu.data(), b.pool.data(), b.n(), 0, out.data(),
                                       static_cast<int64_t>(out.size()));
        CHECK_MSG(s == RIR_OK, "rir_embed on " << rir_device(m) << ": " << rir_last_error(m));
        return out;
    }
};

// The smallest per-sequence cosine between two outputs of the same batch; every row must be finite.
double worst_cosine(const std::vector<float> &a, const std::vector<float> &b, const std::string &what) {
    REQUIRE(a.size() == b.size() && a.size() % kHidden == 0);
    double worst = 1;
    for (size_t i = 0; i < a.size() / kHidden; ++i) {
        const double c = cosine(&a[i * kHidden], &b[i * kHidden], kHidden);
        CHECK_MSG(std::isfinite(c), what << ": sequence " << i << " is not finite");
        worst = std::isfinite(c) ? std::fmin(worst, c) : -1;
    }
    return worst;
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Whether device 0 runs the sm90 kernel (compute capability 9.0 exactly: the emulator reports 9.0).
bool device_is_sm90() {
    cudaDeviceProp p;
    rir::cuda::check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
    return p.major == 9 && p.minor == 0;
}

void check_refused_for_compute_capability(const Model &m) {
    CHECK_MSG(m.status == RIR_ERR_DEVICE, "status " << m.status << ": " << m.error);
    CHECK_MSG(m.error.find("needs 9.0") != std::string::npos, "message '" << m.error << "' does not name 9.0");
    CHECK(m.m == nullptr);
}

TEST_CASE(sm90_matches_the_cpu_twin_and_sm80_with_and_without_graphs) {
    const std::string dir = write_model();
    Model cpu(dir, "cpu", RIR_ATTENTION_DEFAULT, RIR_CUDA_GRAPHS_DEFAULT);
    REQUIRE(cpu.status == RIR_OK);
    Model sm80(dir, "cuda", RIR_ATTENTION_SM80, RIR_CUDA_GRAPHS_OFF);
    REQUIRE(sm80.status == RIR_OK);
    Model sm90(dir, "cuda", RIR_ATTENTION_SM90, RIR_CUDA_GRAPHS_OFF);
    Model graphs(dir, "cuda", RIR_ATTENTION_SM90, RIR_CUDA_GRAPHS_ON);
    CHECK(std::string(rir_device(sm80.m)).find("attention sm80") != std::string::npos);

    for (const Batch &b : {packed_batch(), small_batch()}) {
        const std::string what = std::to_string(b.ids.size()) + " tokens in " + std::to_string(b.n()) + " sequences";
        const std::vector<float> c = cpu.embed(b), a80 = sm80.embed(b);
        // The sm80 kernel on head_dim 128 against the CPU twin (runs on every GPU): the baseline sm90 is held to.
        const double sm80_cpu = worst_cosine(a80, c, "sm80 vs cpu");
        CHECK_MSG(sm80_cpu >= 0.9995, what << ": sm80 vs cpu bf16, min cosine " << sm80_cpu);
        if (!device_is_sm90()) {
            std::printf("%s: sm80 vs cpu bf16 %.7f; the device is not compute capability 9.0, sm90 not run\n",
                        what.c_str(), sm80_cpu);
            continue;
        }
        REQUIRE(sm90.status == RIR_OK);
        REQUIRE(graphs.status == RIR_OK);
        const std::vector<float> a90 = sm90.embed(b), a90_again = sm90.embed(b);
        // Every attention kernel rounds at the same points as the CPU backend's BF16 attention (bf16 P before P.V,
        // bf16 output); only the order of the fp32 sums differs (wgmma over 64-key blocks vs mma.sync over the
        // sm80 kernel's blocks vs the CPU's loops). Against the CPU twin that leaves the usual bf16 end-to-end
        // tolerance (0.9995, as test_cuda_forward); against sm80, whose GEMMs and other kernels are the very same
        // launches, only the attention output's last-bit differences remain: 0.9999.
        const double vs_cpu = worst_cosine(a90, c, "sm90 vs cpu"), vs_80 = worst_cosine(a90, a80, "sm90 vs sm80");
        CHECK_MSG(vs_cpu >= 0.9995, what << ": sm90 vs cpu bf16, min cosine " << vs_cpu);
        CHECK_MSG(vs_80 >= 0.9999, what << ": sm90 vs sm80, min cosine " << vs_80);
        CHECK_MSG(same_bits(a90, a90_again), what << ": the same sm90 call twice differs");
        // Graphs: the first call of a shape captures and launches the graph, the second replays it; both must give
        // the bits of plain launches (the replay reads the ids and plans uploaded for this call).
#if defined(REASONIR_CUDA_EMU)
        const unsigned long long graph_launches = emu::graph_launches();
#endif
        const std::vector<float> g1 = graphs.embed(b), g2 = graphs.embed(b);
#if defined(REASONIR_CUDA_EMU)
        // Both calls ran as graphs (a failed capture would fall back to plain launches, equal bits but untested).
        CHECK_MSG(emu::graph_launches() - graph_launches == 2,
                  what << ": " << emu::graph_launches() - graph_launches << " graph launches, expected 2");
#endif
        CHECK_MSG(same_bits(g1, a90), what << ": sm90 with graphs (capture) differs from plain sm90");
        CHECK_MSG(same_bits(g2, a90), what << ": sm90 with graphs (replay) differs from plain sm90");
        std::printf("%s: min cosine sm90 vs cpu bf16 %.7f, sm90 vs sm80 %.7f, sm80 vs cpu bf16 %.7f%s\n", what.c_str(),
                    vs_cpu, vs_80, sm80_cpu, same_bits(a90, a80) ? " (sm90 and sm80 equal bits)" : "");
    }
    if (device_is_sm90()) {
        const std::string d90 = rir_device(sm90.m), dg = rir_device(graphs.m);
        CHECK_MSG(d90.find("attention sm90") != std::string::npos, d90);
        CHECK_MSG(dg.find("attention sm90") != std::string::npos && dg.find("cuda graphs") != std::string::npos, dg);
        std::printf("devices: %s | %s\n", d90.c_str(), dg.c_str());
    } else {
        check_refused_for_compute_capability(sm90);
        check_refused_for_compute_capability(graphs);
    }
}

// The sm90 kernel supports head_dim 64 and 128 only: a head_dim-32 model is refused at open, by name (never a silent
// fallback to sm80). On a GPU other than 9.0 the compute capability is checked, and refused, first.
TEST_CASE(sm90_refuses_head_dim_32) {
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/h256_l4";
    Model m(dir, "cuda", RIR_ATTENTION_SM90, RIR_CUDA_GRAPHS_OFF);
    if (!device_is_sm90()) {
        check_refused_for_compute_capability(m);
        return;
    }
    CHECK_MSG(m.status == RIR_ERR_DEVICE, "status " << m.status << ": " << m.error);
    CHECK_MSG(m.error.find("supports head_dim 64 and 128, this model has 32") != std::string::npos,
              "message '" << m.error << "'");
    CHECK(m.m == nullptr);
    // The same model opens with sm80: the refusal is about the kernel, not the checkpoint.
    Model ok(dir, "cuda", RIR_ATTENTION_SM80, RIR_CUDA_GRAPHS_OFF);
    CHECK_MSG(ok.status == RIR_OK, ok.error);
}

}  // namespace

int main() {
    require_gpu();
    return check::run_all();
}
