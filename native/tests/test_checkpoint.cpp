// test_checkpoint.cpp: Checkpoint::open, parse_config, the safetensors header validation and the shard index, on tiny
// checkpoints written by this test (hidden 8, 2 layers, 2 heads, 1 kv head, head_dim 4, MLP 16, vocab 32).
// Every failure case asserts the rir_status and that the message names the file / tensor / offending value.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "checkpoint.h"
#include "cpu/cpu_backend.h"
#include "error.h"
#include "safetensors.h"

namespace fs = std::filesystem;
using rir::Checkpoint;

namespace {

// ----------------------------------------------------------------------------------------------------------------
// Writing checkpoints

struct Tensor {
    std::string name;
    std::string dtype;  // as written in the header
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
};

// Deterministic bf16 bits for element i of the k-th model tensor: distinct finite values near 1.
uint16_t pattern(int k, uint64_t i) { return static_cast<uint16_t>(0x3F80 + ((k * 37 + i * 11) % 0x7F)); }

const char *kLayerSuffixes[] = {"input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight"};
const std::vector<uint64_t> kLayerShapes[] = {{8}, {8, 8}, {4, 8}, {4, 8}, {8, 8}, {8}, {16, 8}, {16, 8}, {8, 16}};

uint64_t numel(const std::vector<uint64_t> &shape) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
}

// The tiny model's tensors, in BF16, names optionally prefixed. Tensor k gets pattern(k, i).
std::vector<Tensor> tiny_tensors(const std::string &prefix = "") {
    std::vector<std::pair<std::string, std::vector<uint64_t>>> specs = {{"embed_tokens.weight", {32, 8}}};
    for (int l = 0; l < 2; ++l)
        for (int s = 0; s < 9; ++s) specs.push_back({"layers." + std::to_string(l) + "." + kLayerSuffixes[s], kLayerShapes[s]});
    specs.push_back({"norm.weight", {8}});
    std::vector<Tensor> out;
    for (size_t k = 0; k < specs.size(); ++k) {
        Tensor t{prefix + specs[k].first, "BF16", specs[k].second, {}};
        uint64_t n = numel(t.shape);
        for (uint64_t i = 0; i < n; ++i) {
            uint16_t b = pattern(static_cast<int>(k), i);
            t.data.push_back(static_cast<uint8_t>(b & 0xFF));
            t.data.push_back(static_cast<uint8_t>(b >> 8));
        }
        out.push_back(std::move(t));
    }
    return out;
}

Tensor *find(std::vector<Tensor> &ts, const std::string &name) {
    for (auto &t : ts)
        if (t.name == name) return &t;
    return nullptr;
}

void erase(std::vector<Tensor> &ts, const std::string &name) {
    for (size_t i = 0; i < ts.size(); ++i)
        if (ts[i].name == name) { ts.erase(ts.begin() + static_cast<long>(i)); return; }
    REQUIRE(false);
}

std::string shape_json(const std::vector<uint64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

// Writes 8-byte little-endian `header_len`, the header text and the data.
void write_raw(const fs::path &path, uint64_t header_len, const std::string &header, const std::vector<uint8_t> &data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((header_len >> (8 * i)) & 0xFF));
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
    REQUIRE(f.good());
}

// A well-formed safetensors file: tensors back to back (after `gap` bytes), header padded with spaces to 8 bytes
// like the reference writer.
void write_safetensors(const fs::path &path, const std::vector<Tensor> &ts, uint64_t gap = 0) {
    std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
    std::vector<uint8_t> data(gap, 0xAB);
    for (const auto &t : ts) {
        uint64_t b = data.size();
        data.insert(data.end(), t.data.begin(), t.data.end());
        h += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + shape_json(t.shape) +
             ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(data.size()) + "]}";
    }
    h += "}";
    while (h.size() % 8) h += ' ';
    write_raw(path, h.size(), h, data);
}

using Fields = std::vector<std::pair<std::string, std::string>>;  // key -> raw JSON value

Fields base_config() {
    return {{"architectures", "[\"ReasonIRModel\"]"}, {"hidden_size", "8"},   {"intermediate_size", "16"},
            {"num_hidden_layers", "2"},                {"num_attention_heads", "2"}, {"num_key_value_heads", "1"},
            {"vocab_size", "32"},                      {"rms_norm_eps", "1e-05"},    {"rope_theta", "500000.0"},
            {"max_position_embeddings", "131072"},     {"hidden_act", "\"silu\""},   {"torch_dtype", "\"bfloat16\""},
            {"rope_scaling", R"({"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                 "original_max_position_embeddings": 8192, "rope_type": "llama3"})"}};
}

Fields with(Fields f, const std::string &key, const std::string &value) {
    for (auto &kv : f)
        if (kv.first == key) { kv.second = value; return f; }
    f.push_back({key, value});
    return f;
}

