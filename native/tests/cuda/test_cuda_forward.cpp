// test_cuda_forward.cpp: the whole CUDA backend on the generated fixture checkpoints: against the CPU backend in BF16
// mode (its op-by-op reference) and the committed float32 reference outputs (cosine >= 0.9995 per vector), batch
// invariance, determinism, the handle's error paths. `--small` runs one small forward only (for compute-sanitizer).
#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "cpu/cpu_backend.h"
#include "cuda_test.h"
#include "fixture_inputs.h"
#include "json.h"
#include "npy.h"
#include "reasonir.h"

using namespace cudatest;

namespace {

using Sequences = FixtureSequences;
inline Sequences load_inputs(const std::string &path) { return load_fixture_inputs(path); }

rir::PackedBatch batch_of(const Sequences &s) {
    rir::PackedBatch b;
    b.token_ids = s.ids.data();
    b.cu_seqlens = s.cu.data();
    b.pool_start = s.pool.data();
    b.n_seqs = s.n();
    return b;
}

std::string fixture_dir(const std::string &name) { return check::env_or_die("REASONIR_GENERATED") + "/" + name; }

struct Models {
    std::unique_ptr<rir::Checkpoint> ck;
    std::unique_ptr<rir::Backend> gpu, cpu;
};

Models open_models(const std::string &name, int64_t max_tokens) {
    Models m;
    m.ck = rir::Checkpoint::open(fixture_dir(name));
    rir::cuda::CudaOptions o;
    o.max_batch_tokens = max_tokens;
    m.gpu = rir::cuda::make_cuda_backend(m.ck->config(), m.ck->weights(), o);
    rir::CpuOptions c;
    c.precision = RIR_PRECISION_BF16;
    c.max_batch_tokens = max_tokens;
    m.cpu = rir::make_cpu_backend(m.ck->config(), m.ck->weights(), c);
    return m;
}

void check_fixture(const std::string &name) {
    const std::string fixtures = check::env_or_die("REASONIR_FIXTURES");
    const Sequences s = load_inputs(fixtures + "/" + name + "/inputs.json");
    const NpyMatrix fp32 = read_npy(fixtures + "/" + name + "/expected_fp32.npy");
    Models m = open_models(name, static_cast<int64_t>(s.ids.size()));
    const int H = m.ck->config().hidden, n = s.n();
    CHECK(std::string(m.gpu->name()) == "cuda");
    CHECK(m.gpu->precision() == RIR_PRECISION_BF16);
    std::vector<float> g(static_cast<size_t>(n) * H), c(g.size()), g2(g.size());
    m.gpu->embed(batch_of(s), true, g.data());
    m.cpu->embed(batch_of(s), true, c.data());
    double worst_cpu = 1, worst_ref = 1;
    for (int i = 0; i < n; ++i) {
        // expected_fp32 rows are the pooled means before normalization; cosine does not care.
        const double vs_cpu = cosine(&g[static_cast<size_t>(i) * H], &c[static_cast<size_t>(i) * H], H);
        const double vs_ref = cosine(&g[static_cast<size_t>(i) * H], fp32.row(i), H);
        CHECK_MSG(vs_ref >= 0.9995, name << " sequence " << i << ": cosine vs the fp32 reference " << vs_ref);
        CHECK_MSG(vs_cpu >= 0.9995, name << " sequence " << i << ": cosine vs the CPU BF16 backend " << vs_cpu);
        worst_cpu = std::fmin(worst_cpu, vs_cpu);
        worst_ref = std::fmin(worst_ref, vs_ref);
    }
    std::printf("cuda %-10s: min cosine vs cpu bf16 %.7f, vs fp32 reference %.7f (%d sequences, %zu tokens, %s)\n",
                name.c_str(), worst_cpu, worst_ref, n, s.ids.size(), m.gpu->device().c_str());
    // Determinism: the same batch again gives the same bits.
    m.gpu->embed(batch_of(s), true, g2.data());
    CHECK_MSG(std::memcmp(g.data(), g2.data(), g.size() * sizeof(float)) == 0, name << ": second run differs");
    // Batch invariance: each sequence alone equals its row of the packed batch. Only the GEMMs may depend on the
    // batch (cuBLASLt picks kernels by shape); every handwritten kernel computes a row from its own sequence only.
    double worst_inv = 1;
    for (int i = 0; i < n; ++i) {
        Sequences one;
        one.ids.assign(s.ids.begin() + s.cu[i], s.ids.begin() + s.cu[i + 1]);
        one.cu = {0, s.cu[i + 1] - s.cu[i]};
        one.pool = {s.pool[i]};
        std::vector<float> alone(H);
        m.gpu->embed(batch_of(one), true, alone.data());
        const float *row = &g[static_cast<size_t>(i) * H];
        if (kEmulated) {  // the emulator's GEMM does not depend on the batch: bit for bit
            CHECK_MSG(std::memcmp(alone.data(), row, H * sizeof(float)) == 0, name << " sequence " << i << " alone differs");
        }
        worst_inv = std::fmin(worst_inv, cosine(alone.data(), row, H));
    }
    CHECK_MSG(worst_inv >= 0.9999, name << ": batch invariance cosine " << worst_inv);
}

TEST_CASE(forward_plain_mha) { check_fixture("plain_mha"); }
TEST_CASE(forward_h256_l4) { check_fixture("h256_l4"); }
TEST_CASE(forward_llama3_gqa) { check_fixture("llama3_gqa"); }

// Two models in one process (as a server holding a query and a document model, or two GPUs): independent state.
TEST_CASE(two_models_in_one_process) {
    const std::string fixtures = check::env_or_die("REASONIR_FIXTURES");
    Models a = open_models("plain_mha", 512), b = open_models("h256_l4", 512);
    const Sequences sa = load_inputs(fixtures + "/plain_mha/inputs.json");
    const Sequences sb = load_inputs(fixtures + "/h256_l4/inputs.json");
    const int ha = a.ck->config().hidden, hb = b.ck->config().hidden;
    std::vector<float> a1(static_cast<size_t>(sa.n()) * ha), a2(a1.size()), b1(static_cast<size_t>(sb.n()) * hb);
    a.gpu->embed(batch_of(sa), true, a1.data());
    b.gpu->embed(batch_of(sb), true, b1.data());  // interleaved with the other model's calls
    a.gpu->embed(batch_of(sa), true, a2.data());
    CHECK_MSG(std::memcmp(a1.data(), a2.data(), a1.size() * sizeof(float)) == 0, "model A changed after model B ran");
    std::vector<float> bc(b1.size());
    b.cpu->embed(batch_of(sb), true, bc.data());
    for (int i = 0; i < sb.n(); ++i)
        CHECK(cosine(&b1[static_cast<size_t>(i) * hb], &bc[static_cast<size_t>(i) * hb], hb) >= 0.9995);
}

TEST_CASE(fp32_precision_is_refused) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    rir::cuda::CudaOptions o;
    o.precision = RIR_PRECISION_FP32;
    CHECK_THROWS(rir::cuda::make_cuda_backend(ck->config(), ck->weights(), o), RIR_ERR_INVALID_ARGUMENT,
                 "bf16 only");
}

