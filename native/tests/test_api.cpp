// The C API's contract: argument checking, batch validation with messages naming the sequence, handle-scoped errors.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "reasonir.h"

namespace {

struct Opened {
    rir_model *m = nullptr;
    Opened() {
        const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/plain_mha";
        rir_open_options o;
        rir_open_options_init(&o);
        o.model_dir = dir.c_str();
        o.device = "cpu";
        o.num_threads = 1;
        o.max_batch_tokens = 64;
        char err[512];
        const rir_status st = rir_open(&o, &m, err, sizeof err);
        CHECK_MSG(st == RIR_OK, err);
        REQUIRE(st == RIR_OK);
    }
    ~Opened() { rir_close(m); }
};

bool contains(const char *s, const char *needle) { return std::strstr(s, needle) != nullptr; }

}  // namespace

TEST_CASE(open_options_defaults) {
    rir_open_options o;
    std::memset(&o, 0xff, sizeof o);
    rir_open_options_init(&o);
    CHECK(o.struct_size == sizeof(rir_open_options));
    CHECK(std::strcmp(o.device, "auto") == 0);
    CHECK(o.num_threads == 0 && o.max_batch_tokens == 0 && o.precision == RIR_PRECISION_DEFAULT);
    CHECK(o.model_dir == nullptr);
    CHECK(o.attention == RIR_ATTENTION_DEFAULT && o.cuda_graphs == RIR_CUDA_GRAPHS_DEFAULT);
}

TEST_CASE(attention_and_graphs_switches) {
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/plain_mha";
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = "cpu";  // the CPU backend ignores both switches, but every open validates them
    o.num_threads = 1;
    rir_model *m = nullptr;
    char err[512] = "";
    o.attention = 4;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(contains(err, "unknown attention 4"), err);
    o.attention = RIR_ATTENTION_SM90;
    o.cuda_graphs = -1;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(contains(err, "unknown cuda_graphs -1"), err);
    o.cuda_graphs = RIR_CUDA_GRAPHS_ON;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_OK);
    rir_close(m);
    // DEFAULT reads the environment; a value it does not name fails the open, naming the variable and the choices.
    o.attention = RIR_ATTENTION_DEFAULT;
    o.cuda_graphs = RIR_CUDA_GRAPHS_DEFAULT;
    setenv("REASONIR_ATTENTION", "sm91", 1);
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(contains(err, "REASONIR_ATTENTION='sm91' is not one of auto, sm80, sm90"), err);
    o.attention = RIR_ATTENTION_SM80;  // an explicit choice wins over the environment: the variable is not read
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_OK);
    rir_close(m);
    setenv("REASONIR_ATTENTION", "sm80", 1);
    setenv("REASONIR_CUDA_GRAPHS", "sometimes", 1);
    o.attention = RIR_ATTENTION_DEFAULT;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(contains(err, "REASONIR_CUDA_GRAPHS='sometimes' is not one of auto, on, off"), err);
    setenv("REASONIR_CUDA_GRAPHS", "", 1);  // empty: unset
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_OK);
    rir_close(m);
    unsetenv("REASONIR_ATTENTION");
    unsetenv("REASONIR_CUDA_GRAPHS");
}