Fields without(Fields f, const std::string &key) {
    for (size_t i = 0; i < f.size(); ++i)
        if (f[i].first == key) { f.erase(f.begin() + static_cast<long>(i)); return f; }
    return f;
}

std::string config_text(const Fields &f) {
    std::string s = "{\n";
    for (size_t i = 0; i < f.size(); ++i) s += (i ? ",\n  \"" : "  \"") + f[i].first + "\": " + f[i].second;
    return s + "\n}\n";
}

void write_text(const fs::path &path, const std::string &text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    REQUIRE(f.good());
}

// A fresh, empty scratch folder for one case.
fs::path scratch(const std::string &name) {
    fs::path dir = fs::path(check::env_or_die("REASONIR_SCRATCH")) / "test_checkpoint" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A folder with config.json and model.safetensors holding `ts`.
fs::path single_file_checkpoint(const std::string &name, const std::vector<Tensor> &ts, const Fields &cfg = base_config()) {
    fs::path dir = scratch(name);
    write_text(dir / "config.json", config_text(cfg));
    write_safetensors(dir / "model.safetensors", ts);
    return dir;
}

// True when p lies in a mapping of `file` (from /proc/self/maps): the tensor is used in place, not copied.
bool mapped_from(const void *p, const fs::path &file) {
    std::ifstream maps("/proc/self/maps");
    std::string line, want = fs::canonical(file).string();
    auto addr = reinterpret_cast<uintptr_t>(p);
    while (std::getline(maps, line)) {
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode, path;
        in >> range >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, path);
        size_t dash = range.find('-');
        uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16), hi = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (addr >= lo && addr < hi) return path == want;
    }
    return false;
}

// Checks every weight pointer of a loaded tiny model against pattern() (tensor order of tiny_tensors).
void check_tiny_values(const Checkpoint &ck) {
    const auto &w = ck.weights();
    REQUIRE(w.layers.size() == 2);
    for (uint64_t i = 0; i < 32 * 8; ++i) CHECK(w.embed[i] == pattern(0, i));
    for (int l = 0; l < 2; ++l) {
        const auto &L = w.layers[static_cast<size_t>(l)];
        const rir::bf16_t *ptrs[9] = {L.attn_norm, L.wq, L.wk, L.wv, L.wo, L.mlp_norm, L.w_gate, L.w_up, L.w_down};
        for (int s = 0; s < 9; ++s) {
            int k = 1 + l * 9 + s;
            uint64_t n = numel(kLayerShapes[s]);
            bool ok = true;
            for (uint64_t i = 0; i < n; ++i) ok = ok && ptrs[s][i] == pattern(k, i);
            CHECK_MSG(ok, "layer " << l << " " << kLayerSuffixes[s]);
        }
    }
    for (uint64_t i = 0; i < 8; ++i) CHECK(w.final_norm[i] == pattern(19, i));
}

}  // namespace

// ----------------------------------------------------------------------------------------------------------------
// Good checkpoints

TEST_CASE(good_single_file) {
    fs::path dir = single_file_checkpoint("good_single", tiny_tensors());
    auto ck = Checkpoint::open(dir.string());
    const auto &c = ck->config();
    CHECK(c.hidden == 8);
    CHECK(c.intermediate == 16);
    CHECK(c.layers == 2);
    CHECK(c.heads == 2);
    CHECK(c.kv_heads == 1);
    CHECK(c.head_dim == 4);
    CHECK(c.vocab == 32);
    CHECK(c.max_position == 131072);
    CHECK(c.rms_eps == 1e-5);
    CHECK(c.rope_theta == 500000.0);
    CHECK(c.rope_scaling.llama3);
    CHECK(c.rope_scaling.factor == 8.0);
    CHECK(c.rope_scaling.low_freq_factor == 1.0);
    CHECK(c.rope_scaling.high_freq_factor == 4.0);
    CHECK(c.rope_scaling.original_max_position_embeddings == 8192.0);
    CHECK(ck->dir() == dir.string());
    check_tiny_values(*ck);
    // Aligned BF16 is used in place: the pointers lie in the mapping of model.safetensors.
    CHECK(mapped_from(ck->weights().embed, dir / "model.safetensors"));
    CHECK(mapped_from(ck->weights().layers[1].w_down, dir / "model.safetensors"));
}

