// checkpoint.cpp: Checkpoint::open and parse_config (checkpoint.h). Reads config.json, opens model.safetensors or the
// shards of model.safetensors.index.json, validates every tensor against the config and fills LlamaConfig and
// ModelWeights.
//
// Two ways to hold the weights (LoadOptions::copy_weights):
//  - mapped (default): each shard is mmap'ed read-only and aligned BF16 tensors are used in place; F32/F16 (and
//    misaligned BF16) are converted into Checkpoint::converted_. Nothing but the headers is read eagerly.
//    Hazard: the kernel reads mapped pages lazily, so if a shard is truncated while the model is open (an
//    interrupted re-download, `> file`, a copy over it in place), the next access to a page past the new end raises
//    SIGBUS and the process dies, in whatever thread happens to touch it; a shard rewritten in place at the same
//    size silently changes the weights under the running model. Replacing files by rename (what download tools do)
//    is safe: the mapping keeps the old inode alive.
//  - copied (RIR_OPEN_COPY_WEIGHTS): no shard is ever mapped. Headers and tensors are read with pread into memory
//    owned by the Checkpoint (64-byte aligned) and every file is closed before open() returns; a file that shrinks
//    while it is being read gives RIR_ERR_IO, never a signal. Costs resident memory equal to the weights.
// LoadOptions::scan_nonfinite checks every bound tensor (after any conversion to bf16) for NaN/Inf.
#include "checkpoint.h"

#include <algorithm>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <system_error>
#include <thread>

#include "error.h"
#include "json.h"
#include "safetensors.h"