TEST_CASE(first_struct_version_still_opens) {
    // A caller compiled against the first rir_open_options (which ended at `flags`) passes that smaller struct_size;
    // the fields added since read as DEFAULT, and nothing past its size is read.
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/plain_mha";
    struct V1 {
        uint32_t struct_size;
        const char *model_dir;
        const char *device;
        int32_t num_threads;
        int32_t precision;
        int64_t max_batch_tokens;
        uint32_t flags;
    };
    unsigned char buf[sizeof(rir_open_options) + 16];
    std::memset(buf, 0xff, sizeof buf);  // garbage where the new fields would be
    V1 v1{static_cast<uint32_t>(offsetof(rir_open_options, attention)), dir.c_str(), "cpu", 1, RIR_PRECISION_DEFAULT, 0, 0};
    std::memcpy(buf, &v1, offsetof(V1, flags) + sizeof(uint32_t));
    rir_model *m = nullptr;
    char err[512] = "";
    CHECK_MSG(rir_open(reinterpret_cast<const rir_open_options *>(buf), &m, err, sizeof err) == RIR_OK, err);
    rir_close(m);
    v1.struct_size = sizeof(rir_open_options) + 8;  // larger than this library knows: refused
    std::memcpy(buf, &v1, sizeof(uint32_t));
    CHECK(rir_open(reinterpret_cast<const rir_open_options *>(buf), &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(contains(err, "struct_size"), err);
}

TEST_CASE(open_errors_go_to_the_buffer) {
    rir_open_options o;
    rir_open_options_init(&o);
    rir_model *m = reinterpret_cast<rir_model *>(&o);  // must be reset to NULL on failure
    char err[256] = "";
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(m == nullptr);
    CHECK(contains(err, "model_dir"));
    o.model_dir = "/nonexistent/dir";
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_IO);
    CHECK_MSG(contains(err, "/nonexistent/dir"), err);
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/plain_mha";
    o.model_dir = dir.c_str();
    o.device = "cuda:0";
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_DEVICE);
    CHECK(contains(err, "CUDA"));
    o.device = "gpu";
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    o.device = "cpu";
    o.precision = 7;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    o.precision = RIR_PRECISION_DEFAULT;
    o.struct_size = 8;
    CHECK(rir_open(&o, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(contains(err, "struct_size"));
    // A tiny buffer gets a truncated, NUL-terminated message; a NULL buffer is allowed.
    char tiny[4] = {'x', 'x', 'x', 'x'};
    CHECK(rir_open(&o, &m, tiny, sizeof tiny) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(tiny[3] == '\0');
    CHECK(rir_open(&o, &m, nullptr, 0) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(rir_open(nullptr, &m, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
}

TEST_CASE(model_facts) {
    Opened h;
    CHECK(rir_hidden_size(h.m) == 96);
    CHECK(rir_vocab_size(h.m) == 300);
    CHECK(rir_num_layers(h.m) == 3);
    CHECK(rir_max_batch_tokens(h.m) == 64);
    CHECK(std::strcmp(rir_backend(h.m), "cpu") == 0);
    CHECK(std::strncmp(rir_device(h.m), "cpu", 3) == 0);
    CHECK(rir_precision_of(h.m) == RIR_PRECISION_FP32);
    CHECK(std::strlen(rir_version()) > 0);
    CHECK(std::strcmp(rir_last_error(h.m), "") == 0);
}

TEST_CASE(batch_validation_names_the_sequence) {
    Opened h;
    std::vector<float> out(96 * 3);
    const int32_t ids[] = {1, 2, 3, 4, 5, 6};
    struct Case {
        std::vector<int32_t> cu, pool;
        std::vector<int32_t> tokens;
        int n;
        rir_status want;
        const char *needle;
    };
    const Case cases[] = {
        {{0, 2, 2, 6}, {0, 0, 0}, {}, 3, RIR_ERR_INPUT, "sequence 1 is empty"},
        {{0, 2, 4, 6}, {0, 2, 0}, {}, 3, RIR_ERR_INPUT, "sequence 1: pool_start 2"},
        {{0, 2, 4, 6}, {0, -1, 0}, {}, 3, RIR_ERR_INPUT, "pool_start -1"},
        {{1, 2, 4, 6}, {0, 0, 0}, {}, 3, RIR_ERR_INPUT, "cu_seqlens[0]"},
        {{0, 2, 4, 6}, {0, 0, 0}, {1, 2, 3, 300, 5, 6}, 3, RIR_ERR_INPUT, "sequence 1, position 1: token id 300"},
        {{0, 2, 4, 6}, {0, 0, 0}, {1, 2, 3, 4, 5, -2}, 3, RIR_ERR_INPUT, "sequence 2, position 1: token id -2"},
        {{0}, {}, {}, 0, RIR_ERR_INVALID_ARGUMENT, "n_seqs"},
    };
    for (const Case &c : cases) {
        const int32_t *tok = c.tokens.empty() ? ids : c.tokens.data();
        rir_status st = rir_embed(h.m, tok, c.cu.data(), c.pool.data(), c.n, 0, out.data(), 96 * 3);
        CHECK_MSG(st == c.want, "status " << st << " for '" << c.needle << "': " << rir_last_error(h.m));
        CHECK_MSG(contains(rir_last_error(h.m), c.needle), "'" << rir_last_error(h.m) << "' lacks '" << c.needle << "'");
    }
    const int32_t cu[] = {0, 2, 4, 6};
    CHECK(rir_embed(h.m, ids, cu, nullptr, 3, 0, out.data(), 96 * 3 - 1) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(contains(rir_last_error(h.m), "output buffer"));
    CHECK(rir_embed(h.m, ids, cu, nullptr, 3, 0x10, out.data(), 96 * 3) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(rir_embed(h.m, nullptr, cu, nullptr, 3, 0, out.data(), 96 * 3) == RIR_ERR_INVALID_ARGUMENT);
    CHECK(rir_embed(nullptr, ids, cu, nullptr, 3, 0, out.data(), 96 * 3) == RIR_ERR_INVALID_ARGUMENT);
    // Over the token budget given at open (64).
    std::vector<int32_t> many(65, 1);
    const int32_t cu65[] = {0, 65};
    CHECK(rir_embed(h.m, many.data(), cu65, nullptr, 1, 0, out.data(), 96) == RIR_ERR_INPUT);
    CHECK(contains(rir_last_error(h.m), "max_batch_tokens"));
    // A good call clears the last error and yields unit rows.
    CHECK(rir_embed(h.m, ids, cu, nullptr, 3, 0, out.data(), 96 * 3) == RIR_OK);
    CHECK(std::strcmp(rir_last_error(h.m), "") == 0);
    for (int r = 0; r < 3; ++r) {
        double n2 = 0;
        for (int j = 0; j < 96; ++j) n2 += static_cast<double>(out[r * 96 + j]) * out[r * 96 + j];
        CHECK_NEAR(n2, 1.0, 1e-5);
    }
}

TEST_CASE(sequence_longer_than_max_position) {
    // llama3_gqa has max_position_embeddings 4096: a 4097-token sequence is refused.
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/llama3_gqa";
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = "cpu";
    rir_model *m = nullptr;
    REQUIRE(rir_open(&o, &m, nullptr, 0) == RIR_OK);
    std::vector<int32_t> ids(4097, 3);
    const int32_t cu[] = {0, 4097};
    std::vector<float> out(rir_hidden_size(m));
    CHECK(rir_embed(m, ids.data(), cu, nullptr, 1, 0, out.data(), static_cast<int64_t>(out.size())) == RIR_ERR_INPUT);
    CHECK_MSG(contains(rir_last_error(m), "max_position_embeddings 4096"), rir_last_error(m));
    rir_close(m);
    rir_close(nullptr);
}

// Batch composition and thread count change no bit of a vector, through the C API, on a generated checkpoint
// (llama3_gqa: GQA, llama3 RoPE, 3 shards), in both precision modes. The CPU engine is exact here by construction
// (see test_cpu_forward.cpp, sequence_alone_equals_sequence_in_packed_batch), so the check is memcmp, not a tolerance.
TEST_CASE(embedding_is_bit_exact_across_batch_composition_and_threads) {
    const std::string dir = check::env_or_die("REASONIR_GENERATED") + "/llama3_gqa";
    auto open = [&](int threads, int32_t precision) {
        rir_open_options o;
        rir_open_options_init(&o);
        o.model_dir = dir.c_str();
        o.device = "cpu";
        o.num_threads = threads;
        o.precision = precision;
        rir_model *m = nullptr;
        char err[512] = "";
        rir_status st = rir_open(&o, &m, err, sizeof err);
        CHECK_MSG(st == RIR_OK, err);
        return m;
    };
    std::vector<int32_t> a, x, y;
    for (int i = 0; i < 45; ++i) a.push_back((i * 37 + 5) % 200);
    for (int i = 0; i < 3; ++i) x.push_back((i * 11 + 1) % 200);
    for (int i = 0; i < 130; ++i) y.push_back((i * 53 + 7) % 200);
    for (int32_t precision : {RIR_PRECISION_FP32, RIR_PRECISION_BF16}) {
        rir_model *m1 = open(1, precision), *m2 = open(2, precision);
        REQUIRE(m1 && m2);
        const int64_t H = rir_hidden_size(m1);
        // a alone (pool_start 4), and a between x and y in one packed batch
        std::vector<float> alone(H), packed(3 * H), alone2(H);
        const int32_t cu1[] = {0, 45}, ps1[] = {4};
        CHECK(rir_embed(m1, a.data(), cu1, ps1, 1, 0, alone.data(), H) == RIR_OK);
        std::vector<int32_t> ids = x;
        ids.insert(ids.end(), a.begin(), a.end());
        ids.insert(ids.end(), y.begin(), y.end());
        const int32_t cu3[] = {0, 3, 48, 178}, ps3[] = {0, 4, 1};
        CHECK(rir_embed(m2, ids.data(), cu3, ps3, 3, 0, packed.data(), 3 * H) == RIR_OK);
        CHECK(rir_embed(m2, a.data(), cu1, ps1, 1, 0, alone2.data(), H) == RIR_OK);
        CHECK_MSG(std::memcmp(alone.data(), packed.data() + H, H * sizeof(float)) == 0,
                  "precision " << precision << ": alone (1 thread) != packed (2 threads)");
        CHECK_MSG(std::memcmp(alone.data(), alone2.data(), H * sizeof(float)) == 0,
                  "precision " << precision << ": 1 thread != 2 threads");
        CHECK(std::memcmp(packed.data(), packed.data() + H, H * sizeof(float)) != 0);  // neighbours differ
        rir_close(m1);
        rir_close(m2);
    }
}

RUN_TESTS()
