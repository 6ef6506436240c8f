// test_checkpoint_load.cpp: how Checkpoint::open reads files (LoadOptions): special files refused without blocking,
// copy-on-load (no mapping outlives open), release_weights, and the host NaN/Inf scan; on the tiny checkpoints of
// checkpoint_fixtures.h.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "check.h"
#include "checkpoint.h"
#include "checkpoint_fixtures.h"
#include "cpu/cpu_backend.h"
#include "error.h"

namespace fs = std::filesystem;
using rir::Checkpoint;
using namespace checkpoint_fixtures;

// ----------------------------------------------------------------------------------------------------------------
// Special files in place of checkpoint files: refused at once (RIR_ERR_IO), never waited on

namespace {

// A FIFO opened for reading without O_NONBLOCK blocks until a writer appears, i.e. forever. The test must not hang
// with the code under test: SIGALRM after 20 s prints which case hung and exits with a failure.
const char *g_hang_case = "";
extern "C" void on_hang(int) {
    const char head[] = "\n  FAILED: Checkpoint::open hung (did not return within 20 s) on a FIFO: ";
    ssize_t ignored = ::write(2, head, sizeof head - 1);
    ignored = ::write(2, g_hang_case, std::strlen(g_hang_case));
    ignored = ::write(2, "\n", 1);
    (void)ignored;
    ::_exit(3);
}

struct HangGuard {
    explicit HangGuard(const char *what) {
        g_hang_case = what;
        std::signal(SIGALRM, on_hang);
        ::alarm(20);
    }
    ~HangGuard() { ::alarm(0); }
};

void make_fifo(const fs::path &p) {
    fs::remove(p);
    REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
}

}  // namespace

TEST_CASE(fifo_config_is_refused_without_blocking) {
    fs::path dir = single_file_checkpoint("fifo_config", tiny_tensors());
    make_fifo(dir / "config.json");
    HangGuard g("config.json");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_IO,
                 (dir / "config.json").string() + ": is not a regular file (it is a FIFO)");
}

TEST_CASE(fifo_single_shard_is_refused_without_blocking) {
    fs::path dir = single_file_checkpoint("fifo_single", tiny_tensors());
    make_fifo(dir / "model.safetensors");
    for (bool copy : {false, true}) {
        HangGuard g(copy ? "model.safetensors (copy_weights)" : "model.safetensors");
        rir::LoadOptions o;
        o.copy_weights = copy;
        CHECK_THROWS(Checkpoint::open(dir.string(), o), RIR_ERR_IO,
                     (dir / "model.safetensors").string() + ": is not a regular file (it is a FIFO)");
    }
}

TEST_CASE(fifo_index_and_fifo_shard_are_refused_without_blocking) {
    fs::path dir = scratch("fifo_index");
    write_text(dir / "config.json", config_text(base_config()));
    make_fifo(dir / "model.safetensors.index.json");
    {
        HangGuard g("model.safetensors.index.json");
        CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_IO,
                     (dir / "model.safetensors.index.json").string() + ": is not a regular file (it is a FIFO)");
    }
    // A shard named by a good index is a FIFO.
    fs::path dir2 = scratch("fifo_shard");
    write_text(dir2 / "config.json", config_text(base_config()));
    auto ts = tiny_tensors();
    write_safetensors(dir2 / "a.safetensors", std::vector<Tensor>(ts.begin(), ts.begin() + 10));
    make_fifo(dir2 / "b.safetensors");
    std::string idx = "{\"weight_map\": {";
    for (size_t k = 0; k < ts.size(); ++k)
        idx += std::string(k ? "," : "") + "\"" + ts[k].name + "\": \"" + (k < 10 ? "a" : "b") + ".safetensors\"";
    write_text(dir2 / "model.safetensors.index.json", idx + "}}");
    for (bool copy : {false, true}) {
        HangGuard g(copy ? "b.safetensors named in the index (copy_weights)" : "b.safetensors named in the index");
        rir::LoadOptions o;
        o.copy_weights = copy;
        CHECK_THROWS(Checkpoint::open(dir2.string(), o), RIR_ERR_IO,
                     "shard 'b.safetensors' named in weight_map cannot be used: " + (dir2 / "b.safetensors").string() +
                         ": is not a regular file (it is a FIFO)");
    }
    // A directory is refused the same way.
    fs::path dir3 = single_file_checkpoint("dir_config", tiny_tensors());
    fs::remove(dir3 / "config.json");
    fs::create_directory(dir3 / "config.json");
    CHECK_THROWS(Checkpoint::open(dir3.string()), RIR_ERR_IO, "config.json: is not a regular file (it is a directory)");
}

