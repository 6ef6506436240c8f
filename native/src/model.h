// model.h: what a loaded checkpoint is, independent of any backend. config.cpp fills LlamaConfig, the loader
// (checkpoint.cpp) ModelWeights; backends (cpu/cpu_backend.cpp, cuda/cuda_backend.cu) only read them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rir {

using bf16_t = uint16_t;  // raw bfloat16 bits (upper half of an IEEE float32)

// Llama "rope_scaling" with rope_type "llama3"; absent (rope_scaling: null) means plain RoPE.
struct RopeScaling {
    bool llama3 = false;
    double factor = 8.0;                          // divide low frequencies by this
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    double original_max_position_embeddings = 8192.0;
};

// config.json fields the forward needs (spec "Config and checkpoint").
struct LlamaConfig {
    int hidden = 0;          // hidden_size
    int intermediate = 0;    // intermediate_size
    int layers = 0;          // num_hidden_layers
    int heads = 0;           // num_attention_heads
    int kv_heads = 0;        // num_key_value_heads (defaults to heads when absent)
    int head_dim = 0;        // head_dim (defaults to hidden / heads when absent)
    int vocab = 0;           // vocab_size
    int64_t max_position = 0;  // max_position_embeddings
    double rms_eps = 1e-5;   // rms_norm_eps
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
};

// One decoder layer. Every pointer is bf16, row-major, PyTorch Linear layout [out, in].
struct LayerWeights {
    const bf16_t *attn_norm = nullptr;  // input_layernorm.weight            [hidden]
    const bf16_t *wq = nullptr;         // self_attn.q_proj.weight           [heads*head_dim, hidden]
    const bf16_t *wk = nullptr;         // self_attn.k_proj.weight           [kv_heads*head_dim, hidden]
    const bf16_t *wv = nullptr;         // self_attn.v_proj.weight           [kv_heads*head_dim, hidden]
    const bf16_t *wo = nullptr;         // self_attn.o_proj.weight           [hidden, heads*head_dim]
    const bf16_t *mlp_norm = nullptr;   // post_attention_layernorm.weight   [hidden]
    const bf16_t *w_gate = nullptr;     // mlp.gate_proj.weight              [intermediate, hidden]
    const bf16_t *w_up = nullptr;       // mlp.up_proj.weight                [intermediate, hidden]
    const bf16_t *w_down = nullptr;     // mlp.down_proj.weight              [hidden, intermediate]
};

struct ModelWeights {
    const bf16_t *embed = nullptr;       // embed_tokens.weight [vocab, hidden]
    std::vector<LayerWeights> layers;    // [layers]
    const bf16_t *final_norm = nullptr;  // norm.weight [hidden]
};

// A packed batch as the C API receives it (already validated by api.cpp: cu_seqlens strictly increasing from 0,
// token ids in [0, vocab), pool_start[i] in [0, len_i), every len_i <= max_position).
struct PackedBatch {
    const int32_t *token_ids = nullptr;   // [total_tokens]
    const int32_t *cu_seqlens = nullptr;  // [n_seqs + 1]
    const int32_t *pool_start = nullptr;  // [n_seqs], never null here (api.cpp substitutes zeros)
    int32_t n_seqs = 0;
    int64_t total_tokens() const { return cu_seqlens[n_seqs]; }
};

}  // namespace rir
