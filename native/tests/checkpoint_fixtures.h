// checkpoint_fixtures.h: tiny checkpoints written by the loader tests (test_checkpoint.cpp,
// test_checkpoint_load.cpp): hidden 8, 2 layers, 2 heads, 1 kv head, head_dim 4, MLP 16, vocab 32. Test support only.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "checkpoint.h"
#include "safetensors.h"

namespace checkpoint_fixtures {

namespace fs = std::filesystem;
using rir::Checkpoint;

// ----------------------------------------------------------------------------------------------------------------
// Writing checkpoints

struct Tensor {
    std::string name;
    std::string dtype;  // as written in the header
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
};

// Deterministic bf16 bits for element i of the k-th model tensor: distinct finite values near 1.
inline uint16_t pattern(int k, uint64_t i) { return static_cast<uint16_t>(0x3F80 + ((k * 37 + i * 11) % 0x7F)); }

inline const char *kLayerSuffixes[] = {"input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                       "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                       "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight"};
inline const std::vector<uint64_t> kLayerShapes[] = {{8}, {8, 8}, {4, 8}, {4, 8}, {8, 8}, {8}, {16, 8}, {16, 8}, {8, 16}};

inline uint64_t numel(const std::vector<uint64_t> &shape) {
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

inline void erase(std::vector<Tensor> &ts, const std::string &name) {
    for (size_t i = 0; i < ts.size(); ++i)
        if (ts[i].name == name) { ts.erase(ts.begin() + static_cast<long>(i)); return; }
    REQUIRE(false);
}

inline std::string shape_json(const std::vector<uint64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

// Writes 8-byte little-endian `header_len`, the header text and the data.
inline void write_raw(const fs::path &path, uint64_t header_len, const std::string &header, const std::vector<uint8_t> &data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((header_len >> (8 * i)) & 0xFF));
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
    REQUIRE(f.good());
}

// A well-formed safetensors file: tensors back to back (after `gap` bytes), header padded with spaces to 8 bytes
// like the reference writer.
inline void write_safetensors(const fs::path &path, const std::vector<Tensor> &ts, uint64_t gap = 0) {
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

inline Fields base_config() {
    return {{"architectures", "[\"ReasonIRModel\"]"}, {"hidden_size", "8"},   {"intermediate_size", "16"},
            {"num_hidden_layers", "2"},                {"num_attention_heads", "2"}, {"num_key_value_heads", "1"},
            {"vocab_size", "32"},                      {"rms_norm_eps", "1e-05"},    {"rope_theta", "500000.0"},
            {"max_position_embeddings", "131072"},     {"hidden_act", "\"silu\""},   {"torch_dtype", "\"bfloat16\""},
            {"rope_scaling", R"({"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                 "original_max_position_embeddings": 8192, "rope_type": "llama3"})"}};
}

inline Fields with(Fields f, const std::string &key, const std::string &value) {
    for (auto &kv : f)
        if (kv.first == key) { kv.second = value; return f; }
    f.push_back({key, value});
    return f;
}

inline Fields without(Fields f, const std::string &key) {
    for (size_t i = 0; i < f.size(); ++i)
        if (f[i].first == key) { f.erase(f.begin() + static_cast<long>(i)); return f; }
    return f;
}

inline std::string config_text(const Fields &f) {
    std::string s = "{\n";
    for (size_t i = 0; i < f.size(); ++i) s += (i ? ",\n  \"" : "  \"") + f[i].first + "\": " + f[i].second;
    return s + "\n}\n";
}

inline void write_text(const fs::path &path, const std::string &text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    REQUIRE(f.good());
}

// A fresh, empty scratch folder for one case.
inline fs::path scratch(const std::string &name) {
    fs::path dir = fs::path(check::env_or_die("REASONIR_SCRATCH")) / "test_checkpoint" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A folder with config.json and model.safetensors holding `ts`.
inline fs::path single_file_checkpoint(const std::string &name, const std::vector<Tensor> &ts, const Fields &cfg = base_config()) {
    fs::path dir = scratch(name);
    write_text(dir / "config.json", config_text(cfg));
    write_safetensors(dir / "model.safetensors", ts);
    return dir;
}

// True when p lies in a mapping of `file` (from /proc/self/maps): the tensor is used in place, not copied.
inline bool mapped_from(const void *p, const fs::path &file) {
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
inline void check_tiny_values(const Checkpoint &ck) {
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

// A two-shard checkpoint whose index text is given; returns the folder.
inline fs::path sharded(const std::string &name, const std::string &index_text) {
    fs::path dir = scratch(name);
    write_text(dir / "config.json", config_text(base_config()));
    auto ts = tiny_tensors();
    write_safetensors(dir / "a.safetensors", std::vector<Tensor>(ts.begin(), ts.begin() + 10));
    write_safetensors(dir / "b.safetensors", std::vector<Tensor>(ts.begin() + 10, ts.end()));
    write_text(dir / "model.safetensors.index.json", index_text);
    return dir;
}

inline std::string index_for(const std::map<std::string, std::string> &overrides) {
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

// Rewrites a tensor as F32 holding its bf16 values exactly (bits << 16).
inline void to_f32(Tensor &t) {
    std::vector<uint8_t> f32;
    for (size_t i = 0; i < t.data.size(); i += 2) {
        uint32_t u = static_cast<uint32_t>(t.data[i] | (t.data[i + 1] << 8)) << 16;
        for (int b = 0; b < 4; ++b) f32.push_back(static_cast<uint8_t>(u >> (8 * b)));
    }
    t.data = f32;
    t.dtype = "F32";
}

// Every tensor as F32 (see to_f32).
inline void widen_to_f32(std::vector<Tensor> &ts) {
    for (auto &t : ts) to_f32(t);
}

}  // namespace checkpoint_fixtures
