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
    packed_.reserve(c.layers);
    for (const LayerWeights &L : weights_.layers) {
        PackedLayer p;
        p.q = PackedWeights::of(pool_, isa_, L.wq, qd, H);
        p.k = PackedWeights::of(pool_, isa_, L.wk, kvd, H);
        p.v = PackedWeights::of(pool_, isa_, L.wv, kvd, H);
        p.o = PackedWeights::of(pool_, isa_, L.wo, H, qd);
        p.gate = PackedWeights::of(pool_, isa_, L.w_gate, I, H);
        p.up = PackedWeights::of(pool_, isa_, L.w_up, I, H);
        p.down = PackedWeights::of(pool_, isa_, L.w_down, H, I);
        packed_.push_back(std::move(p));
    }
}

std::string CpuBackend::device() const {
    return "cpu (" + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread, " : " threads, ") +
           isa_name(isa_) + ")";
}

size_t CpuBackend::workspace_bytes() const {
    size_t floats = rope_cos_.capacity() + rope_sin_.capacity() + h_.capacity() + x_.capacity() + q_.capacity() +
                    k_.capacity() + v_.capacity() + kt_.capacity() + attn_.capacity() + gate_.capacity() +
                    up_.capacity() + scores_.capacity();
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
        {&h_, t * c.hidden}, {&x_, t * c.hidden}, {&q_, t * qd}, {&k_, t * kvd}, {&v_, t * kvd},
        {&kt_, attention_kv_floats(T, n_seqs, c.kv_heads, c.head_dim)},
        {&attn_, t * qd}, {&gate_, mlp_rows * c.intermediate}, {&up_, mlp_rows * c.intermediate},
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
    const int64_t qd = int64_t(c.heads) * hd, kvd = int64_t(c.kv_heads) * hd;
    const float eps = static_cast<float>(c.rms_eps);
    float *h = h_.data(), *x = x_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data(), *kt = kt_.data();
    float *attn = attn_.data(), *g = gate_.data(), *u = up_.data();
    int32_t *pos = positions_.data();

    token_positions(batch, pos);
    {
        OpTimer t(profile_, Op::Embed);
        embed_rows(pool_, isa_, batch.token_ids, T, weights_.embed, H, h);
    }
    for (int l = 0; l < c.layers; ++l) {
        const LayerWeights &L = weights_.layers[l];
        const PackedLayer &P = packed_[l];
        // x = x + o_proj(Attention(RoPE(q), RoPE(k), v)) over RMSNorm_in(x)
        {
            OpTimer t(profile_, Op::AttnNorm);
            rmsnorm(pool_, isa_, h, T, H, L.attn_norm, eps, bf16, x);
        }
        {
            OpTimer t(profile_, Op::Qkv);
            gemm_.run(x, T, P.q, q, bf16, bf16);
            gemm_.run(x, T, P.k, k, bf16, bf16);
            gemm_.run(x, T, P.v, v, bf16, bf16);
        }
        {
            OpTimer t(profile_, Op::Rope);
            rope_apply(pool_, isa_, q, qd, T, c.heads, hd, pos, rope_cos_.data(), rope_sin_.data(), bf16);
            rope_apply(pool_, isa_, k, kvd, T, c.kv_heads, hd, pos, rope_cos_.data(), rope_sin_.data(), bf16);
        }
        {
            OpTimer t(profile_, Op::Attention);
            attention(pool_, isa_, q, k, v, batch.cu_seqlens, batch.n_seqs, c.heads, c.kv_heads, hd, bf16, attn, kt,
                      scores_.data());
        }
        {
            OpTimer t(profile_, Op::OProj);
            gemm_.run(attn, T, P.o, x, bf16, bf16);
        }
        {
            OpTimer t(profile_, Op::Residual);
            residual_add(pool_, isa_, h, x, T * H, bf16);
        }
        // x = x + down(silu(gate(y)) * up(y)), y = RMSNorm_post(x); rows in chunks (the MLP is per token)
        {
            OpTimer t(profile_, Op::MlpNorm);
            rmsnorm(pool_, isa_, h, T, H, L.mlp_norm, eps, bf16, x);
        }
        for (int64_t t0 = 0; t0 < T; t0 += kMlpChunkTokens) {
            const int64_t n = std::min(kMlpChunkTokens, T - t0);
            float *xc = x + t0 * H;
            {
                OpTimer t(profile_, Op::GateUp);
                gemm_.run(xc, n, P.gate, g, bf16, bf16);
                gemm_.run(xc, n, P.up, u, bf16, bf16);
            }
            {
                OpTimer t(profile_, Op::Swiglu);
                swiglu(pool_, isa_, g, u, n * I, bf16);
            }
            {
                OpTimer t(profile_, Op::Down);
                gemm_.run(g, n, P.down, xc, bf16, bf16);  // these rows of x were consumed by gate and up
            }
        }
        {
            OpTimer t(profile_, Op::Residual);
            residual_add(pool_, isa_, h, x, T * H, bf16);
        }
    }
    {
        OpTimer t(profile_, Op::FinalNorm);
        rmsnorm(pool_, isa_, h, T, H, weights_.final_norm, eps, bf16, x);
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