TEST_CASE(good_sharded_with_index) {
    fs::path dir = scratch("good_sharded");
    write_text(dir / "config.json", config_text(base_config()));
    auto ts = tiny_tensors("model.");
    std::vector<Tensor> a(ts.begin(), ts.begin() + 7), b(ts.begin() + 7, ts.end());
    write_safetensors(dir / "model-00001-of-00002.safetensors", a);
    write_safetensors(dir / "model-00002-of-00002.safetensors", b);
    std::string idx = "{\"metadata\": {\"total_size\": 1234}, \"weight_map\": {";
    for (size_t k = 0; k < ts.size(); ++k)
        idx += std::string(k ? "," : "") + "\"" + ts[k].name + "\": \"model-0000" + (k < 7 ? "1" : "2") + "-of-00002.safetensors\"";
    write_text(dir / "model.safetensors.index.json", idx + "}}");
    auto ck = Checkpoint::open(dir.string() + "/");  // a trailing slash is fine
    check_tiny_values(*ck);
    CHECK(mapped_from(ck->weights().embed, dir / "model-00001-of-00002.safetensors"));
    CHECK(mapped_from(ck->weights().final_norm, dir / "model-00002-of-00002.safetensors"));
}

TEST_CASE(model_prefix_and_lm_head) {
    auto ts = tiny_tensors("model.");
    Tensor lm{"lm_head.weight", "BF16", {32, 8}, std::vector<uint8_t>(32 * 8 * 2, 0)};
    ts.push_back(lm);
    Tensor inv{"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {2}, std::vector<uint8_t>(8, 0)};
    ts.push_back(inv);
    auto ck = Checkpoint::open(single_file_checkpoint("prefix_lm_head", ts).string());
    check_tiny_values(*ck);
    // Prefixed and unprefixed names may be mixed across different tensors.
    auto mixed = tiny_tensors();
    find(mixed, "norm.weight")->name = "model.norm.weight";
    check_tiny_values(*Checkpoint::open(single_file_checkpoint("mixed_prefix", mixed).string()));
}

// Rewrites every tensor as F32 holding its bf16 value exactly (bits << 16).
template <class Tensors>
void widen_to_f32(Tensors &ts) {
    for (auto &t : ts) {
        std::vector<uint8_t> f32;
        for (size_t i = 0; i < t.data.size(); i += 2) {
            uint32_t u = static_cast<uint32_t>(t.data[i] | (t.data[i + 1] << 8)) << 16;
            for (int b = 0; b < 4; ++b) f32.push_back(static_cast<uint8_t>(u >> (8 * b)));
        }
        t.data = f32;
        t.dtype = "F32";
    }
}

TEST_CASE(f32_checkpoint_is_converted_round_to_nearest_even) {
    auto ts = tiny_tensors();
    // Every tensor becomes F32 holding the bf16 value exactly (bits << 16) ...
    widen_to_f32(ts);
    // ... except norm.weight, which probes the rounding: ties to even both ways, above half, NaNs, overflow.
    const uint32_t in[8] = {0x3F808000, 0x3F818000, 0x3F808001, 0x7FC00001, 0x7F800001, 0x7F800000, 0x7F7FFFFF, 0xBF80FFFF};
    const uint16_t want[8] = {0x3F80, 0x3F82, 0x3F81, 0x7FC0, 0x7FC0, 0x7F80, 0x7F80, 0xBF81};
    Tensor *norm = find(ts, "norm.weight");
    norm->data.clear();
    for (uint32_t u : in)
        for (int b = 0; b < 4; ++b) norm->data.push_back(static_cast<uint8_t>(u >> (8 * b)));
    fs::path dir = single_file_checkpoint("f32", ts);
    auto ck = Checkpoint::open(dir.string());
    for (int i = 0; i < 8; ++i) CHECK_MSG(ck->weights().final_norm[i] == want[i], "element " << i << ": " << std::hex
                                          << ck->weights().final_norm[i] << " != " << want[i]);
    for (uint64_t i = 0; i < 32 * 8; ++i) CHECK(ck->weights().embed[i] == pattern(0, i));
    CHECK(!mapped_from(ck->weights().embed, dir / "model.safetensors"));  // converted copy
}

TEST_CASE(f16_checkpoint_is_converted) {
    auto ts = tiny_tensors();
    // Half-precision inputs and their exact bf16 results (computed independently with numpy: f16 -> f32 -> RNE bf16).
    const uint16_t in[8] = {0x3C00, 0x3C04, 0x3C0C, 0x0001, 0x03FF, 0xFC00, 0x7E00, 0x7BFF};
    const uint16_t want[8] = {0x3F80, 0x3F80, 0x3F82, 0x3380, 0x3880, 0xFF80, 0x7FC0, 0x4780};
    for (auto &t : ts) {
        t.dtype = "F16";
        for (size_t i = 0; i < t.data.size(); i += 2) {
            uint16_t h = in[(i / 2) % 8];
            t.data[i] = static_cast<uint8_t>(h & 0xFF);
            t.data[i + 1] = static_cast<uint8_t>(h >> 8);
        }
    }
    auto ck = Checkpoint::open(single_file_checkpoint("f16", ts).string());
    for (int i = 0; i < 16; ++i) CHECK(ck->weights().final_norm[i % 8] == want[i % 8]);
    for (int i = 0; i < 128; ++i) CHECK(ck->weights().layers[1].w_down[i] == want[i % 8]);
}

TEST_CASE(misaligned_bf16_is_copied) {
    fs::path dir = scratch("misaligned");
    write_text(dir / "config.json", config_text(base_config()));
    // The header is padded to 8 bytes, so a 1-byte gap puts every tensor at an odd file offset.
    write_safetensors(dir / "model.safetensors", tiny_tensors(), 1);
    auto ck = Checkpoint::open(dir.string());
    check_tiny_values(*ck);
    CHECK(reinterpret_cast<uintptr_t>(ck->weights().embed) % 2 == 0);
    CHECK(!mapped_from(ck->weights().embed, dir / "model.safetensors"));
}

// ----------------------------------------------------------------------------------------------------------------
// Corrupt safetensors files (RIR_ERR_FORMAT)

TEST_CASE(truncated_shard) {
    fs::path dir = single_file_checkpoint("truncated", tiny_tensors());
    fs::path f = dir / "model.safetensors";
    fs::resize_file(f, fs::file_size(f) - 3);
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "model.safetensors: tensor 'norm.weight': data_offsets");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "the file is truncated");
    fs::resize_file(f, 5);
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "file is 5 bytes, too short");
    fs::resize_file(f, 0);
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "file is 0 bytes, too short");
}