namespace rir {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Numbers

// fp32 -> bf16, round to nearest even; NaN stays a quiet NaN (the truncation alone could turn it into an infinity).
bf16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_t>((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<bf16_t>(u >> 16);
}

// IEEE binary16 -> fp32, exact (every half value, subnormals included, is a float).
float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);  // inf / NaN (payload kept)
    } else if (exp != 0) {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;  // +-0
    } else {
        // Subnormal half: man * 2^-24. Normalize the mantissa into a float.
        int e = -1;
        do {
            man <<= 1;
            ++e;
        } while ((man & 0x400u) == 0);
        u = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

std::string join_path(const std::string &dir, const std::string &name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool path_exists(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// ---------------------------------------------------------------------------------------------------------------
// config.json

class ConfigReader {
public:
    ConfigReader(const json::Value &root, const std::string &where) : root_(root), where_(where) {}

    [[noreturn]] void fail(const std::string &what) const { throw Error(RIR_ERR_CONFIG, where_ + ": " + what); }

    // Present and not null. HF treats an explicit null like an absent optional field.
    const json::Value *get(const char *name) const {
        const json::Value *v = root_.find(name);
        return v && !v->is_null() ? v : nullptr;
    }

    int64_t positive_int(const json::Value &v, const char *name, int64_t max) const {
        int64_t x;
        if (!v.get_int64(x) || x <= 0)
            fail(std::string("field '") + name + "' must be a positive integer, found " + v.describe());
        if (x > max) fail(std::string("field '") + name + "' = " + std::to_string(x) + " exceeds the limit " + std::to_string(max));
        return x;
    }

    int required_int(const char *name) const {
        const json::Value *v = root_.find(name);
        if (!v) fail(std::string("missing required field '") + name + "'");
        return static_cast<int>(positive_int(*v, name, INT_MAX));
    }

    int64_t optional_int(const char *name, int64_t dflt, int64_t max) const {
        const json::Value *v = get(name);
        return v ? positive_int(*v, name, max) : dflt;
    }

    double positive_number(const json::Value &v, const std::string &name) const {
        if (!v.is_number() || !(v.as_double() > 0) || !std::isfinite(v.as_double()))
            fail("field '" + name + "' must be a positive number, found " + v.describe());
        return v.as_double();
    }

    double optional_number(const char *name, double dflt) const {
        const json::Value *v = get(name);
        return v ? positive_number(*v, name) : dflt;
    }

    bool optional_bool(const char *name, bool dflt) const {
        const json::Value *v = get(name);
        if (!v) return dflt;
        if (!v->is_bool()) fail(std::string("field '") + name + "' must be true or false, found " + v->describe());
        return v->as_bool();
    }

private:
    const json::Value &root_;
    const std::string &where_;
};

// rope_scaling: null -> plain RoPE; {"rope_type" (or legacy "type"): "llama3", factor, low_freq_factor,
// high_freq_factor, original_max_position_embeddings}. "default" is HF's name for plain RoPE.
RopeScaling parse_rope_scaling(const ConfigReader &r, const json::Value *v) {
    RopeScaling rs;
    if (!v) return rs;
    if (!v->is_object()) r.fail("field 'rope_scaling' must be an object or null, found " + v->describe());
    const json::Value *type = v->find("rope_type");
    if (!type) type = v->find("type");  // transformers' legacy key, used when rope_type is absent
    if (!type) r.fail("rope_scaling has neither 'rope_type' nor 'type'");
    if (!type->is_string()) r.fail("rope_scaling type must be a string, found " + type->describe());
    const std::string &t = type->as_string();
    if (t == "default") return rs;
    if (t != "llama3")
        r.fail("rope_scaling type " + json::quote(t) + " is not supported (supported: llama3, default, or null)");
    auto field = [&](const char *name) {
        const json::Value *f = v->find(name);
        if (!f) r.fail(std::string("rope_scaling (llama3) is missing '") + name + "'");
        return r.positive_number(*f, std::string("rope_scaling.") + name);
    };
    rs.llama3 = true;
    rs.factor = field("factor");
    rs.low_freq_factor = field("low_freq_factor");
    rs.high_freq_factor = field("high_freq_factor");
    rs.original_max_position_embeddings = field("original_max_position_embeddings");
    // The smooth interpolation divides by (high_freq_factor - low_freq_factor).
    if (!(rs.high_freq_factor > rs.low_freq_factor))
        r.fail("rope_scaling.high_freq_factor (" + std::to_string(rs.high_freq_factor) +
               ") must be greater than low_freq_factor (" + std::to_string(rs.low_freq_factor) + ")");
    return rs;
}

}  // namespace

LlamaConfig parse_config(const std::string &json_text, const std::string &where) {
    json::Value root = json::parse(json_text, where);
    ConfigReader r(root, where);
    if (!root.is_object()) r.fail("expected a JSON object, found " + root.describe());

    LlamaConfig c;
    c.hidden = r.required_int("hidden_size");
    c.intermediate = r.required_int("intermediate_size");
    c.layers = r.required_int("num_hidden_layers");
    c.heads = r.required_int("num_attention_heads");
    c.vocab = r.required_int("vocab_size");
    // Defaults below are transformers' LlamaConfig defaults.
    c.kv_heads = static_cast<int>(r.optional_int("num_key_value_heads", c.heads, INT_MAX));
    if (c.heads % c.kv_heads != 0)
        r.fail("num_attention_heads (" + std::to_string(c.heads) + ") is not a multiple of num_key_value_heads (" +
               std::to_string(c.kv_heads) + ")");
    if (r.get("head_dim")) {
        c.head_dim = static_cast<int>(r.optional_int("head_dim", 0, INT_MAX));
    } else {
        if (c.hidden % c.heads != 0)
            r.fail("hidden_size (" + std::to_string(c.hidden) + ") is not a multiple of num_attention_heads (" +
                   std::to_string(c.heads) + ") and no head_dim is given");
        c.head_dim = c.hidden / c.heads;
    }
    if (c.head_dim % 2 != 0) r.fail("head_dim (" + std::to_string(c.head_dim) + ") must be even for rotary embeddings");
    if (static_cast<int64_t>(c.heads) * c.head_dim > INT_MAX)
        r.fail("num_attention_heads * head_dim exceeds " + std::to_string(INT_MAX));
    c.rms_eps = r.optional_number("rms_norm_eps", 1e-6);
    c.rope_theta = r.optional_number("rope_theta", 10000.0);
    c.max_position = r.optional_int("max_position_embeddings", 2048, INT64_MAX);
    c.rope_scaling = parse_rope_scaling(r, r.get("rope_scaling"));

    if (const json::Value *act = r.get("hidden_act")) {
        if (!act->is_string()) r.fail("field 'hidden_act' must be a string, found " + act->describe());
        if (act->as_string() != "silu")
            r.fail("hidden_act " + json::quote(act->as_string()) + " is not supported (only silu)");
    }
    if (r.optional_bool("attention_bias", false)) r.fail("attention_bias = true is not supported (no biases)");
    if (r.optional_bool("mlp_bias", false)) r.fail("mlp_bias = true is not supported (no biases)");
    return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

namespace {

// The per-layer tensor names (after "layers.{i}."), in LayerWeights order.
constexpr const char *kLayerSuffixes[] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight",
};
constexpr int kLayerTensors = sizeof(kLayerSuffixes) / sizeof(kLayerSuffixes[0]);

const bf16_t *LayerWeights::*const kLayerSlots[kLayerTensors] = {
    &LayerWeights::attn_norm, &LayerWeights::wq,     &LayerWeights::wk,   &LayerWeights::wv,     &LayerWeights::wo,
    &LayerWeights::mlp_norm,  &LayerWeights::w_gate, &LayerWeights::w_up, &LayerWeights::w_down,
};

const char *kPrefix = "model.";

std::string strip_prefix(const std::string &name) {
    return name.compare(0, std::strlen(kPrefix), kPrefix) == 0 ? name.substr(std::strlen(kPrefix)) : name;
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Parses "layers.{i}.{suffix}" (i decimal, no leading zeros). Returns false if the name has another form.
bool parse_layer_name(const std::string &name, long long &layer, int &slot) {
    const std::string head = "layers.";
    if (name.compare(0, head.size(), head) != 0) return false;
    size_t p = head.size(), q = p;
    while (q < name.size() && name[q] >= '0' && name[q] <= '9') ++q;
    if (q == p || q - p > 9 || (name[p] == '0' && q - p > 1) || q >= name.size() || name[q] != '.') return false;
    layer = std::stoll(name.substr(p, q - p));
    std::string suffix = name.substr(q + 1);
    for (int s = 0; s < kLayerTensors; ++s) {
        if (suffix == kLayerSuffixes[s]) {
            slot = s;
            return true;
        }
    }
    return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Non-finite scan

namespace {

// Index of the first element of p[0, n) whose exponent bits are all ones (bf16 Inf or NaN), or n when none is.
// Per element t = (x & 0x7fff) + 0x0080 has bit 15 set exactly when the exponent field (bits 7..14) is all ones,
// so a block is clean when the OR of its t values has bit 15 clear: a branch-free loop the compiler vectorizes.
uint64_t first_nonfinite_serial(const bf16_t *p, uint64_t n) {
    constexpr uint64_t kBlock = 4096;  // elements per OR-reduced block (8 KiB)
    uint64_t i = 0;
    for (; i + kBlock <= n; i += kBlock) {
        uint16_t acc = 0;
        for (uint64_t j = 0; j < kBlock; ++j) acc |= static_cast<uint16_t>((p[i + j] & 0x7fffu) + 0x0080u);
        if (acc & 0x8000u) break;  // the culprit is in this block: find it below
    }
    for (; i < n; ++i)
        if ((p[i] & 0x7f80u) == 0x7f80u) return i;
    return n;
}

// first_nonfinite_serial over large tensors split across threads (memory bandwidth, or page-in of a mapped shard,
// is the limit; one thread reaches neither). Returns the smallest bad index, or n.
uint64_t first_nonfinite(const bf16_t *p, uint64_t n) {
    constexpr uint64_t kParallelFrom = uint64_t(16) << 20;  // elements (32 MiB)
    unsigned hc = std::thread::hardware_concurrency();
    unsigned threads = std::min(hc == 0 ? 1u : hc, 16u);
    if (n < kParallelFrom || threads < 2) return first_nonfinite_serial(p, n);
    const uint64_t chunk = (n + threads - 1) / threads;
    std::vector<uint64_t> found(threads, n);
    std::vector<std::thread> pool;
    try {
        for (unsigned t = 1; t < threads; ++t) {
            pool.emplace_back([&, t] {
                uint64_t b = std::min(n, chunk * t), e = std::min(n, b + chunk);
                uint64_t i = first_nonfinite_serial(p + b, e - b);
                found[t] = i < e - b ? b + i : n;
            });
        }
    } catch (const std::system_error &) {
        // Could not start a thread: the ones started cover their chunks, the rest is scanned here.
    }
    uint64_t covered_to = chunk * (pool.size() + 1);
    {
        uint64_t e = std::min(n, chunk);
        uint64_t i = first_nonfinite_serial(p, e);
        found[0] = i < e ? i : n;
    }
    uint64_t tail = n;
    if (covered_to < n) {
        uint64_t i = first_nonfinite_serial(p + covered_to, n - covered_to);
        tail = i < n - covered_to ? covered_to + i : n;
    }
    for (auto &th : pool) th.join();
    return std::min(tail, *std::min_element(found.begin(), found.end()));
}

}  // namespace

class CheckpointLoader {
public:
    CheckpointLoader(Checkpoint &ck, const LoadOptions &options) : ck_(ck), options_(options) {}

    void load() {
        const std::string config_path = join_path(ck_.dir_, "config.json");
        ck_.config_ = parse_config(json::read_file(config_path, kMaxConfigBytes), config_path);
        open_shards();
        collect_tensors();
        bind_weights();
        // Copy mode: the descriptors close with this loader (shards_); nothing was mapped.
    }

private:
    // config.json is about 1 kB; 16 MiB leaves any real file room while refusing to slurp something huge.
    static constexpr size_t kMaxConfigBytes = size_t(16) << 20;
    // Alignment of tensors the Checkpoint owns: a cache line, and the widest vector load.
    static constexpr size_t kAlign = 64;

    struct Shard {
        std::string name;  // as named in the index (or "model.safetensors")
        std::string path;  // dir + name
        const MappedFile *map = nullptr;       // mapped mode (owned by Checkpoint::files_)
        std::unique_ptr<ReadOnlyFile> reader;  // copy mode (closed when the loader ends)
        safetensors::Header header;
    };
    struct Found {
        const Shard *shard;
        const safetensors::TensorInfo *info;
    };

    Checkpoint &ck_;
    const LoadOptions &options_;
    std::vector<Shard> shards_;
    std::map<std::string, Found> tensors_;  // canonical name (no "model." prefix) -> where it is

    Shard open_shard(const std::string &name) {
        Shard s;
        s.name = name;
        s.path = join_path(ck_.dir_, name);
        if (options_.copy_weights) {
            s.reader = std::make_unique<ReadOnlyFile>(s.path);
        } else {
            ck_.files_.push_back(std::make_unique<MappedFile>(s.path));
            s.map = ck_.files_.back().get();
        }
        return s;
    }

    static void read_header(Shard &s) {
        s.header = s.map ? safetensors::parse_header(*s.map) : safetensors::parse_header(*s.reader);
    }

    void open_shards() {
        const std::string single = join_path(ck_.dir_, "model.safetensors");
        const std::string index_path = join_path(ck_.dir_, "model.safetensors.index.json");
        // transformers prefers the single file when both exist.
        if (path_exists(single)) {
            shards_.push_back(open_shard("model.safetensors"));
            read_header(shards_.back());
            return;
        }
        if (!path_exists(index_path))
            throw Error(RIR_ERR_IO, ck_.dir_ + ": no weights found: looked for model.safetensors and "
                                               "model.safetensors.index.json");
        // A 8B-model index is ~25 kB; 64 MiB is far beyond any real one.
        constexpr size_t kMaxIndexBytes = size_t(64) << 20;
        safetensors::ShardIndex index = safetensors::parse_index(json::read_file(index_path, kMaxIndexBytes), index_path);
        shards_.reserve(index.shards.size());
        for (const std::string &name : index.shards) {
            try {
                shards_.push_back(open_shard(name));
            } catch (const Error &e) {
                throw Error(e.status(), index_path + ": shard " + json::quote(name) + " named in weight_map cannot be "
                                                                                       "used: " + e.what());
            }
            read_header(shards_.back());
        }
        for (const auto &entry : index.weight_map) {
            const Shard *shard = nullptr;
            for (const Shard &s : shards_)
                if (s.name == entry.second) shard = &s;
            if (!shard->header.find(entry.first))
                throw Error(RIR_ERR_CHECKPOINT, index_path + " assigns tensor " + json::quote(entry.first) + " to " +
                                                    shard->path + ", which has no tensor of that name");
        }
    }

    // Gathers every tensor of every shard under its canonical name, rejecting duplicates and unexpected names.
    void collect_tensors() {
        const LlamaConfig &c = ck_.config_;
        for (const Shard &s : shards_) {
            for (const auto &t : s.header.tensors) {
                std::string canon = strip_prefix(t.name);
                auto it = tensors_.find(canon);
                if (it != tensors_.end()) {
                    const Found &prev = it->second;
                    if (prev.info->name == t.name)
                        throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " appears in both " +
                                                            prev.shard->path + " and " + s.path);
                    throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(canon) + " appears twice, as " +
                                                        json::quote(prev.info->name) + " in " + prev.shard->path +
                                                        " and as " + json::quote(t.name) + " in " + s.path);
                }
                tensors_.emplace(canon, Found{&s, &t});
                if (canon == "lm_head.weight" || canon == "rotary_emb.inv_freq" || ends_with(canon, ".rotary_emb.inv_freq"))
                    continue;  // not used by the embedding model
                if (canon == "embed_tokens.weight" || canon == "norm.weight") continue;
                long long layer;
                int slot;
                if (parse_layer_name(canon, layer, slot)) {
                    if (layer < c.layers) {
                        max_layer_ = std::max(max_layer_, layer);
                        continue;
                    }
                    throw Error(RIR_ERR_CHECKPOINT, s.path + ": unexpected tensor " + json::quote(t.name) +
                                                        ": layer " + std::to_string(layer) + " but config.json has "
                                                        "num_hidden_layers = " + std::to_string(c.layers));
                }
                throw Error(RIR_ERR_CHECKPOINT, s.path + ": unexpected tensor " + json::quote(t.name) +
                                                    " (not part of a Llama model: expected embed_tokens.weight, "
                                                    "layers.N.*, norm.weight, optionally lm_head.weight)");
            }
        }
        // Checked before any per-layer bookkeeping is allocated: a config claiming 2^31 layers must fail fast.
        if (max_layer_ + 1 < c.layers)
            throw Error(RIR_ERR_CHECKPOINT, "config.json has num_hidden_layers = " + std::to_string(c.layers) +
                                                " but the checkpoint (" + files_looked_in() + ") holds " +
                                                (max_layer_ < 0 ? std::string("no layer tensors")
                                                                : "layers 0.." + std::to_string(max_layer_)) +
                                                ": missing tensor 'layers." + std::to_string(max_layer_ + 1) +
                                                ".input_layernorm.weight' and the rest of layers " +
                                                std::to_string(max_layer_ + 1) + ".." + std::to_string(c.layers - 1));
    }

    long long max_layer_ = -1;  // highest layer index seen among the checkpoint's tensors

    std::string files_looked_in() const {
        std::string s;
        for (size_t i = 0; i < shards_.size(); ++i) {
            if (i == 8) { s += ", ... (" + std::to_string(shards_.size()) + " files)"; break; }
            s += (i ? ", " : "") + shards_[i].name;
        }
        return s;
    }

    // numel bf16 elements of memory owned by the Checkpoint, 64-byte aligned (the vector is over-allocated by one
    // alignment unit and the pointer rounded up inside it).
    bf16_t *alloc_owned(uint64_t numel) {
        constexpr size_t kSlack = kAlign / sizeof(bf16_t);
        if (numel > (std::numeric_limits<size_t>::max() - kSlack) / sizeof(bf16_t))
            throw Error(RIR_ERR_OUT_OF_MEMORY, "tensor of " + std::to_string(numel) + " elements does not fit in memory");
        try {
            ck_.converted_.emplace_back(static_cast<size_t>(numel) + kSlack);
        } catch (const std::bad_alloc &) {
            throw Error(RIR_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(numel * sizeof(bf16_t)) +
                                                   " bytes for a weight tensor (RIR_OPEN_COPY_WEIGHTS or conversion)");
        }
        uintptr_t a = reinterpret_cast<uintptr_t>(ck_.converted_.back().data());
        return reinterpret_cast<bf16_t *>((a + kAlign - 1) / kAlign * kAlign);
    }

    // Calls fn(bytes, first, count) over the tensor's bytes in pieces: one piece from the mapping, or pieces of at
    // most 16 MiB read with pread (copy mode). Pieces start at multiples of 16 bytes from the tensor's start.
    template <class Fn>
    void for_each_piece(const Shard &s, const safetensors::TensorInfo &t, Fn fn) {
        if (s.map) {
            fn(s.map->data() + t.offset, uint64_t(0), t.nbytes);
            return;
        }
        constexpr uint64_t kPiece = uint64_t(16) << 20;
        std::vector<uint8_t> buf(static_cast<size_t>(std::min(kPiece, t.nbytes)));
        for (uint64_t b = 0; b < t.nbytes; b += kPiece) {
            uint64_t n = std::min(kPiece, t.nbytes - b);
            s.reader->read_at(t.offset + b, buf.data(), n);
            fn(buf.data(), b, n);
        }
    }

    // The element of a converted (F32/F16) tensor as a float, for messages.
    float source_element(const Shard &s, const safetensors::TensorInfo &t, uint64_t i) {
        unsigned width = t.dtype == safetensors::DType::F32 ? 4 : 2;
        uint8_t raw[4] = {0, 0, 0, 0};
        if (s.map) std::memcpy(raw, s.map->data() + t.offset + width * i, width);
        else s.reader->read_at(t.offset + width * i, raw, width);
        if (width == 4) {
            float f;
            std::memcpy(&f, raw, 4);
            return f;
        }
        uint16_t h;
        std::memcpy(&h, raw, 2);
        return f16_to_f32(h);
    }

    // Fails naming the tensor, the file and the first non-finite element of the bf16 data `p` bound for tensor t.
    void scan(const Shard &s, const safetensors::TensorInfo &t, const bf16_t *p) {
        uint64_t i = first_nonfinite(p, t.numel);
        if (i == t.numel) return;
        const bf16_t b = p[i];
        const char *what = (b & 0x007fu) ? "NaN" : (b & 0x8000u) ? "-Inf" : "Inf";
        std::string where = "element " + std::to_string(i);
        if (t.shape.size() == 2)
            where += " (row " + std::to_string(i / t.shape[1]) + ", column " + std::to_string(i % t.shape[1]) + ")";
        std::string note;
        if (t.dtype != safetensors::DType::BF16) {
            float f = source_element(s, t, i);
            if (std::isfinite(f)) {
                char num[32];
                std::snprintf(num, sizeof num, "%.9g", static_cast<double>(f));
                note = std::string(" (the ") + safetensors::dtype_name(t.dtype) + " value " + num +
                       " overflows bf16)";
            }
        }
        throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path + " holds " + what + " at " +
                                            where + note + "; the checkpoint is corrupt (non-finite weights make "
                                            "every embedding NaN)");
    }

    // Finds, checks and returns the bf16 data of tensor `canon` whose shape must be `shape`; `dims` explains the
    // shape in config terms for the message.
    const bf16_t *take(const std::string &canon, const std::vector<uint64_t> &shape, const char *dims) {
        auto it = tensors_.find(canon);
        if (it == tensors_.end())
            throw Error(RIR_ERR_CHECKPOINT, ck_.dir_ + ": missing tensor " + json::quote(canon) + " (with or without the "
                                            "'model.' prefix; looked in " + files_looked_in() + ")");
        const Shard &s = *it->second.shard;
        const safetensors::TensorInfo &t = *it->second.info;
        if (t.shape != shape) {
            safetensors::TensorInfo want;
            want.shape = shape;
            throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path + " has shape " +
                                                t.shape_str() + ", expected " + want.shape_str() + " (" + dims +
                                                " from config.json)");
        }
        const bf16_t *p = bf16_data(s, t);
        if (options_.scan_nonfinite) scan(s, t, p);
        return p;
    }

    const bf16_t *bf16_data(const Shard &s, const safetensors::TensorInfo &t) {
        switch (t.dtype) {
            case safetensors::DType::BF16:
                // Used in place when mapped and aligned (the mapping is page aligned, so the file offset decides).
                if (s.map && t.offset % alignof(bf16_t) == 0) {
                    s.map->will_need(t.offset, t.nbytes);
                    return reinterpret_cast<const bf16_t *>(s.map->data() + t.offset);
                }
                return convert(s, t, 2, [](const uint8_t *src) {
                    bf16_t b;
                    std::memcpy(&b, src, 2);
                    return b;
                });
            case safetensors::DType::F32:
                return convert(s, t, 4, [](const uint8_t *src) {
                    float f;
                    std::memcpy(&f, src, 4);
                    return f32_to_bf16(f);
                });
            case safetensors::DType::F16:
                return convert(s, t, 2, [](const uint8_t *src) {
                    uint16_t h;
                    std::memcpy(&h, src, 2);
                    return f32_to_bf16(f16_to_f32(h));
                });
            default:
                throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path +
                                                    " has dtype " + safetensors::dtype_name(t.dtype) +
                                                    ", expected BF16 (F32/F16 are converted)");
        }
    }

    // Copies/converts the tensor into owned memory; `element` turns the `width` source bytes of one element into bf16.
    template <class Element>
    const bf16_t *convert(const Shard &s, const safetensors::TensorInfo &t, unsigned width, Element element) {
        bf16_t *out = alloc_owned(t.numel);
        if (t.dtype == safetensors::DType::BF16 && !s.map) {
            // Copy mode, BF16: straight into place.
            s.reader->read_at(t.offset, out, t.nbytes);
            return out;
        }
        for_each_piece(s, t, [&](const uint8_t *src, uint64_t first, uint64_t count) {
            bf16_t *dst = out + first / width;
            for (uint64_t i = 0; i < count / width; ++i) dst[i] = element(src + width * i);
        });
        return out;
    }

    void bind_weights() {
        const LlamaConfig &c = ck_.config_;
        const uint64_t hidden = static_cast<uint64_t>(c.hidden), inter = static_cast<uint64_t>(c.intermediate);
        const uint64_t q_out = static_cast<uint64_t>(c.heads) * static_cast<uint64_t>(c.head_dim);
        const uint64_t kv_out = static_cast<uint64_t>(c.kv_heads) * static_cast<uint64_t>(c.head_dim);
        ModelWeights &w = ck_.weights_;
        w.embed = take("embed_tokens.weight", {static_cast<uint64_t>(c.vocab), hidden}, "[vocab_size, hidden_size]");
        w.layers.assign(static_cast<size_t>(c.layers), LayerWeights{});
        const std::vector<uint64_t> shapes[kLayerTensors] = {
            {hidden}, {q_out, hidden}, {kv_out, hidden}, {kv_out, hidden}, {hidden, q_out},
            {hidden}, {inter, hidden}, {inter, hidden},  {hidden, inter},
        };
        const char *dims[kLayerTensors] = {
            "[hidden_size]",
            "[num_attention_heads * head_dim, hidden_size]",
            "[num_key_value_heads * head_dim, hidden_size]",
            "[num_key_value_heads * head_dim, hidden_size]",
            "[hidden_size, num_attention_heads * head_dim]",
            "[hidden_size]",
            "[intermediate_size, hidden_size]",
            "[intermediate_size, hidden_size]",
            "[hidden_size, intermediate_size]",
        };
        for (int l = 0; l < c.layers; ++l) {
            for (int s = 0; s < kLayerTensors; ++s) {
                std::string name = "layers." + std::to_string(l) + "." + kLayerSuffixes[s];
                w.layers[static_cast<size_t>(l)].*kLayerSlots[s] = take(name, shapes[s], dims[s]);
            }
        }
        w.final_norm = take("norm.weight", {hidden}, "[hidden_size]");
    }
};

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &model_dir, const LoadOptions &options) {
    std::unique_ptr<Checkpoint> ck(new Checkpoint());
    ck->dir_ = model_dir;
    CheckpointLoader(*ck, options).load();
    return ck;
}

