// model_cost.h: the work of one forward pass, in FLOPs (matrix products) and bytes (memory-bound ops), for the
// benchmarks' "achieved" figures. One place for the native tools (bench_embed, bench_ops).
//
// FLOPs count multiply-adds as 2, over the batch's T tokens (sequences of lengths l_s, T = sum l_s):
//   qkv        2 T hidden (q_dim + 2 kv_dim)              q_dim = heads * head_dim, kv_dim = kv_heads * head_dim
//   o_proj     2 T q_dim hidden
//   gate_up    2 T hidden 2 intermediate
//   down       2 T intermediate hidden
//   attention  4 q_dim sum_s l_s^2                         QK^T and P.V over the keys of each token's own sequence
// each per layer. Embedding gather, norms, RoPE, softmax and pooling are not counted as FLOPs (as the suite always
// did); their rows report bytes moved instead, with fp32 activations (4 bytes) read and written once:
//   embed      T hidden (2 + 4)         norms  T hidden (4 + 4)    rope  T (q_dim + kv_dim) (4 + 4)
//   residual   T hidden (4 + 4 + 4)     swiglu T intermediate (4 + 4 + 4)    pool  T hidden 4
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"

namespace rir {
namespace bench {

struct ModelCost {
    double layers, hidden, q_dim, kv_dim, inter;
    double tokens = 0;       // T
    double sum_sq_len = 0;   // sum_s l_s^2

    ModelCost(const LlamaConfig &c, const std::vector<int64_t> &lengths)
        : layers(c.layers), hidden(c.hidden), q_dim(double(c.heads) * c.head_dim),
          kv_dim(double(c.kv_heads) * c.head_dim), inter(c.intermediate) {
        for (int64_t l : lengths) tokens += double(l), sum_sq_len += double(l) * double(l);
    }

    // Matrix-product FLOPs of one op over the whole forward (all layers); 0 for a memory-bound op.
    double flops(const std::string &op) const {
        if (op == "qkv") return layers * 2 * tokens * hidden * (q_dim + 2 * kv_dim);
        if (op == "o_proj") return layers * 2 * tokens * q_dim * hidden;
        if (op == "gate_up") return layers * 2 * tokens * hidden * 2 * inter;
        if (op == "down") return layers * 2 * tokens * inter * hidden;
        if (op == "attention") return layers * 4 * q_dim * sum_sq_len;
        return 0;
    }
    // Bytes of activations a memory-bound op moves over the whole forward; 0 for a matrix product.
    double bytes(const std::string &op) const {
        if (op == "embed") return tokens * hidden * 6;
        if (op == "attn_norm" || op == "mlp_norm") return layers * tokens * hidden * 8;
        if (op == "final_norm") return tokens * hidden * 8;
        if (op == "rope") return layers * tokens * (q_dim + kv_dim) * 8;
        if (op == "residual") return layers * 2 * tokens * hidden * 12;
        if (op == "swiglu") return layers * tokens * inter * 12;
        if (op == "pool") return tokens * hidden * 4;
        return 0;
    }
    double linear_flops() const { return flops("qkv") + flops("o_proj") + flops("gate_up") + flops("down"); }
    double attention_flops() const { return flops("attention"); }
    double total_flops() const { return linear_flops() + attention_flops(); }
};

}  // namespace bench
}  // namespace rir