TEST_CASE(header_length_out_of_range) {
    fs::path dir = single_file_checkpoint("header_len", tiny_tensors());
    fs::path f = dir / "model.safetensors";
    write_raw(f, 1000, "{}", {});
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT,
                 "safetensors header length 1000 runs past the end of the file (file is 10 bytes");
    write_raw(f, 0, "{}", {});
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "model.safetensors: safetensors header length is 0");
    write_raw(f, uint64_t(1) << 40, "{}", {});
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "header length 1099511627776 (bytes 0..7) exceeds the 100000000-byte limit");
    write_raw(f, ~uint64_t(0), "{}", {});
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "exceeds the 100000000-byte limit");
}

// Writes a one-tensor-header file with a raw header text and `data_bytes` bytes of data, returns the error.
void expect_header_error(const std::string &header, size_t data_bytes, rir_status st, const std::string &needle) {
    fs::path dir = single_file_checkpoint("bad_header", {});
    write_raw(dir / "model.safetensors", header.size(), header, std::vector<uint8_t>(data_bytes, 0));
    CHECK_THROWS(Checkpoint::open(dir.string()), st, needle);
}

TEST_CASE(bad_headers) {
    const std::string f = "model.safetensors";
    expect_header_error("{\"a\": {\"dtype\": \"BF16\",, }", 0, RIR_ERR_FORMAT,
                        f + ": safetensors header (JSON starting at file byte 8): JSON syntax error at byte 23");
    expect_header_error("\x01\x02garbage", 0, RIR_ERR_FORMAT, "JSON syntax error at byte 0");
    expect_header_error("[1, 2]", 0, RIR_ERR_FORMAT, f + ": safetensors header is array, expected a JSON object");
    expect_header_error("{\"a\": 5}", 0, RIR_ERR_FORMAT, "tensor 'a' (header byte 14): entry is number 5");
    expect_header_error(R"({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}})", 1, RIR_ERR_FORMAT,
                        f + ": tensor 'a' (header byte 14): unknown dtype 'Q7'");
    expect_header_error(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 10]}})", 10, RIR_ERR_FORMAT,
                        "tensor 'a' (header byte 14): data_offsets [0, 10] hold 10 bytes but dtype F32 with shape [2, 3] needs 24 bytes");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 4]}})", 8, RIR_ERR_FORMAT,
                        "tensor 'a' (header byte 14): data_offsets [8, 4] end before they begin");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}})", 12, RIR_ERR_FORMAT,
                        f + ": tensor 'a': data_offsets [0, 16] end past the data section, which holds 12 bytes");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                           "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}})", 12, RIR_ERR_FORMAT,
                        f + ": tensors 'a' data_offsets [0, 8] and 'b' data_offsets [4, 12] overlap");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]},
                           "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}})", 12, RIR_ERR_FORMAT,
                        "tensors 'a' data_offsets [4, 12] and 'b' data_offsets [6, 8] overlap");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}})", 0, RIR_ERR_FORMAT,
                        "shape[0] is number -1, expected a non-negative integer");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0,
                        RIR_ERR_FORMAT, "shape [4294967296, 4294967296] has more elements than fit in 64 bits");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}})", 1, RIR_ERR_FORMAT,
                        "'data_offsets' must be an array of 2 integers [begin, end], found an array of 1");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1.0]}})", 1, RIR_ERR_FORMAT,
                        "data_offsets[1] is number 1, expected a non-negative integer");
    expect_header_error(R"({"a": {"shape": [1], "data_offsets": [0, 1]}})", 1, RIR_ERR_FORMAT, "tensor 'a' (header byte 14): missing 'dtype'");
    expect_header_error(R"({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}})", 2, RIR_ERR_FORMAT,
                        "shape [3] of 4-bit dtype F4 is not a whole number of bytes");
    expect_header_error(R"({"__metadata__": {"format": 1}})", 0, RIR_ERR_FORMAT,
                        "safetensors __metadata__ 'format' is number 1, expected a string");
    expect_header_error(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {}})", 1, RIR_ERR_FORMAT,
                        "duplicate object key 'a'");
}