// ----------------------------------------------------------------------------------------------------------------
// LoadOptions::copy_weights, weight_bytes, release_weights

namespace {

void set_bf16(Tensor &t, uint64_t i, uint16_t bits) {
    REQUIRE(t.dtype == "BF16");
    t.data[2 * i] = static_cast<uint8_t>(bits & 0xFF);
    t.data[2 * i + 1] = static_cast<uint8_t>(bits >> 8);
}


void set_f32(Tensor &t, uint64_t i, uint32_t bits) {
    REQUIRE(t.dtype == "F32");
    for (int b = 0; b < 4; ++b) t.data[4 * i + b] = static_cast<uint8_t>(bits >> (8 * b));
}

rir::LoadOptions scanning(bool copy = false) {
    rir::LoadOptions o;
    o.scan_nonfinite = true;
    o.copy_weights = copy;
    return o;
}

}  // namespace


namespace {

// True when any mapping of this process is backed by `file`.
bool any_mapping_of(const fs::path &file) {
    std::ifstream maps("/proc/self/maps");
    std::string line, want = fs::canonical(file).string();
    while (std::getline(maps, line)) {
        size_t slash = line.find('/');
        if (slash != std::string::npos && line.compare(slash, std::string::npos, want) == 0) return true;
    }
    return false;
}

std::vector<const rir::bf16_t *> all_pointers(const rir::ModelWeights &w) {
    std::vector<const rir::bf16_t *> p = {w.embed, w.final_norm};
    for (const auto &L : w.layers)
        for (auto q : {L.attn_norm, L.wq, L.wk, L.wv, L.wo, L.mlp_norm, L.w_gate, L.w_up, L.w_down}) p.push_back(q);
    return p;
}

uint64_t tiny_weight_bytes() {
    uint64_t n = 0;
    for (const auto &t : tiny_tensors()) n += t.data.size();
    return n;
}

// Embeds a few fixed packed sequences with a CPU backend over `ck` (fp32, unnormalized, so that any weight bit
// shows), returning the raw output.
std::vector<float> cpu_forward(const Checkpoint &ck) {
    const rir::LlamaConfig &c = ck.config();
    std::vector<int32_t> ids, cu = {0}, ps;
    for (int len : {1, 7, 33}) {
        for (int i = 0; i < len; ++i) ids.push_back(static_cast<int32_t>((i * 131 + len * 17) % c.vocab));
        cu.push_back(static_cast<int32_t>(ids.size()));
        ps.push_back(len > 1 ? 2 : 0);
    }
    rir::PackedBatch b;
    b.token_ids = ids.data();
    b.cu_seqlens = cu.data();
    b.pool_start = ps.data();
    b.n_seqs = static_cast<int32_t>(ps.size());
    rir::CpuOptions o;
    o.num_threads = 2;
    o.precision = RIR_PRECISION_FP32;
    auto backend = rir::make_cpu_backend(c, ck.weights(), o);
    std::vector<float> out(ps.size() * static_cast<size_t>(c.hidden));
    backend->embed(b, false, out.data());
    return out;
}

}  // namespace

