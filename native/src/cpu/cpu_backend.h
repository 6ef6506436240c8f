// cpu_backend.h: the CPU implementation of rir::Backend (backend.h), exposed beyond make_cpu_backend for tests
// and tools that need the per-position final hidden states or the workspace size.
//
// Numerics: RIR_PRECISION_FP32 computes everything in fp32 from exactly widened bf16 weights. RIR_PRECISION_BF16
// mimics Hugging Face transformers running the model in bf16: activations are rounded to bf16 (r()) exactly where
// torch rounds them (embedding, RMSNorm output, each projection, RoPE cos/sin and products, attention output,
// residual adds, SiLU and its product); reductions and softmax stay fp32. See the forward in cpu_backend.cpp.
//
// Memory: the weights once (projections packed for the kernels, gemm.h; embedding and norms copied), the size of the
// bf16 checkpoint; activations are fp32 buffers sized by the batch, cached and grown across calls: about
// (2*hidden + 2*(heads + 2*kv_heads)*head_dim) floats per token, plus the MLP's 3*intermediate floats for at most
// kMlpChunkTokens tokens, plus per thread one attention tile's scratch (a fixed size: attention_thread_floats).
// Nothing grows with the square of a sequence length.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/profile.h"
#include "cpu/thread_pool.h"

namespace rir {

struct CpuOptions {
    int num_threads = 0;                          // 0 = hardware concurrency
    rir_precision precision = RIR_PRECISION_FP32; // DEFAULT means FP32 here
    int64_t max_batch_tokens = 0;                 // 0 = kDefaultMaxBatchTokens
};

// The weights need only outlive the constructor: the backend packs the projections and copies the rest.
std::unique_ptr<Backend> make_cpu_backend(const LlamaConfig &config, const ModelWeights &weights,
                                          const CpuOptions &options);

namespace cpu {

// 64-byte aligned float buffer that only grows (kept across calls).
class FloatBuffer {
public:
    FloatBuffer() = default;
    ~FloatBuffer();
    FloatBuffer(const FloatBuffer &) = delete;
    FloatBuffer &operator=(const FloatBuffer &) = delete;
    // Returns false when the allocation fails (the old contents are kept).
    bool reserve(size_t n);
    float *data() { return data_; }
    size_t capacity() const { return capacity_; }

private:
    float *data_ = nullptr;
    size_t capacity_ = 0;
};

class CpuBackend final : public Backend {
public:
    // Default token cap of one call when CpuOptions::max_batch_tokens is 0: 65536 tokens hold two sequences of the
    // longest length the official BRIGHT evaluation uses (32768) and cost about 5 GiB of activations for the 8B model
    // (76 KiB per token, see above).
    static constexpr int64_t kDefaultMaxBatchTokens = 65536;
    // Rows of the MLP computed at once: bounds the [rows, intermediate] gate/up buffers (2048 x 14336 x 2 floats =
    // 224 MiB for the 8B model) while keeping the GEMMs large enough to run at full speed.
    static constexpr int64_t kMlpChunkTokens = 2048;

    CpuBackend(const LlamaConfig &config, const ModelWeights &weights, const CpuOptions &options);

    void embed(const PackedBatch &batch, bool normalize, float *out) override;
    const char *name() const override { return "cpu"; }
    std::string device() const override;
    rir_precision precision() const override { return precision_; }
    int64_t max_batch_tokens() const override { return max_batch_tokens_; }
    // Projections are packed and the embedding table and norms copied when the backend is built.
    bool owns_weights() const override { return true; }

    // Runs the forward pass and copies the final RMSNorm output, [total_tokens, hidden] (what embed() pools), to out.
    void final_hidden(const PackedBatch &batch, float *out);
    // Bytes currently held for activations, attention scratch, RoPE tables and GEMM panels.
    size_t workspace_bytes() const;
    Isa isa() const { return isa_; }
    int num_threads() const { return pool_.size(); }
    // Per-op timing of later forward passes into *p (accumulated; null stops it). For bench_ops, not thread-safe
    // against a concurrent embed().
    void set_profile(OpProfile *p) { profile_ = p; }

private:
    const float *forward(const PackedBatch &batch);  // returns the final hidden states [T, hidden]
    void reserve(int64_t T, int n_seqs, int64_t max_len);

    // One layer's projections, packed for this backend's kernels when it is built (gemm.h).
    struct PackedLayer {
        PackedWeights qkv;      // [q; k; v] rows: one [qd + 2 kvd, hidden] projection
        PackedWeights o;
        PackedWeights gate_up;  // gate and up interleaved by half panels (see the constructor)
        PackedWeights down;
    };

    LlamaConfig config_;
    ModelWeights weights_;        // embedding and norms (into owned_); projection pointers null (packed_ instead)
    std::vector<bf16_t> owned_;   // the embedding table, then each layer's two norms, then the final norm
    rir_precision precision_;
    int64_t max_batch_tokens_;
    Isa isa_;
    ThreadPool pool_;
    Gemm gemm_;
    std::vector<PackedLayer> packed_;
    int64_t gate_up_half_ = 0;  // gate (and up) rows per panel of gate_up
    int64_t gate_up_rows_ = 0;  // rows of gate_up, padded to whole panels
    std::vector<float> inv_freq_;
    int64_t rope_positions_ = 0;                 // rows held in the RoPE tables
    FloatBuffer rope_cos_, rope_sin_;            // [positions, head_dim / 2]
    std::vector<int32_t> positions_;             // [T]
    FloatBuffer h_, x_, qkv_, attn_;             // activations, see reserve()
    FloatBuffer kt_;                             // keys and values laid out for attention (attention_kv_floats)
    FloatBuffer gate_up_;                        // [min(T, kMlpChunkTokens), gate_up_rows_]
    FloatBuffer act_;                            // SwiGLU output, [min(T, kMlpChunkTokens), intermediate]
    FloatBuffer scores_;                         // attention scratch, per thread (attention_thread_floats)
    OpProfile *profile_ = nullptr;
};

}  // namespace cpu
}  // namespace rir