TEST_CASE(parse_header_direct) {
    // Empty tensors may share an offset; gaps and trailing bytes are accepted; metadata is kept.
    std::string h = R"({"__metadata__": {"format": "pt"}, "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
        "a": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]}, "e": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]}})";
    std::vector<uint8_t> file(8 + h.size() + 30, 0);
    for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(h.size() >> (8 * i));
    std::memcpy(file.data() + 8, h.data(), h.size());
    auto hd = rir::safetensors::parse_header(file.data(), file.size(), file.size(), "mem");
    REQUIRE(hd.tensors.size() == 3);
    CHECK(hd.data_start == 8 + h.size());
    CHECK(hd.data_bytes == 30);
    REQUIRE(hd.metadata.size() == 1);
    CHECK(hd.metadata[0].second == "pt");
    const auto *a = hd.find("a");
    REQUIRE(a);
    CHECK(a->dtype == rir::safetensors::DType::BF16);
    CHECK(a->offset == 8 + h.size() + 4);
    CHECK(a->nbytes == 4);
    CHECK(hd.find("e")->numel == 1);  // a scalar
    CHECK(hd.find("z")->numel == 0);
    CHECK(hd.find("q") == nullptr);
    // A larger file size than the bytes given is fine as long as the header is covered.
    CHECK(rir::safetensors::parse_header(file.data(), file.size(), uint64_t(1) << 40, "mem").data_bytes ==
          (uint64_t(1) << 40) - 8 - h.size());
}

// ----------------------------------------------------------------------------------------------------------------
// Files that parse but do not fit the config (RIR_ERR_CHECKPOINT)

TEST_CASE(wrong_dtype) {
    auto ts = tiny_tensors();
    Tensor *t = find(ts, "layers.1.mlp.up_proj.weight");
    t->dtype = "I64";
    t->data.resize(t->data.size() * 4);
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("wrong_dtype", ts).string()), RIR_ERR_CHECKPOINT,
                 "tensor 'layers.1.mlp.up_proj.weight' in " +
                     (fs::path(check::env_or_die("REASONIR_SCRATCH")) / "test_checkpoint/wrong_dtype/model.safetensors").string() +
                     " has dtype I64, expected BF16 (F32/F16 are converted)");
}

TEST_CASE(wrong_shape) {
    auto ts = tiny_tensors("model.");
    find(ts, "model.layers.0.self_attn.k_proj.weight")->shape = {8, 4};
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("wrong_shape", ts).string()), RIR_ERR_CHECKPOINT,
                 "tensor 'model.layers.0.self_attn.k_proj.weight' in ");
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("wrong_shape", ts).string()), RIR_ERR_CHECKPOINT,
                 "model.safetensors has shape [8, 4], expected [4, 8] ([num_key_value_heads * head_dim, hidden_size] from config.json)");
    // The config decides: a vocab mismatch is reported on the embedding.
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("wrong_vocab", tiny_tensors(), with(base_config(), "vocab_size", "33")).string()),
                 RIR_ERR_CHECKPOINT, "tensor 'embed_tokens.weight' in");
}

TEST_CASE(missing_tensor) {
    auto ts = tiny_tensors();
    erase(ts, "layers.1.mlp.up_proj.weight");
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("missing", ts).string()), RIR_ERR_CHECKPOINT,
                 "missing tensor 'layers.1.mlp.up_proj.weight' (with or without the 'model.' prefix; looked in model.safetensors)");
    // More layers in the config than in the file.
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("missing_layer", tiny_tensors(),
                                                         with(base_config(), "num_hidden_layers", "3")).string()),
                 RIR_ERR_CHECKPOINT, "missing tensor 'layers.2.input_layernorm.weight'");
}

