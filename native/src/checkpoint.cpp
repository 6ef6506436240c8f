// checkpoint.cpp: Checkpoint::open and parse_config (checkpoint.h). Reads config.json, maps model.safetensors or the
// shards of model.safetensors.index.json, validates every tensor against the config and fills LlamaConfig and
// ModelWeights. BF16 tensors are used in place from the mapping; F32/F16 (and misaligned BF16) are converted into
// Checkpoint::converted_. Nothing but the headers is read eagerly.
#include "checkpoint.h"

#include <algorithm>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>

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

class CheckpointLoader {
public:
    explicit CheckpointLoader(Checkpoint &ck) : ck_(ck) {}

    void load() {
        const std::string config_path = join_path(ck_.dir_, "config.json");
        ck_.config_ = parse_config(json::read_file(config_path, kMaxConfigBytes), config_path);
        open_shards();
        collect_tensors();
        bind_weights();
    }

private:
    // config.json is about 1 kB; 16 MiB leaves any real file room while refusing to slurp something huge.
    static constexpr size_t kMaxConfigBytes = size_t(16) << 20;

    struct Shard {
        std::string name;  // as named in the index (or "model.safetensors")
        const MappedFile *file = nullptr;
        safetensors::Header header;
    };
    struct Found {
        const Shard *shard;
        const safetensors::TensorInfo *info;
    };

    Checkpoint &ck_;
    std::vector<Shard> shards_;
    std::map<std::string, Found> tensors_;  // canonical name (no "model." prefix) -> where it is

    const MappedFile *map_file(const std::string &path) {
        ck_.files_.push_back(std::make_unique<MappedFile>(path));
        return ck_.files_.back().get();
    }

    void open_shards() {
        const std::string single = join_path(ck_.dir_, "model.safetensors");
        const std::string index_path = join_path(ck_.dir_, "model.safetensors.index.json");
        // transformers prefers the single file when both exist.
        if (path_exists(single)) {
            Shard s;
            s.name = "model.safetensors";
            s.file = map_file(single);
            s.header = safetensors::parse_header(*s.file);
            shards_.push_back(std::move(s));
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
            Shard s;
            s.name = name;
            try {
                s.file = map_file(join_path(ck_.dir_, name));
            } catch (const Error &e) {
                throw Error(e.status(), index_path + ": shard " + json::quote(name) + " named in weight_map cannot be "
                                                                                       "used: " + e.what());
            }
            s.header = safetensors::parse_header(*s.file);
            shards_.push_back(std::move(s));
        }
        for (const auto &entry : index.weight_map) {
            const Shard *shard = nullptr;
            for (const Shard &s : shards_)
                if (s.name == entry.second) shard = &s;
            if (!shard->header.find(entry.first))
                throw Error(RIR_ERR_CHECKPOINT, index_path + " assigns tensor " + json::quote(entry.first) + " to " +
                                                    shard->file->path() + ", which has no tensor of that name");
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
                                                            prev.shard->file->path() + " and " + s.file->path());
                    throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(canon) + " appears twice, as " +
                                                        json::quote(prev.info->name) + " in " + prev.shard->file->path() +
                                                        " and as " + json::quote(t.name) + " in " + s.file->path());
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
                    throw Error(RIR_ERR_CHECKPOINT, s.file->path() + ": unexpected tensor " + json::quote(t.name) +
                                                        ": layer " + std::to_string(layer) + " but config.json has "
                                                        "num_hidden_layers = " + std::to_string(c.layers));
                }
                throw Error(RIR_ERR_CHECKPOINT, s.file->path() + ": unexpected tensor " + json::quote(t.name) +
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
            throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.file->path() + " has shape " +
                                                t.shape_str() + ", expected " + want.shape_str() + " (" + dims +
                                                " from config.json)");
        }
        const uint8_t *src = s.file->data() + t.offset;
        switch (t.dtype) {
            case safetensors::DType::BF16:
                if (t.offset % alignof(bf16_t) == 0) {  // the mapping is page aligned, so the file offset decides
                    s.file->will_need(t.offset, t.nbytes);
                    return reinterpret_cast<const bf16_t *>(src);
                }
                return convert(t, [&](uint64_t i) {
                    bf16_t b;
                    std::memcpy(&b, src + 2 * i, 2);
                    return b;
                });
            case safetensors::DType::F32:
                return convert(t, [&](uint64_t i) {
                    float f;
                    std::memcpy(&f, src + 4 * i, 4);
                    return f32_to_bf16(f);
                });
            case safetensors::DType::F16:
                return convert(t, [&](uint64_t i) {
                    uint16_t h;
                    std::memcpy(&h, src + 2 * i, 2);
                    return f32_to_bf16(f16_to_f32(h));
                });
            default:
                throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.file->path() +
                                                    " has dtype " + safetensors::dtype_name(t.dtype) +
                                                    ", expected BF16 (F32/F16 are converted)");
        }
    }

    template <class Element>
    const bf16_t *convert(const safetensors::TensorInfo &t, Element element) {
        std::vector<bf16_t> out(static_cast<size_t>(t.numel));
        for (uint64_t i = 0; i < t.numel; ++i) out[i] = element(i);
        ck_.converted_.push_back(std::move(out));
        return ck_.converted_.back().data();
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

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &model_dir) {
    std::unique_ptr<Checkpoint> ck(new Checkpoint());
    ck->dir_ = model_dir;
    CheckpointLoader(*ck).load();
    return ck;
}

Checkpoint::~Checkpoint() = default;

}  // namespace rir
