// cpu_backend.cpp: the CPU backend: the forward pass of the spec as one top-to-bottom function over the layers
// calling named ops (ops.h, attention.cpp, gemm.h), plus workspace management.
#include "cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include "cpu/ops.h"
#include "error.h"
#include "rope.h"

namespace rir {
namespace cpu {

// ------------------------------------------------------------------------------------------------ FloatBuffer

FloatBuffer::~FloatBuffer() { std::free(data_); }

bool FloatBuffer::reserve(size_t n) {
    if (n <= capacity_) return true;
    constexpr size_t kAlign = 64;  // one cache line, and the widest vector register
    size_t bytes = (n * sizeof(float) + kAlign - 1) / kAlign * kAlign;
    void *p = std::aligned_alloc(kAlign, bytes);
    if (!p) return false;
    std::free(data_);  // contents are scratch: nothing to copy
    data_ = static_cast<float *>(p);
    capacity_ = n;
    return true;
}

// ------------------------------------------------------------------------------------------------ construction

namespace {

int resolve_threads(int requested) {
    if (requested < 0)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "cpu backend: num_threads " + std::to_string(requested) + " < 0");
    if (requested > 0) return requested;
    unsigned hc = std::thread::hardware_concurrency();
    return hc > 0 ? static_cast<int>(hc) : 1;
}

const LlamaConfig &checked(const LlamaConfig &c, const ModelWeights &w) {
    auto bad = [](const std::string &what) { throw Error(RIR_ERR_CONFIG, "cpu backend: " + what); };
    if (c.hidden <= 0 || c.intermediate <= 0 || c.layers <= 0 || c.heads <= 0 || c.kv_heads <= 0 ||
        c.head_dim <= 0 || c.vocab <= 0)
        bad("hidden, intermediate, layers, heads, kv_heads, head_dim and vocab must all be > 0");
    if (c.heads % c.kv_heads != 0)
        bad("num_attention_heads " + std::to_string(c.heads) + " is not a multiple of num_key_value_heads " +
            std::to_string(c.kv_heads));
    if (c.head_dim % 2 != 0) bad("head_dim " + std::to_string(c.head_dim) + " is odd (rotate-half RoPE needs even)");
    if (!(c.rms_eps > 0) || !(c.rope_theta > 0)) bad("rms_norm_eps and rope_theta must be > 0");
    auto missing = [](const std::string &name) {
        throw Error(RIR_ERR_INTERNAL, "cpu backend: weight " + name + " was not supplied by the loader");
    };
    if (!w.embed) missing("embed_tokens.weight");
    if (!w.final_norm) missing("norm.weight");
    if (static_cast<int>(w.layers.size()) != c.layers)
        throw Error(RIR_ERR_INTERNAL, "cpu backend: " + std::to_string(w.layers.size()) + " layers of weights for " +
                                          std::to_string(c.layers) + " configured layers");
    for (int l = 0; l < c.layers; ++l) {
        const LayerWeights &L = w.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        if (!L.attn_norm) missing(p + "input_layernorm.weight");
        if (!L.wq) missing(p + "self_attn.q_proj.weight");
        if (!L.wk) missing(p + "self_attn.k_proj.weight");
        if (!L.wv) missing(p + "self_attn.v_proj.weight");
        if (!L.wo) missing(p + "self_attn.o_proj.weight");
        if (!L.mlp_norm) missing(p + "post_attention_layernorm.weight");
        if (!L.w_gate) missing(p + "mlp.gate_proj.weight");
        if (!L.w_up) missing(p + "mlp.up_proj.weight");
        if (!L.w_down) missing(p + "mlp.down_proj.weight");
    }
    return c;
}

ThreadPool make_pool(int threads) {
    try {
        return ThreadPool(threads);
    } catch (const std::system_error &e) {
        throw Error(RIR_ERR_DEVICE, "cpu backend: cannot start " + std::to_string(threads) +
                                        " worker threads: " + e.what());
    }
}

}  // namespace

CpuBackend::CpuBackend(const LlamaConfig &config, const ModelWeights &weights, const CpuOptions &options)
    : config_(checked(config, weights)),
      weights_(weights),
      precision_(options.precision == RIR_PRECISION_BF16 ? RIR_PRECISION_BF16 : RIR_PRECISION_FP32),
      max_batch_tokens_(options.max_batch_tokens > 0 ? options.max_batch_tokens : kDefaultMaxBatchTokens),
      isa_(select_isa()),
      pool_(make_pool(resolve_threads(options.num_threads))),
      gemm_(pool_, isa_),
      inv_freq_(rope_inv_freq(config_)) {
    if (options.precision != RIR_PRECISION_DEFAULT && options.precision != RIR_PRECISION_FP32 &&
        options.precision != RIR_PRECISION_BF16)
        throw Error(RIR_ERR_INVALID_ARGUMENT,
                    "cpu backend: precision " + std::to_string(static_cast<int>(options.precision)) + " is unknown");
    const LlamaConfig &c = config_;
    const int64_t H = c.hidden, I = c.intermediate, qd = int64_t(c.heads) * c.head_dim,
                  kvd = int64_t(c.kv_heads) * c.head_dim;
    // Fused projections (the pattern of TEI and the CUDA backend): q, k and v as one [qd + 2 kvd, H] matrix, so that
    // one GEMM reads the normalized input once; gate and up interleaved panel by panel (each panel of nr columns
    // holds nr/2 gate rows and the same nr/2 up rows), so that the GEMM's epilogue can apply SwiGLU to a finished
    // panel while it is in cache.
    const int nr = pack_panel_width(isa_);
    gate_up_half_ = nr / 2;
    gate_up_rows_ = (I + gate_up_half_ - 1) / gate_up_half_ * nr;
    packed_.reserve(c.layers);
    for (const LayerWeights &L : weights_.layers) {
        PackedLayer p;
        p.qkv = PackedWeights(pool_, isa_, qd + 2 * kvd, H, [&](int64_t n) {
            return n < qd ? L.wq + n * H : n < qd + kvd ? L.wk + (n - qd) * H : L.wv + (n - qd - kvd) * H;
        });
        p.o = PackedWeights::of(pool_, isa_, L.wo, H, qd);
        const int64_t half = gate_up_half_;
        p.gate_up = PackedWeights(pool_, isa_, gate_up_rows_, H, [&](int64_t n) -> const bf16_t * {
            const int64_t j = n % nr, i = n / nr * half + j % half;
            if (i >= I) return nullptr;
            return (j < half ? L.w_gate : L.w_up) + i * H;
        });
        p.down = PackedWeights::of(pool_, isa_, L.w_down, H, I);
        packed_.push_back(std::move(p));
    }
    // The rest (embedding table and norm weights) is copied too, so that the backend owns all it reads and the
    // checkpoint's files are unmapped once it is built (owns_weights()): no mapping outlives the open.
    try {
        owned_.assign(weights_.embed, weights_.embed + static_cast<size_t>(c.vocab) * H);
        owned_.reserve(owned_.size() + static_cast<size_t>(2 * c.layers + 1) * H);
        auto keep = [&](const bf16_t *&w) {
            const size_t at = owned_.size();
            owned_.insert(owned_.end(), w, w + H);
            return at;
        };
        std::vector<size_t> at;
        for (LayerWeights &L : weights_.layers) {
            at.push_back(keep(L.attn_norm));
            at.push_back(keep(L.mlp_norm));
        }
        const size_t final_at = keep(weights_.final_norm);
        weights_.embed = owned_.data();
        for (size_t l = 0; l < weights_.layers.size(); ++l) {
            LayerWeights &L = weights_.layers[l];
            L = LayerWeights{};  // projections: packed_ only
            L.attn_norm = owned_.data() + at[2 * l];
            L.mlp_norm = owned_.data() + at[2 * l + 1];
        }
        weights_.final_norm = owned_.data() + final_at;
    } catch (const std::bad_alloc &) {
        throw Error(RIR_ERR_OUT_OF_MEMORY, "cpu backend: copying the embedding table (" +
                                               std::to_string(static_cast<size_t>(c.vocab) * H * 2) + " bytes) failed");
    }
}

std::string CpuBackend::device() const {
    return "cpu (" + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread, " : " threads, ") +
           isa_name(isa_) + ")";
}

size_t CpuBackend::workspace_bytes() const {
    size_t floats = rope_cos_.capacity() + rope_sin_.capacity() + h_.capacity() + x_.capacity() + qkv_.capacity() +
                    kt_.capacity() + attn_.capacity() + gate_up_.capacity() + act_.capacity() + scores_.capacity();
    return floats * sizeof(float) + positions_.capacity() * sizeof(int32_t) + gemm_.scratch_bytes();
}

// ------------------------------------------------------------------------------------------------ workspace

void CpuBackend::reserve(int64_t T, int n_seqs, int64_t max_len) {
    const LlamaConfig &c = config_;
    const size_t t = static_cast<size_t>(T);
    const size_t qd = static_cast<size_t>(c.heads) * c.head_dim, kvd = static_cast<size_t>(c.kv_heads) * c.head_dim;
    const size_t mlp_rows = static_cast<size_t>(std::min<int64_t>(T, kMlpChunkTokens));
    const size_t half = static_cast<size_t>(c.head_dim / 2);
    const size_t per_thread = attention_thread_floats(c.heads, c.kv_heads, c.head_dim);
    struct Need { FloatBuffer *buf; size_t n; };
    const Need needs[] = {
        {&h_, t * c.hidden}, {&x_, t * c.hidden}, {&qkv_, t * (qd + 2 * kvd)},
        {&kt_, attention_kv_floats(T, n_seqs, c.kv_heads, c.head_dim)},
        {&attn_, t * qd}, {&gate_up_, mlp_rows * static_cast<size_t>(gate_up_rows_)},
        {&act_, mlp_rows * c.intermediate},
        {&scores_, per_thread * pool_.size()}, {&rope_cos_, static_cast<size_t>(max_len) * half},
        {&rope_sin_, static_cast<size_t>(max_len) * half}};
    if (max_len > rope_positions_) rope_positions_ = 0;  // the tables may move: recompute them below
    size_t total = 0;
    for (const Need &n : needs) total += n.n * sizeof(float);
    for (const Need &n : needs) {
        if (!n.buf->reserve(n.n))
            throw Error(RIR_ERR_OUT_OF_MEMORY, "cpu backend: the workspace needs " + std::to_string(total) +
                                                   " bytes for a batch of " + std::to_string(T) +
                                                   " tokens (longest sequence " + std::to_string(max_len) +
                                                   "); allocating " + std::to_string(n.n * sizeof(float)) +
                                                   " of them failed");
    }
    try {
        positions_.resize(t);
    } catch (const std::bad_alloc &) {
        throw Error(RIR_ERR_OUT_OF_MEMORY, "cpu backend: positions of a batch of " + std::to_string(T) + " tokens");
    }
    if (max_len > rope_positions_) {
        rope_tables(inv_freq_, max_len, precision_ == RIR_PRECISION_BF16, rope_cos_.data(), rope_sin_.data());
        rope_positions_ = max_len;
    }
}

// ------------------------------------------------------------------------------------------------ forward

const float *CpuBackend::forward(const PackedBatch &batch) {
    const LlamaConfig &c = config_;
    const int64_t T = batch.total_tokens();
    if (batch.n_seqs <= 0 || T <= 0) throw Error(RIR_ERR_INTERNAL, "cpu backend: empty batch reached the backend");
    if (T > max_batch_tokens_)
        throw Error(RIR_ERR_INPUT, "cpu backend: batch of " + std::to_string(T) + " tokens exceeds max_batch_tokens " +
                                       std::to_string(max_batch_tokens_));
    int64_t max_len = 0;
    for (int s = 0; s < batch.n_seqs; ++s)
        max_len = std::max<int64_t>(max_len, batch.cu_seqlens[s + 1] - batch.cu_seqlens[s]);
    reserve(T, batch.n_seqs, max_len);

    const bool bf16 = precision_ == RIR_PRECISION_BF16;  // also: every GEMM input is then a bf16 value
    const int H = c.hidden, I = c.intermediate, hd = c.head_dim;
    const int64_t qd = int64_t(c.heads) * hd, kvd = int64_t(c.kv_heads) * hd, qkvd = qd + 2 * kvd;
    const float eps = static_cast<float>(c.rms_eps);
    float *h = h_.data(), *x = x_.data(), *qkv = qkv_.data(), *kt = kt_.data();
    float *attn = attn_.data(), *gu = gate_up_.data(), *act = act_.data();
    int32_t *pos = positions_.data();

    // SwiGLU on each finished panel of the fused gate/up GEMM: panel n0 holds gate and up for intermediate indices
    // [n0 / 2, n0 / 2 + half); act rows are those of the current MLP chunk.
    struct Swiglu final : GemmEpilogue {
        SwigluBlockFn fn;
        bool bf16;
        int64_t half, inter;
        float *act;
        void operator()(int64_t t, int m, int64_t n0, int, const float *y, int64_t ldy) const override {
            const int64_t i0 = n0 / 2;
            fn(y, y + half, ldy, act + t * inter + i0, inter, m, std::min(half, inter - i0), bf16);
        }
    } swiglu_epilogue;
    swiglu_epilogue.fn = swiglu_block_kernel(isa_);
    swiglu_epilogue.bf16 = bf16;
    swiglu_epilogue.half = gate_up_half_;
    swiglu_epilogue.inter = I;
    swiglu_epilogue.act = act;
    // Measured (bench_ops, medium, Sapphire Rapids): in the AMX GEMM's epilogue SwiGLU's double-precision SiLU made
    // gate_up + SwiGLU 22 % slower than a separate pass (479 vs 392 ms per forward), in the fp32 kernels' 4 % faster.
    const bool fuse_swiglu = !(bf16 && isa_ == Isa::Amx);

    token_positions(batch, pos);
    {
        OpTimer t(profile_, Op::Embed);
        embed_rows(pool_, isa_, batch.token_ids, T, weights_.embed, H, h);
    }
    {
        OpTimer t(profile_, Op::AttnNorm);
        rmsnorm(pool_, isa_, h, T, H, weights_.layers[0].attn_norm, eps, bf16, x);
    }
    for (int l = 0; l < c.layers; ++l) {
        const PackedLayer &P = packed_[l];
        // h = h + o_proj(Attention(RoPE(q), RoPE(k), v)), [q k v] = x Wqkv^T, x = RMSNorm_in(h) (computed above)
        {
            OpTimer t(profile_, Op::Qkv);
            gemm_.run(x, T, P.qkv, qkv, bf16, bf16);
        }
        {
            OpTimer t(profile_, Op::Rope);
            rope_apply(pool_, isa_, qkv, qkvd, T, c.heads, hd, pos, rope_cos_.data(), rope_sin_.data(), bf16);
            rope_apply(pool_, isa_, qkv + qd, qkvd, T, c.kv_heads, hd, pos, rope_cos_.data(), rope_sin_.data(), bf16);
        }
        {
            OpTimer t(profile_, Op::Attention);
            attention(pool_, isa_, qkv, qkvd, qkv + qd, qkv + qd + kvd, qkvd, batch.cu_seqlens, batch.n_seqs, c.heads,
                      c.kv_heads, hd, bf16, attn, kt, scores_.data());
        }
        {
            OpTimer t(profile_, Op::OProj);
            gemm_.run(attn, T, P.o, x, bf16, bf16);
        }
        // h = h + down(silu(gate(y)) * up(y)), y = RMSNorm_post(h) with the attention's residual added first
        {
            OpTimer t(profile_, Op::MlpNorm);
            residual_rmsnorm(pool_, isa_, h, x, T, H, weights_.layers[l].mlp_norm, eps, bf16, x);
        }
        for (int64_t t0 = 0; t0 < T; t0 += kMlpChunkTokens) {  // rows in chunks (the MLP is per token)
            const int64_t n = std::min(kMlpChunkTokens, T - t0);
            float *xc = x + t0 * H;
            {
                OpTimer t(profile_, Op::GateUp);
                gemm_.run(xc, n, P.gate_up, gu, bf16, bf16, fuse_swiglu ? &swiglu_epilogue : nullptr);
            }
            if (!fuse_swiglu) {
                OpTimer t(profile_, Op::Swiglu);
                const int64_t panel = 2 * gate_up_half_;
                pool_.parallel_for(n, 4, [&](int64_t r0, int64_t r1, int) {
                    for (int64_t r = r0; r < r1; ++r)  // row by row: each row's panels are contiguous
                        for (int64_t n0 = 0; n0 < gate_up_rows_; n0 += panel)
                            swiglu_epilogue(r, 1, n0, 0, gu + r * gate_up_rows_ + n0, gate_up_rows_);
                });
            }
            {
                OpTimer t(profile_, Op::Down);
                gemm_.run(act, n, P.down, xc, bf16, bf16);  // these rows of x were consumed by gate_up
            }
        }
        // h = h + mlp, then the next RMSNorm (the next layer's input norm, or the final norm) in the same pass
        const bool last = l + 1 == c.layers;
        OpTimer t(profile_, last ? Op::FinalNorm : Op::AttnNorm);
        residual_rmsnorm(pool_, isa_, h, x, T, H, last ? weights_.final_norm : weights_.layers[l + 1].attn_norm, eps,
                         bf16, x);
    }
    if (profile_) ++profile_->forwards;
    return x;
}

void CpuBackend::embed(const PackedBatch &batch, bool normalize, float *out) {
    const float *f = forward(batch);
    OpTimer t(profile_, Op::Pool);
    mean_pool(pool_, f, config_.hidden, batch, normalize, out);
}

void CpuBackend::final_hidden(const PackedBatch &batch, float *out) {
    const float *f = forward(batch);
    const int64_t n = batch.total_tokens() * config_.hidden;
    std::copy(f, f + n, out);
}

}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend(const LlamaConfig &config, const ModelWeights &weights,
                                          const CpuOptions &options) {
    return std::make_unique<cpu::CpuBackend>(config, weights, options);
}

}  // namespace rir