TEST_CASE(unexpected_tensor) {
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("unexpected_layer", tiny_tensors(),
                                                         with(base_config(), "num_hidden_layers", "1")).string()),
                 RIR_ERR_CHECKPOINT, "model.safetensors: unexpected tensor 'layers.1.");
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("unexpected_layer", tiny_tensors(),
                                                         with(base_config(), "num_hidden_layers", "1")).string()),
                 RIR_ERR_CHECKPOINT, "layer 1 but config.json has num_hidden_layers = 1");
    auto ts = tiny_tensors();
    ts.push_back({"model.layers.0.self_attn.q_proj.bias", "BF16", {8}, std::vector<uint8_t>(16, 0)});
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("unexpected_bias", ts).string()), RIR_ERR_CHECKPOINT,
                 "unexpected tensor 'model.layers.0.self_attn.q_proj.bias' (not part of a Llama model");
    auto lz = tiny_tensors();
    lz.push_back({"layers.01.mlp.up_proj.weight", "BF16", {16, 8}, std::vector<uint8_t>(256, 0)});
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("unexpected_leading_zero", lz).string()), RIR_ERR_CHECKPOINT,
                 "unexpected tensor 'layers.01.mlp.up_proj.weight'");
}

// A config claiming far more layers than the files hold fails before any per-layer allocation (2^31 - 1 layers
// would otherwise need gigabytes of bookkeeping before the first missing tensor is noticed).
TEST_CASE(config_with_more_layers_than_the_checkpoint) {
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("too_many_layers", tiny_tensors(),
                                                         with(base_config(), "num_hidden_layers", "2147483647"))
                                      .string()),
                 RIR_ERR_CHECKPOINT, "num_hidden_layers = 2147483647 but the checkpoint (model.safetensors) holds "
                                     "layers 0..1: missing tensor 'layers.2.input_layernorm.weight'");
}

TEST_CASE(prefixed_and_unprefixed_duplicate) {
    auto ts = tiny_tensors();
    Tensor dup = *find(ts, "norm.weight");
    dup.name = "model.norm.weight";
    ts.push_back(dup);
    CHECK_THROWS(Checkpoint::open(single_file_checkpoint("dup_prefix", ts).string()), RIR_ERR_CHECKPOINT,
                 "tensor 'norm.weight' appears twice, as ");
}

// ----------------------------------------------------------------------------------------------------------------
// Sharded checkpoints with a bad index

// A two-shard checkpoint whose index text is given; returns the folder.
fs::path sharded(const std::string &name, const std::string &index_text) {
    fs::path dir = scratch(name);
    write_text(dir / "config.json", config_text(base_config()));
    auto ts = tiny_tensors();
    write_safetensors(dir / "a.safetensors", std::vector<Tensor>(ts.begin(), ts.begin() + 10));
    write_safetensors(dir / "b.safetensors", std::vector<Tensor>(ts.begin() + 10, ts.end()));
    write_text(dir / "model.safetensors.index.json", index_text);
    return dir;
}

std::string index_for(const std::map<std::string, std::string> &overrides) {
    auto ts = tiny_tensors();
    std::string s = "{\"weight_map\": {";
    for (size_t k = 0; k < ts.size(); ++k) {
        std::string shard = k < 10 ? "a.safetensors" : "b.safetensors";
        auto it = overrides.find(ts[k].name);
        if (it != overrides.end()) shard = it->second;
        s += std::string(k ? "," : "") + "\"" + ts[k].name + "\": \"" + shard + "\"";
    }
    return s + "}}";
}

TEST_CASE(index_good_and_bad) {
    check_tiny_values(*Checkpoint::open(sharded("index_good", index_for({})).string()));

    fs::path dir = sharded("index_missing_shard", index_for({{"norm.weight", "model-00003-of-00003.safetensors"}}));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_IO,
                 (dir / "model.safetensors.index.json").string() + ": shard 'model-00003-of-00003.safetensors' named in "
                 "weight_map cannot be used: " + (dir / "model-00003-of-00003.safetensors").string() +
                 ": cannot open: No such file or directory");

    dir = sharded("index_wrong_shard", index_for({{"norm.weight", "a.safetensors"}}));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_CHECKPOINT,
                 "model.safetensors.index.json assigns tensor 'norm.weight' to " + (dir / "a.safetensors").string() +
                 ", which has no tensor of that name");

    dir = sharded("index_bad_json", "{\"weight_map\": {\"x\": \"a.safetensors\",}}");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "model.safetensors.index.json: JSON syntax error at byte 37");
    dir = sharded("index_not_object", "[\"a.safetensors\"]");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "model.safetensors.index.json: shard index is array");
    dir = sharded("index_no_map", "{\"metadata\": {}}");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "shard index has no 'weight_map'");
    dir = sharded("index_escape", index_for({{"norm.weight", "../b.safetensors"}}));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT,
                 "weight_map entry 'norm.weight' names shard '../b.safetensors', which is not a relative path");
    dir = sharded("index_non_string", "{\"weight_map\": {\"norm.weight\": 3}}");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, "weight_map entry 'norm.weight' is number 3");

    // The same tensor in two shards is ambiguous.
    dir = sharded("index_duplicate", index_for({}));
    auto ts = tiny_tensors();
    write_safetensors(dir / "b.safetensors", std::vector<Tensor>(ts.begin() + 9, ts.end()));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_CHECKPOINT, "tensor 'layers.0.mlp.down_proj.weight' appears in both ");
}

