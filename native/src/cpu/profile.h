// profile.h: per-op wall time of the CPU forward pass, for the benchmark suite's per-op table (bench_ops). The
// backend holds a pointer to an OpProfile (null unless a tool installs one) and wraps each op of forward() in an
// OpTimer: two clock reads per op and layer when installed, one branch when not.
#pragma once
#include <chrono>
#include <cstdint>

namespace rir {
namespace cpu {

// The ops of the forward pass, in the order they run. A fused op is its own entry, named after what it does.
enum class Op : int {
    Embed,       // token embedding gather (bf16 rows widened)
    AttnNorm,    // input RMSNorm of each layer (and the conversion of its output to the GEMM's input type)
    Qkv,         // q, k, v projections (with RoPE applied to q and k in the epilogue where fused)
    Rope,        // RoPE as a separate pass (when not fused into the QKV epilogue)
    Attention,   // bidirectional GQA attention (scores, softmax, P.V), key layout included
    OProj,       // attention output projection
    Residual,    // residual adds (when not fused)
    MlpNorm,     // post-attention RMSNorm (with its residual add where fused)
    GateUp,      // gate and up projections (with SwiGLU in the epilogue where fused)
    Swiglu,      // SwiGLU as a separate pass
    Down,        // down projection
    FinalNorm,   // final RMSNorm
    Pool,        // masked mean pooling (and L2 normalization)
    kCount
};

inline const char *op_name(Op op) {
    switch (op) {
        case Op::Embed: return "embed";
        case Op::AttnNorm: return "attn_norm";
        case Op::Qkv: return "qkv";
        case Op::Rope: return "rope";
        case Op::Attention: return "attention";
        case Op::OProj: return "o_proj";
        case Op::Residual: return "residual";
        case Op::MlpNorm: return "mlp_norm";
        case Op::GateUp: return "gate_up";
        case Op::Swiglu: return "swiglu";
        case Op::Down: return "down";
        case Op::FinalNorm: return "final_norm";
        case Op::Pool: return "pool";
        case Op::kCount: break;
    }
    return "?";
}

struct OpProfile {
    double seconds[static_cast<int>(Op::kCount)] = {};
    int64_t forwards = 0;  // forward passes recorded
    void clear() { *this = OpProfile(); }
};

class OpTimer {
public:
    OpTimer(OpProfile *p, Op op) : p_(p), op_(op) {
        if (p_) t0_ = std::chrono::steady_clock::now();
    }
    ~OpTimer() {
        if (p_)
            p_->seconds[static_cast<int>(op_)] +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    }
    OpTimer(const OpTimer &) = delete;
    OpTimer &operator=(const OpTimer &) = delete;

private:
    OpProfile *p_;
    Op op_;
    std::chrono::steady_clock::time_point t0_;
};

}  // namespace cpu
}  // namespace rir
