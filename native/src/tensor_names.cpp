// tensor_names.cpp: see tensor_names.h.
#include "tensor_names.h"

#include <cstring>

namespace rir {

const char *const kLayerSuffixes[kLayerTensors] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight",
};

const bf16_t *LayerWeights::*const kLayerSlots[kLayerTensors] = {
    &LayerWeights::attn_norm, &LayerWeights::wq,     &LayerWeights::wk,   &LayerWeights::wv,     &LayerWeights::wo,
    &LayerWeights::mlp_norm,  &LayerWeights::w_gate, &LayerWeights::w_up, &LayerWeights::w_down,
};

namespace {

const char *kPrefix = "model.";

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TensorSpec embed_tensor(const LlamaConfig &c) {
    return {"embed_tokens.weight", {static_cast<uint64_t>(c.vocab), static_cast<uint64_t>(c.hidden)},
            "[vocab_size, hidden_size]"};
}

TensorSpec final_norm_tensor(const LlamaConfig &c) {
    return {"norm.weight", {static_cast<uint64_t>(c.hidden)}, "[hidden_size]"};
}

TensorSpec layer_tensor(const LlamaConfig &c, int layer, int slot) {
    const uint64_t hidden = static_cast<uint64_t>(c.hidden), inter = static_cast<uint64_t>(c.intermediate);
    const uint64_t q_out = static_cast<uint64_t>(c.heads) * static_cast<uint64_t>(c.head_dim);
    const uint64_t kv_out = static_cast<uint64_t>(c.kv_heads) * static_cast<uint64_t>(c.head_dim);
    // In kLayerSuffixes order.
    static const char *const dims[kLayerTensors] = {
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
    const std::vector<uint64_t> shapes[kLayerTensors] = {
        {hidden}, {q_out, hidden}, {kv_out, hidden}, {kv_out, hidden}, {hidden, q_out},
        {hidden}, {inter, hidden}, {inter, hidden},  {hidden, inter},
    };
    return {"layers." + std::to_string(layer) + "." + kLayerSuffixes[slot], shapes[slot], dims[slot]};
}

uint64_t weight_elements(const LlamaConfig &c) {
    const uint64_t hidden = static_cast<uint64_t>(c.hidden), inter = static_cast<uint64_t>(c.intermediate);
    const uint64_t q_out = static_cast<uint64_t>(c.heads) * static_cast<uint64_t>(c.head_dim);
    const uint64_t kv_out = static_cast<uint64_t>(c.kv_heads) * static_cast<uint64_t>(c.head_dim);
    const uint64_t per_layer = 2 * hidden + 2 * q_out * hidden + 2 * kv_out * hidden + 3 * inter * hidden;
    return static_cast<uint64_t>(c.vocab) * hidden + hidden + static_cast<uint64_t>(c.layers) * per_layer;
}

std::string canonical_tensor_name(const std::string &name) {
    return name.compare(0, std::strlen(kPrefix), kPrefix) == 0 ? name.substr(std::strlen(kPrefix)) : name;
}

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

bool is_unused_tensor(const std::string &name) {
    return name == "lm_head.weight" || name == "rotary_emb.inv_freq" || ends_with(name, ".rotary_emb.inv_freq");
}

}  // namespace rir