TEST_CASE(nan_weight_is_named_at_open) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    const rir::LlamaConfig &c = ck->config();
    rir::ModelWeights w = ck->weights();
    std::vector<rir::bf16_t> up(w.layers[1].w_up, w.layers[1].w_up + static_cast<size_t>(c.intermediate) * c.hidden);
    up[static_cast<size_t>(3) * c.hidden + 5] = 0x7fc0;  // NaN at row 3, column 5
    w.layers[1].w_up = up.data();
    CHECK_THROWS(rir::cuda::make_cuda_backend(c, w, rir::cuda::CudaOptions{}), RIR_ERR_CHECKPOINT,
                 "tensor layers.1.mlp.up_proj.weight holds NaN at element " +
                     std::to_string(3 * c.hidden + 5) + " (row 3, column 5)");
}

TEST_CASE(oversized_budget_is_refused_before_allocating) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    rir::cuda::CudaOptions o;
    o.max_batch_tokens = int64_t(1) << 29;  // far more activations than any GPU holds
    CHECK_THROWS(rir::cuda::make_cuda_backend(ck->config(), ck->weights(), o), RIR_ERR_OUT_OF_MEMORY,
                 "use a smaller token budget");
}

// Through the C API: device selection, and the weights' mapping is dropped once they are on the device.
TEST_CASE(c_api_on_cuda) {
    const std::string dir = fixture_dir("h256_l4");
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = "cuda";
    rir_model *m = nullptr;
    char err[512];
    REQUIRE(rir_open(&o, &m, err, sizeof err) == RIR_OK);
    CHECK(std::string(rir_backend(m)) == "cuda");
    CHECK(rir_precision_of(m) == RIR_PRECISION_BF16);
    CHECK(std::string(rir_device_note(m)).empty());
    const int32_t ids[] = {128000, 5, 6, 7}, cu[] = {0, 4}, pool[] = {1};
    std::vector<float> out(static_cast<size_t>(rir_hidden_size(m)));
    CHECK(rir_embed(m, ids, cu, pool, 1, 0, out.data(), static_cast<int64_t>(out.size())) == RIR_OK);
    double norm = 0;
    for (float x : out) norm += static_cast<double>(x) * x;
    CHECK_NEAR(std::sqrt(norm), 1.0, 1e-5);
    rir_close(m);
    o.precision = RIR_PRECISION_FP32;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(err).find("bf16 only") != std::string::npos);
}

