// config.cpp: parse_config and read_config (config.h). Every field the forward needs is checked here, once, so that
// everything downstream (tensor shapes, backends) may trust the numbers: positive, within int, heads a multiple of
// kv_heads, an even head_dim, a supported rope_scaling, activation and bias setting.
#include "config.h"

#include <climits>
#include <cmath>
#include <cstdint>

#include "error.h"
#include "json.h"
#include "path.h"

namespace rir {

namespace {

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

LlamaConfig read_config(const std::string &model_dir) {
    // config.json is about 1 kB; 16 MiB leaves any real file room while refusing to slurp something huge.
    constexpr size_t kMaxConfigBytes = size_t(16) << 20;
    const std::string config_path = join_path(model_dir, "config.json");
    return parse_config(json::read_file(config_path, kMaxConfigBytes), config_path);
}

}  // namespace rir