TEST_CASE(no_weights_and_no_config) {
    fs::path dir = scratch("no_weights");
    write_text(dir / "config.json", config_text(base_config()));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_IO,
                 dir.string() + ": no weights found: looked for model.safetensors and model.safetensors.index.json");
    dir = scratch("no_config");
    write_safetensors(dir / "model.safetensors", tiny_tensors());
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_IO,
                 (dir / "config.json").string() + ": cannot open: No such file or directory");
    CHECK_THROWS(Checkpoint::open((dir / "does-not-exist").string()), RIR_ERR_IO, "config.json: cannot open");
}

// ----------------------------------------------------------------------------------------------------------------
// config.json (RIR_ERR_CONFIG)

TEST_CASE(config_defaults) {
    Fields f = base_config();
    for (const char *k : {"num_key_value_heads", "rms_norm_eps", "rope_theta", "max_position_embeddings", "rope_scaling",
                          "hidden_act"})
        f = without(f, k);
    auto c = rir::parse_config(config_text(f), "config.json");
    CHECK(c.kv_heads == 2);
    CHECK(c.head_dim == 4);
    CHECK(c.rms_eps == 1e-6);
    CHECK(c.rope_theta == 10000.0);
    CHECK(c.max_position == 2048);
    CHECK(!c.rope_scaling.llama3);
    // Explicit nulls behave like absent optional fields; "default" rope is plain; head_dim may differ from hidden/heads.
    c = rir::parse_config(config_text(with(with(with(f, "rope_scaling", "null"), "num_key_value_heads", "null"), "head_dim", "6")),
                          "config.json");
    CHECK(!c.rope_scaling.llama3);
    CHECK(c.kv_heads == 2);
    CHECK(c.head_dim == 6);
    c = rir::parse_config(config_text(with(f, "rope_scaling", R"({"rope_type": "default"})")), "config.json");
    CHECK(!c.rope_scaling.llama3);
    // Legacy "type" key.
    c = rir::parse_config(config_text(with(f, "rope_scaling", R"({"type": "llama3", "factor": 2, "low_freq_factor": 1,
        "high_freq_factor": 3, "original_max_position_embeddings": 100})")), "config.json");
    CHECK(c.rope_scaling.llama3);
    CHECK(c.rope_scaling.factor == 2.0);
    CHECK(c.rope_scaling.high_freq_factor == 3.0);
    CHECK(c.rope_scaling.original_max_position_embeddings == 100.0);
}

TEST_CASE(config_missing_required_fields) {
    for (const char *k : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"})
        CHECK_THROWS(rir::parse_config(config_text(without(base_config(), k)), "/m/config.json"), RIR_ERR_CONFIG,
                     std::string("/m/config.json: missing required field '") + k + "'");
    fs::path dir = single_file_checkpoint("config_missing_field", tiny_tensors(), without(base_config(), "vocab_size"));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_CONFIG,
                 (dir / "config.json").string() + ": missing required field 'vocab_size'");
}

TEST_CASE(config_wrong_types_and_values) {
    auto bad = [](const std::string &key, const std::string &value, rir_status st, const std::string &needle) {
        CHECK_THROWS(rir::parse_config(config_text(with(base_config(), key, value)), "config.json"), st, needle);
    };
    bad("hidden_size", "\"8\"", RIR_ERR_CONFIG, "config.json: field 'hidden_size' must be a positive integer, found string '8'");
    bad("hidden_size", "8.0", RIR_ERR_CONFIG, "field 'hidden_size' must be a positive integer, found number 8");
    bad("hidden_size", "null", RIR_ERR_CONFIG, "field 'hidden_size' must be a positive integer, found null");
    bad("num_hidden_layers", "0", RIR_ERR_CONFIG, "field 'num_hidden_layers' must be a positive integer, found number 0");
    bad("intermediate_size", "-16", RIR_ERR_CONFIG, "field 'intermediate_size' must be a positive integer, found number -16");
    bad("vocab_size", "4294967296", RIR_ERR_CONFIG, "field 'vocab_size' = 4294967296 exceeds the limit 2147483647");
    bad("num_key_value_heads", "[1]", RIR_ERR_CONFIG, "field 'num_key_value_heads' must be a positive integer, found array");
    bad("rms_norm_eps", "\"1e-5\"", RIR_ERR_CONFIG, "field 'rms_norm_eps' must be a positive number, found string '1e-5'");
    bad("rms_norm_eps", "0", RIR_ERR_CONFIG, "field 'rms_norm_eps' must be a positive number, found number 0");
    bad("rope_theta", "true", RIR_ERR_CONFIG, "field 'rope_theta' must be a positive number, found true");
    bad("rope_scaling", "5", RIR_ERR_CONFIG, "field 'rope_scaling' must be an object or null, found number 5");
    bad("rope_scaling", R"({"rope_type": "yarn", "factor": 4})", RIR_ERR_CONFIG,
        "rope_scaling type 'yarn' is not supported (supported: llama3, default, or null)");
    bad("rope_scaling", R"({"type": "linear", "factor": 4})", RIR_ERR_CONFIG, "rope_scaling type 'linear' is not supported");
    bad("rope_scaling", R"({"factor": 4})", RIR_ERR_CONFIG, "rope_scaling has neither 'rope_type' nor 'type'");
    bad("rope_scaling", R"({"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4})",
        RIR_ERR_CONFIG, "rope_scaling (llama3) is missing 'original_max_position_embeddings'");
    bad("rope_scaling", R"({"rope_type": "llama3", "factor": "8", "low_freq_factor": 1, "high_freq_factor": 4,
        "original_max_position_embeddings": 8192})", RIR_ERR_CONFIG, "field 'rope_scaling.factor' must be a positive number");
    bad("rope_scaling", R"({"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 4,
        "original_max_position_embeddings": 8192})", RIR_ERR_CONFIG, "high_freq_factor (4.000000) must be greater than low_freq_factor");
    bad("num_key_value_heads", "3", RIR_ERR_CONFIG, "num_attention_heads (2) is not a multiple of num_key_value_heads (3)");
    bad("num_attention_heads", "3", RIR_ERR_CONFIG, "hidden_size (8) is not a multiple of num_attention_heads (3) and no head_dim is given");
    bad("head_dim", "5", RIR_ERR_CONFIG, "head_dim (5) must be even");
    bad("hidden_act", "\"gelu\"", RIR_ERR_CONFIG, "hidden_act 'gelu' is not supported (only silu)");
    bad("hidden_act", "1", RIR_ERR_CONFIG, "field 'hidden_act' must be a string, found number 1");
    bad("attention_bias", "true", RIR_ERR_CONFIG, "attention_bias = true is not supported");
    bad("mlp_bias", "true", RIR_ERR_CONFIG, "mlp_bias = true is not supported");
    bad("mlp_bias", "\"no\"", RIR_ERR_CONFIG, "field 'mlp_bias' must be true or false, found string 'no'");
    bad("max_position_embeddings", "1e6", RIR_ERR_CONFIG, "field 'max_position_embeddings' must be a positive integer");
    CHECK_THROWS(rir::parse_config("[1]", "config.json"), RIR_ERR_CONFIG, "config.json: expected a JSON object, found array");
    CHECK_THROWS(rir::parse_config("{\"hidden_size\": 8,", "config.json"), RIR_ERR_FORMAT, "config.json: JSON syntax error at byte 18");
    // The same through open(): a syntax error names the file.
    fs::path dir = single_file_checkpoint("config_syntax", tiny_tensors());
    write_text(dir / "config.json", "{\"hidden_size\": 8 \"vocab_size\": 32}");
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_FORMAT, (dir / "config.json").string() + ": JSON syntax error at byte 18");
    dir = single_file_checkpoint("config_kv", tiny_tensors(), with(base_config(), "num_key_value_heads", "3"));
    CHECK_THROWS(Checkpoint::open(dir.string()), RIR_ERR_CONFIG, "is not a multiple of num_key_value_heads (3)");
}

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

