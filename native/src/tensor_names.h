// tensor_names.h: the tensors of a Hugging Face Llama checkpoint, by name, and the shape config.json implies for each
// (llama.cpp keeps the same knowledge in its per-architecture tensor tables). Names are canonical: without the
// optional "model." prefix that LlamaForCausalLM checkpoints put before every name (LlamaModel ones do not).
// weight_scan.cpp checks a checkpoint's names against this; checkpoint.cpp binds the tensors to ModelWeights by it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"

namespace rir {

// One tensor the model binds: canonical name, the shape it must have, and that shape in config.json terms (for
// messages: "[num_key_value_heads * head_dim, hidden_size]").
struct TensorSpec {
    std::string name;
    std::vector<uint64_t> shape;
    const char *dims;
};

// The tensors of one decoder layer (after "layers.{i}."), in LayerWeights order, and the LayerWeights member each
// binds to.
constexpr int kLayerTensors = 9;
extern const char *const kLayerSuffixes[kLayerTensors];
extern const bf16_t *LayerWeights::*const kLayerSlots[kLayerTensors];

TensorSpec embed_tensor(const LlamaConfig &c);                     // embed_tokens.weight [vocab, hidden]
TensorSpec final_norm_tensor(const LlamaConfig &c);                // norm.weight [hidden]
TensorSpec layer_tensor(const LlamaConfig &c, int layer, int slot);  // layers.{layer}.{kLayerSuffixes[slot]}

// Elements of all the tensors above together (what the bound weights take, in bf16 elements).
uint64_t weight_elements(const LlamaConfig &c);

// `name` without its "model." prefix, if it has one.
std::string canonical_tensor_name(const std::string &name);

// Parses a canonical "layers.{i}.{suffix}" (i decimal, no leading zeros, at most 9 digits; suffix one of
// kLayerSuffixes, whose index goes to `slot`). Returns false if the name has another form.
bool parse_layer_name(const std::string &name, long long &layer, int &slot);

// Tensors a Llama checkpoint may hold that the embedding model does not use: the LM head and rotary tables some
// exporters save (the engine computes RoPE from config.json, rope.h).
bool is_unused_tensor(const std::string &name);

}  // namespace rir