Checkpoint::~Checkpoint() = default;

uint64_t Checkpoint::weight_bytes() const {
    if (!weights_.embed) return 0;  // released (or never bound)
    const LlamaConfig &c = config_;
    const uint64_t hidden = static_cast<uint64_t>(c.hidden), inter = static_cast<uint64_t>(c.intermediate);
    const uint64_t q_out = static_cast<uint64_t>(c.heads) * static_cast<uint64_t>(c.head_dim);
    const uint64_t kv_out = static_cast<uint64_t>(c.kv_heads) * static_cast<uint64_t>(c.head_dim);
    const uint64_t per_layer = 2 * hidden + 2 * q_out * hidden + 2 * kv_out * hidden + 3 * inter * hidden;
    const uint64_t elements = static_cast<uint64_t>(c.vocab) * hidden + hidden +
                              static_cast<uint64_t>(c.layers) * per_layer;
    return elements * sizeof(bf16_t);
}

void Checkpoint::release_weights() {
    weights_.embed = nullptr;
    weights_.final_norm = nullptr;
    for (LayerWeights &l : weights_.layers) l = LayerWeights{};  // the layer count stays; every pointer is null
    files_.clear();  // unmaps every shard
    std::vector<std::vector<bf16_t>>().swap(converted_);
}

}  // namespace rir
