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
#include "checkpoint_fixtures.h"
#include "error.h"
#include "safetensors.h"

namespace fs = std::filesystem;
using rir::Checkpoint;
using namespace checkpoint_fixtures;


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


RUN_TESTS()