#if defined(REASONIR_CUDA_EMU)
// A sticky CUDA error (here injected by the emulator) poisons the backend: every later call fails clearly and never
// runs on the dead context.
TEST_CASE(sticky_error_poisons_the_backend) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    auto gpu = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{});
    const int32_t ids[] = {1, 2, 3}, cu[] = {0, 3}, pool[] = {0};
    rir::PackedBatch b;
    b.token_ids = ids;
    b.cu_seqlens = cu;
    b.pool_start = pool;
    b.n_seqs = 1;
    std::vector<float> out(static_cast<size_t>(ck->config().hidden));
    gpu->embed(b, true, out.data());
    emu::inject_error(cudaErrorIllegalAddress);
    CHECK_THROWS(gpu->embed(b, true, out.data()), RIR_ERR_DEVICE, "cudaErrorIllegalAddress");
    CHECK_THROWS(gpu->embed(b, true, out.data()), RIR_ERR_DEVICE, "unusable after an earlier CUDA error");
    gpu.reset();  // must not touch the dead context, nor crash
    emu::reset();
}

// Open, embed and close all leave the calling thread's current device as the caller had it (a JVM thread or an
// application that uses CUDA itself must not find its device switched by a call into the engine).
TEST_CASE(the_callers_current_device_is_restored) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    emu::set_device_count(2);
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    auto current = [] {
        int d = -1;
        cudaGetDevice(&d);
        return d;
    };
    rir::cuda::CudaOptions o;
    o.ordinal = 0;
    auto gpu = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), o);
    CHECK(current() == 1);
    const int32_t ids[] = {1, 2, 3}, cu[] = {0, 3}, pool[] = {0};
    rir::PackedBatch b;
    b.token_ids = ids;
    b.cu_seqlens = cu;
    b.pool_start = pool;
    b.n_seqs = 1;
    std::vector<float> out(static_cast<size_t>(ck->config().hidden));
    gpu->embed(b, true, out.data());
    CHECK(current() == 1);
    gpu.reset();
    CHECK(current() == 1);
    emu::reset();
}

// cuBLASLt's heuristic may rank first an algorithm that then fails on this GPU and driver (CUBLAS_STATUS_NOT_SUPPORTED):
// the backend falls back to the next candidate, keeps it for the shape (the failing one is tried once per shape, not
// on every call), and gives the same result; when every candidate fails, the error names them.
TEST_CASE(cublaslt_falls_back_to_the_next_algorithm) {
    const char *fake = std::getenv("REASONIR_CUBLASLT");
    REQUIRE(fake != nullptr);
    void *h = dlopen(fake, RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(h != nullptr);
    auto calls = reinterpret_cast<long (*)(int)>(dlsym(h, "fakeCublasLtMatmulCalls"));
    REQUIRE(calls != nullptr);
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    const int32_t ids[] = {5, 6, 7, 8, 9}, cu[] = {0, 5}, pool[] = {0};
    rir::PackedBatch b;
    b.token_ids = ids;
    b.cu_seqlens = cu;
    b.pool_start = pool;
    b.n_seqs = 1;
    const int H = ck->config().hidden;
    std::vector<float> ref(H), got(H), again(H);
    auto plain = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{});
    plain->embed(b, true, ref.data());
    plain.reset();

    setenv("FAKE_CUBLASLT_FAIL", "algo0", 1);
    auto gpu = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{});
    const long first0 = calls(0), first1 = calls(1);
    gpu->embed(b, true, got.data());
    const long tried0 = calls(0) - first0, ran1 = calls(1) - first1;
    CHECK(std::memcmp(got.data(), ref.data(), H * sizeof(float)) == 0);
    CHECK(tried0 > 0);          // the heuristic's first choice was tried (and failed) ...
    CHECK(ran1 >= tried0);      // ... and every GEMM then ran on the second
    gpu->embed(b, true, again.data());
    CHECK(calls(0) - first0 == tried0);  // the failing choice is not tried again for the same shapes
    CHECK(std::memcmp(again.data(), ref.data(), H * sizeof(float)) == 0);

    setenv("FAKE_CUBLASLT_FAIL", "allalgos", 1);
    auto none = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{});
    CHECK_THROWS(none->embed(b, true, got.data()), RIR_ERR_DEVICE, "3 of 3 algorithms tried");
    unsetenv("FAKE_CUBLASLT_FAIL");
    none.reset();
    gpu.reset();
    emu::reset();
}

TEST_CASE(out_of_device_memory_at_open_is_typed) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    emu::set_memory_limit(size_t(1) << 20);
    CHECK_THROWS(rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{}),
                 RIR_ERR_OUT_OF_MEMORY, "free of");
    emu::reset();
}
#endif

}  // namespace

int main(int argc, char **argv) {
    require_gpu();
    if (argc > 1 && std::strcmp(argv[1], "--small") == 0) {  // one small forward, for compute-sanitizer
        auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
        auto gpu = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), rir::cuda::CudaOptions{});
        const int32_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, cu[] = {0, 3, 11}, pool[] = {0, 2};
        rir::PackedBatch b;
        b.token_ids = ids;
        b.cu_seqlens = cu;
        b.pool_start = pool;
        b.n_seqs = 2;
        std::vector<float> out(static_cast<size_t>(2 * ck->config().hidden));
        gpu->embed(b, true, out.data());
        std::printf("small forward ok\n");
        return 0;
    }
    return check::run_all();
}