// The tensor converted to F32 (exact: bits << 16), then element i set to the raw f32 bits.
void to_f32(Tensor &t) {
    std::vector<uint8_t> f32;
    for (size_t i = 0; i < t.data.size(); i += 2) {
        uint32_t u = static_cast<uint32_t>(t.data[i] | (t.data[i + 1] << 8)) << 16;
        for (int b = 0; b < 4; ++b) f32.push_back(static_cast<uint8_t>(u >> (8 * b)));
    }
    t.data = f32;
    t.dtype = "F32";
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
    for (auto &t : ts) to_f32(t);
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
        for (auto &t : ts) to_f32(t);
        set_f32(*find(ts, "layers.0.mlp.down_proj.weight"), 100, 0x7FC00000);  // [8, 16]: row 6, column 4
        fs::path dir = single_file_checkpoint("scan_f32_nan", ts);
        CHECK_THROWS(Checkpoint::open(dir.string(), scanning(copy)), RIR_ERR_CHECKPOINT,
                     "tensor 'layers.0.mlp.down_proj.weight' in " + (dir / "model.safetensors").string() +
                         " holds NaN at element 100 (row 6, column 4);");
        // A signalling NaN whose payload lives only in the low 16 bits must not become an Inf (or a finite value).
        ts = tiny_tensors();
        for (auto &t : ts) to_f32(t);
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