TEST_CASE(copy_weights_survives_shards_damaged_after_open) {
    for (const char *fixture : {"plain_mha", "llama3_gqa"}) {
        fs::path src = fs::path(check::env_or_die("REASONIR_GENERATED")) / fixture;
        fs::path dir = scratch(std::string("copy_weights_") + fixture);
        fs::copy(src, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        std::vector<fs::path> shards;
        for (const auto &e : fs::directory_iterator(dir))
            if (e.path().extension() == ".safetensors") shards.push_back(e.path());
        REQUIRE(!shards.empty());

        std::vector<float> want;
        {
            auto mapped = Checkpoint::open(dir.string());
            want = cpu_forward(*mapped);
            CHECK(any_mapping_of(shards[0]));  // the default mode maps the shards
        }
        rir::LoadOptions o;
        o.copy_weights = true;
        auto ck = Checkpoint::open(dir.string(), o);
        // No mapping outlives open; every tensor is owned and 64-byte aligned.
        for (const auto &f : shards) CHECK_MSG(!any_mapping_of(f), f.string() << " is still mapped");
        for (const rir::bf16_t *p : all_pointers(ck->weights())) {
            REQUIRE(p != nullptr);
            CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
        }
        // Damage every shard: the first truncated to nothing (a mapped model would die of SIGBUS on its next read),
        // the others rewritten in place with other bytes of the same size (a mapped model would silently change).
        for (size_t i = 0; i < shards.size(); ++i) {
            uint64_t size = fs::file_size(shards[i]);
            std::ofstream f(shards[i], std::ios::binary | std::ios::in | std::ios::out);
            if (i == 0) {
                f.close();
                fs::resize_file(shards[i], 0);
            } else {
                std::string junk(static_cast<size_t>(size), '\x7f');
                f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
                REQUIRE(f.good());
            }
        }
        std::vector<float> got = cpu_forward(*ck);
        REQUIRE(got.size() == want.size());
        CHECK_MSG(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0,
                  fixture << ": output of the copied weights differs from the output before the damage");
        for (float v : got) REQUIRE(std::isfinite(v));
    }
}

TEST_CASE(copy_weights_tiny_checkpoints_hold_the_same_values) {
    rir::LoadOptions o;
    o.copy_weights = true;
    fs::path dir = single_file_checkpoint("copy_single", tiny_tensors());
    auto ck = Checkpoint::open(dir.string(), o);
    check_tiny_values(*ck);
    CHECK(!any_mapping_of(dir / "model.safetensors"));
    CHECK(ck->weight_bytes() == tiny_weight_bytes());
    check_tiny_values(*Checkpoint::open(sharded("copy_sharded", index_for({})).string(), o));
    // misaligned BF16 (odd offsets) and an F32 checkpoint go through the same owned memory
    dir = scratch("copy_misaligned");
    write_text(dir / "config.json", config_text(base_config()));
    write_safetensors(dir / "model.safetensors", tiny_tensors(), 1);
    check_tiny_values(*Checkpoint::open(dir.string(), o));
    auto ts = tiny_tensors();
    widen_to_f32(ts);
    check_tiny_values(*Checkpoint::open(single_file_checkpoint("copy_f32", ts).string(), o));
    // A shard that is cut short is reported as an I/O or format error, never a signal.
    dir = single_file_checkpoint("copy_truncated", tiny_tensors());
    fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") - 3);
    CHECK_THROWS(Checkpoint::open(dir.string(), o), RIR_ERR_FORMAT, "the file is truncated");
}

TEST_CASE(release_weights_unmaps_frees_and_nulls) {
    for (bool copy : {false, true}) {
        fs::path dir = single_file_checkpoint(copy ? "release_copy" : "release_mapped", tiny_tensors());
        rir::LoadOptions o;
        o.copy_weights = copy;
        auto ck = Checkpoint::open(dir.string(), o);
        CHECK(ck->weight_bytes() == tiny_weight_bytes());
        CHECK(any_mapping_of(dir / "model.safetensors") == !copy);
        ck->release_weights();
        CHECK(!any_mapping_of(dir / "model.safetensors"));
        for (const rir::bf16_t *p : all_pointers(ck->weights())) CHECK(p == nullptr);
        CHECK(ck->weights().layers.size() == 2);  // the layer count stays, every pointer is null
        CHECK(ck->weight_bytes() == 0);
        CHECK(ck->config().hidden == 8);
        CHECK(ck->config().layers == 2);
        CHECK(ck->config().rope_scaling.llama3);
        ck->release_weights();  // twice is harmless
        CHECK(ck->weight_bytes() == 0);
    }
    // Converted tensors count as bf16 (2 bytes per element), whatever the file held.
    auto ts = tiny_tensors();
    widen_to_f32(ts);
    auto ck = Checkpoint::open(single_file_checkpoint("release_converted", ts).string());
    CHECK(ck->weight_bytes() == tiny_weight_bytes());
    ck->release_weights();
    for (const rir::bf16_t *p : all_pointers(ck->weights())) CHECK(p == nullptr);
}

// ----------------------------------------------------------------------------------------------------------------
// LoadOptions::scan_nonfinite

TEST_CASE(scan_nonfinite_clean_checkpoint_passes) {
    for (bool copy : {false, true}) {
        check_tiny_values(*Checkpoint::open(single_file_checkpoint("scan_clean", tiny_tensors()).string(), scanning(copy)));
        check_tiny_values(*Checkpoint::open(sharded("scan_clean_sharded", index_for({})).string(), scanning(copy)));
    }
    // Non-finite values in tensors the model does not use (lm_head) do not matter.
    auto ts = tiny_tensors("model.");
    Tensor lm{"lm_head.weight", "BF16", {32, 8}, std::vector<uint8_t>(32 * 8 * 2, 0xFF)};  // all NaN
    ts.push_back(lm);
    check_tiny_values(*Checkpoint::open(single_file_checkpoint("scan_lm_head", ts).string(), scanning()));
}

TEST_CASE(scan_nonfinite_bf16_nan_and_inf) {
    for (bool copy : {false, true}) {
        auto ts = tiny_tensors();
        set_bf16(*find(ts, "layers.1.mlp.up_proj.weight"), 13, 0x7FC1);  // [16, 8]: row 1, column 5
        fs::path dir = single_file_checkpoint("scan_bf16_nan", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'layers.1.mlp.up_proj.weight' in " + (dir / "model.safetensors").string() +
                         " holds NaN at element 13 (row 1, column 5)");
        // Not scanned by default: the same file opens.
        rir::LoadOptions plain;
        plain.copy_weights = copy;
        CHECK(Checkpoint::open(dir.string(), plain)->weights().layers[1].w_up[13] == 0x7FC1);

        ts = tiny_tensors("model.");
        set_bf16(*find(ts, "model.layers.0.self_attn.k_proj.weight"), 31, 0x7F80);  // [4, 8]: last element
        set_bf16(*find(ts, "model.norm.weight"), 2, 0xFF80);
        dir = single_file_checkpoint("scan_bf16_inf", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'model.layers.0.self_attn.k_proj.weight' in " + (dir / "model.safetensors").string() +
                         " holds Inf at element 31 (row 3, column 7)");
        find(ts, "model.layers.0.self_attn.k_proj.weight")->data = tiny_tensors("model.")[3].data;
        dir = single_file_checkpoint("scan_bf16_ninf", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'model.norm.weight' in " + (dir / "model.safetensors").string() + " holds -Inf at element 2;");
    }
    // In a sharded checkpoint the message names the shard holding the tensor.
    fs::path dir = sharded("scan_sharded", index_for({}));
    auto ts = tiny_tensors();
    std::vector<Tensor> b(ts.begin() + 10, ts.end());
    set_bf16(*find(b, "layers.1.mlp.gate_proj.weight"), 127, 0x7F81);
    write_safetensors(dir / "b.safetensors", b);
    CHECK_THROWS(Checkpoint::open(dir.string(), scanning()), RIR_ERR_CHECKPOINT,
                 "tensor 'layers.1.mlp.gate_proj.weight' in " + (dir / "b.safetensors").string() +
                     " holds NaN at element 127 (row 15, column 7)");
}

TEST_CASE(scan_nonfinite_f32_nan_and_inf) {
    for (bool copy : {false, true}) {
        auto ts = tiny_tensors();
        widen_to_f32(ts);
        set_f32(*find(ts, "layers.0.mlp.down_proj.weight"), 100, 0x7FC00000);  // [8, 16]: row 6, column 4
        fs::path dir = single_file_checkpoint("scan_f32_nan", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'layers.0.mlp.down_proj.weight' in " + (dir / "model.safetensors").string() +
                         " holds NaN at element 100 (row 6, column 4);");
        // A signalling NaN whose payload lives only in the low 16 bits must not become an Inf (or a finite value).
        ts = tiny_tensors();
        widen_to_f32(ts);
        set_f32(*find(ts, "embed_tokens.weight"), 9, 0x7F800001);
        dir = single_file_checkpoint("scan_f32_snan", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'embed_tokens.weight' in " + (dir / "model.safetensors").string() +
                         " holds NaN at element 9 (row 1, column 1);");
        ts = tiny_tensors();
        to_f32(*find(ts, "layers.1.self_attn.q_proj.weight"));  // one F32 tensor among BF16 ones
        set_f32(*find(ts, "layers.1.self_attn.q_proj.weight"), 0, 0xFF800000);
        dir = single_file_checkpoint("scan_f32_inf", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'layers.1.self_attn.q_proj.weight' in " + (dir / "model.safetensors").string() +
                         " holds -Inf at element 0 (row 0, column 0);");
        // A finite F32 value that overflows bf16 (rounds to Inf) is caught too, and the message says so.
        set_f32(*find(ts, "layers.1.self_attn.q_proj.weight"), 0, 0x7F7FFFFF);
        dir = single_file_checkpoint("scan_f32_overflow", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     " holds Inf at element 0 (row 0, column 0) (the F32 value 3.40282347e+38 overflows bf16)");
    }
}

TEST_CASE(scan_nonfinite_large_tensor_reports_the_first_bad_element) {
    // 2^21 x 8 = 16.8M elements: big enough for the scan to split the tensor across threads. Two NaNs planted; the
    // lower index must be reported whichever thread finds its NaN first.
    Fields cfg = with(base_config(), "vocab_size", "2097152");
    auto ts = tiny_tensors();
    Tensor &e = *find(ts, "embed_tokens.weight");
    e.shape = {2097152, 8};
    e.data.assign(2097152ull * 8 * 2, 0);
    for (size_t i = 0; i < e.data.size(); i += 2) e.data[i + 1] = 0x3F;  // 0x3F00 = 0.5
    const uint64_t first = 2097152ull * 8 / 2 - 5, later = 2097152ull * 8 - 1;
    set_bf16(e, later, 0xFFC0);
    set_bf16(e, first, 0x7F80);
    fs::path dir = single_file_checkpoint("scan_large", ts, cfg);
    for (bool copy : {false, true})
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'embed_tokens.weight' in " + (dir / "model.safetensors").string() + " holds Inf at element " +
                         std::to_string(first) + " (row " + std::to_string(first / 8) + ", column " +
                         std::to_string(first % 8) + ")");
    set_bf16(e, first, 0x3F00);
    write_safetensors(dir / "model.safetensors", ts);
    CHECK_THROWS(Checkpoint::open(dir.string(), scanning()), RIR_ERR_CHECKPOINT,
                 " holds NaN at element " + std::to_string(later) + " (row 2097151, column 7)");
    set_bf16(e, later, 0x3F00);
    set_bf16(e, 0, 0x7FFF);
    write_safetensors(dir / "model.safetensors", ts);
    CHECK_THROWS(Checkpoint::open(dir.string(), scanning()), RIR_ERR_CHECKPOINT, " holds NaN at element 0 (row 0");
    set_bf16(e, 0, 0x3F00);
    write_safetensors(dir / "model.safetensors", ts);
    CHECK(Checkpoint::open(dir.string(), scanning())->weights().embed[later] == 0x3F00);
    fs::remove_all(dir);
}

RUN_TESTS()
