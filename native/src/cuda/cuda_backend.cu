// cuda_backend.cu: the CUDA backend. forward() reads top to bottom like the CPU backend's: embedding, then per layer
// norm -> fused QKV GEMM -> RoPE -> attention -> O GEMM -> residual + norm -> gate/up GEMM -> SwiGLU -> down GEMM,
// then the final residual + norm fused with pooling. Activations are bf16 and rounded exactly where Hugging Face
// transformers rounds them in bf16 (see each kernel's header comment and the CPU twins).
#include "cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <tuple>
#include <vector>

#include "cuda/check.h"
#include "cuda/cublaslt.h"
#include "cuda/device_weights.h"
#include "cuda/kernels.h"
#include "cuda/schedule.h"
#include "error.h"
#include "rope.h"

namespace rir {
namespace cuda {

namespace {

constexpr uint64_t kAlign = 256;
uint64_t aligned(uint64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The workspace, carved from one allocation. Every size is for T = max_batch_tokens tokens.
struct Workspace {
    struct Sizes {
        uint64_t h, y, d, qkv, attn, gu, act, cs, ids, pos, tiles, chunks, seqs, partial, out, total;
    };
    static Sizes sizes(const LlamaConfig &c, int64_t T) {
        const uint64_t t = static_cast<uint64_t>(T), H = c.hidden, I = c.intermediate;
        const uint64_t qd = uint64_t(c.heads) * c.head_dim, kvd = uint64_t(c.kv_heads) * c.head_dim;
        const uint64_t tm = static_cast<uint64_t>(std::min(T, kMlpChunkTokens));
        Sizes s;
        s.h = aligned(t * H * 2);
        s.y = s.h;
        s.d = s.h;
        s.qkv = aligned(t * (qd + 2 * kvd) * 2);
        s.attn = aligned(t * qd * 2);
        s.gu = aligned(tm * 2 * I * 2);
        s.act = aligned(tm * I * 2);
        s.cs = aligned(t * (c.head_dim / 2) * sizeof(float2));
        s.ids = aligned(t * 4);
        s.pos = s.ids;
        s.tiles = aligned(static_cast<uint64_t>(max_attention_tiles(T)) * sizeof(AttnTile));
        s.chunks = aligned(static_cast<uint64_t>(max_pool_chunks(T)) * sizeof(PoolChunk));
        s.seqs = aligned(t * sizeof(PoolSeq));
        s.partial = aligned(static_cast<uint64_t>(max_pool_partials(T)) * H * sizeof(double));
        s.out = aligned(t * H * sizeof(float));
        s.total = s.h + s.y + s.d + s.qkv + s.attn + s.gu + s.act + s.cs + s.ids + s.pos + s.tiles + s.chunks +
                  s.seqs + s.partial + s.out;
        return s;
    }
};

// The shape of a forward pass: every host value that a kernel launch or GEMM of launch_forward() takes, derived from
// that code (all pointers are the fixed workspace and weights, the same for every call):
//   T          grids of embed_gather / rope_table / rope_apply / residual_rmsnorm / swiglu, the GEMM shapes (rows =
//              T) and the MLP row-chunk loop
//   n_tiles    the attention grid (AttentionArgs::n_tiles)
//   n_chunks   the pooling grid (PoolArgs::n_chunks)
//   n_seqs     the pooling merge grid (PoolArgs::n_seqs)
//   normalize  PoolArgs::normalize, a kernel argument
// Everything else the kernels read (token ids, positions, the attention tiles, the pooling chunks and sequences) is
// in device memory that upload() rewrites before every run. Two batches with the same key therefore launch the same
// kernels with the same arguments: a captured graph of one replays the other. It is also the graph cache's key.
struct GraphKey {
    int64_t T = 0;
    int n_tiles = 0, n_chunks = 0, n_seqs = 0;
    bool normalize = false;
    bool operator<(const GraphKey &o) const {
        return std::tie(T, n_tiles, n_chunks, n_seqs, normalize) <
               std::tie(o.T, o.n_tiles, o.n_chunks, o.n_seqs, o.normalize);
    }
};

std::string gib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1u << 30));
    return buf;
}

class CudaBackend final : public Backend {
public:
    CudaBackend(const LlamaConfig &config, const ModelWeights &weights, const CudaOptions &options);
    ~CudaBackend() override;

    void embed(const PackedBatch &batch, bool normalize, float *out) override;
    const char *name() const override { return "cuda"; }
    std::string device() const override { return device_; }
    rir_precision precision() const override { return RIR_PRECISION_BF16; }
    int64_t max_batch_tokens() const override { return max_tokens_; }
    bool owns_weights() const override { return true; }

    CudaGraphStats graph_stats() const {
        CudaGraphStats s = stats_;
        s.enabled = graphs_;
        s.cached = static_cast<int64_t>(graphs_lru_.size());
        return s;
    }

private:
    void forward(const PackedBatch &batch, bool normalize);
    // The host plan of the batch and its uploads into the workspace (plain async copies, never in a graph).
    GraphKey upload(const PackedBatch &batch, bool normalize);
    // The kernels and GEMMs of the forward pass: what a graph captures. Reads only `k` and the workspace.
    void launch_forward(const GraphKey &k);
    // Replays the graph of k's shape, capturing it first when it is new; false when the capture failed (graphs are
    // then off and the caller launches plainly).
    bool run_graph(const GraphKey &k);
    cudaGraphExec_t capture(const GraphKey &k, std::string *failure);
    void destroy_graphs();
    void ck(cudaError_t e, const char *what) { check(e, what); }
    // After a failure: is the context still alive? A sticky error survives cudaGetLastError().
    void probe_after_failure(const std::string &what);
    void release();

    LlamaConfig c_;
    int ordinal_;
    int64_t max_tokens_;
    std::string device_;
    cudaStream_t stream_ = nullptr;
    std::unique_ptr<Gemm> gemm_;
    std::unique_ptr<DeviceWeights> w_;
    void *ws_ = nullptr;
    float *inv_freq_ = nullptr;
    // Workspace views.
    bf16 *h_ = nullptr, *y_ = nullptr, *d_ = nullptr, *qkv_ = nullptr, *attn_ = nullptr, *gu_ = nullptr,
         *act_ = nullptr;
    float2 *cs_ = nullptr;
    int32_t *ids_ = nullptr, *pos_ = nullptr;
    AttnTile *tiles_ = nullptr;
    PoolChunk *chunks_ = nullptr;
    PoolSeq *seqs_ = nullptr;
    double *partial_ = nullptr;
    float *out_ = nullptr;
    std::vector<int32_t> host_pos_;
    bool poisoned_ = false;
    std::string poison_;
    rir_attention attention_ = RIR_ATTENTION_SM80;  // resolved: SM80 or SM90
    bool graphs_ = false;
    // The graph cache: most recently used first, and an index by shape. At most graph_cap_ entries.
    struct CachedGraph {
        GraphKey key;
        cudaGraphExec_t exec;
    };
    std::list<CachedGraph> graphs_lru_;
    std::map<GraphKey, std::list<CachedGraph>::iterator> graphs_index_;
    size_t graph_cap_ = kMaxCudaGraphs;
    CudaGraphStats stats_;
};

CudaBackend::CudaBackend(const LlamaConfig &c, const ModelWeights &w, const CudaOptions &o)
    : c_(c), ordinal_(o.ordinal), max_tokens_(o.max_batch_tokens > 0 ? o.max_batch_tokens : kDefaultMaxBatchTokens) {
    if (o.precision == RIR_PRECISION_FP32)
        throw Error(RIR_ERR_INVALID_ARGUMENT,
                    "the CUDA backend computes in bf16 only; precision fp32 is available on the CPU backend (device "
                    "cpu)");
    if (o.precision != RIR_PRECISION_DEFAULT && o.precision != RIR_PRECISION_BF16)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "cuda backend: unknown precision " + std::to_string(o.precision));
    if (c.head_dim > kMaxAttentionHeadDim)
        throw Error(RIR_ERR_CONFIG, "cuda backend: head_dim " + std::to_string(c.head_dim) + " is larger than " +
                                        std::to_string(kMaxAttentionHeadDim) + ", the widest attention kernel");
    if (c.heads % c.kv_heads != 0 || c.head_dim % 2 != 0)
        throw Error(RIR_ERR_CONFIG, "cuda backend: heads must be a multiple of kv_heads and head_dim even");
    const MemoryNeed need = memory_need(c, max_tokens_);  // also refuses a budget too large to index
    std::string why;
    const LtLibrary *lib = load_cublaslt(&why);
    if (!lib) throw Error(RIR_ERR_DEVICE, "cuda backend: " + why);

    const DeviceGuard on_device(ordinal_);
    cudaDeviceProp prop;
    ck(cudaGetDeviceProperties(&prop, ordinal_), "cudaGetDeviceProperties");
    const std::string name = "cuda:" + std::to_string(ordinal_) + " (" + prop.name + ")";
    if (prop.major < 8)
        throw Error(RIR_ERR_DEVICE, name + " has compute capability " + std::to_string(prop.major) + "." +
                                        std::to_string(prop.minor) + "; the kernels need 8.0 or newer (bf16 tensor cores)");
    if (attention_smem_bytes(c.head_dim) > prop.sharedMemPerBlockOptin)
        throw Error(RIR_ERR_DEVICE, name + ": the attention kernel for head_dim " + std::to_string(c.head_dim) +
                                        " needs " + std::to_string(attention_smem_bytes(c.head_dim)) +
                                        " bytes of shared memory per block, the device allows " +
                                        std::to_string(prop.sharedMemPerBlockOptin));
    attention_ = o.attention == RIR_ATTENTION_AUTO ? kAutoAttention : o.attention;
    if (attention_ == RIR_ATTENTION_SM90) {
        // The kernel is compiled for sm_90a only, whose code runs on compute capability 9.0 and nothing else (a newer
        // GPU would get the compute_80 PTX, which has no wgmma): refused by name, never a silent fallback to sm80.
        if (prop.major != 9 || prop.minor != 0)
            throw Error(RIR_ERR_DEVICE, name + " has compute capability " + std::to_string(prop.major) + "." +
                                            std::to_string(prop.minor) +
                                            "; attention sm90 (wgmma + TMA) needs 9.0 (H100, H200): use sm80 or auto");
        if (!attention_sm90_supports(c.head_dim))
            throw Error(RIR_ERR_DEVICE, name + ": attention sm90 supports head_dim 64 and 128, this model has " +
                                            std::to_string(c.head_dim) + ": use sm80 or auto");
        const std::string missing = attention_sm90_unavailable();
        if (!missing.empty()) throw Error(RIR_ERR_DEVICE, name + ": attention sm90: " + missing + ": use sm80 or auto");
        if (attention_sm90_smem_bytes(c.head_dim) > prop.sharedMemPerBlockOptin)
            throw Error(RIR_ERR_DEVICE, name + ": attention sm90 for head_dim " + std::to_string(c.head_dim) +
                                            " needs " + std::to_string(attention_sm90_smem_bytes(c.head_dim)) +
                                            " bytes of shared memory per block, the device allows " +
                                            std::to_string(prop.sharedMemPerBlockOptin));
    }
    graphs_ = o.cuda_graphs == RIR_CUDA_GRAPHS_ON || (o.cuda_graphs == RIR_CUDA_GRAPHS_AUTO && kAutoCudaGraphs);
    if (o.cuda_graph_cache < 0)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "cuda backend: cuda_graph_cache must not be negative");
    graph_cap_ = o.cuda_graph_cache > 0 ? static_cast<size_t>(o.cuda_graph_cache) : kMaxCudaGraphs;
    if (final_norm_pool_smem_bytes(c.hidden) > prop.sharedMemPerBlockOptin)
        throw Error(RIR_ERR_DEVICE, name + ": hidden size " + std::to_string(c.hidden) + " is too large for pooling");

    // Check free memory before anything large is allocated.
    const std::string shortfall = memory_shortfall(name, current_device_memory(), need);
    if (!shortfall.empty()) throw Error(RIR_ERR_OUT_OF_MEMORY, shortfall);
    const uint64_t wsbytes = need.workspace;
    try {
        ck(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
        gemm_ = std::make_unique<Gemm>(*lib);
        ck(cudaMalloc(&ws_, wsbytes), ("cudaMalloc of the " + gib(wsbytes) + " workspace").c_str());
        char *p = static_cast<char *>(ws_);
        const Workspace::Sizes s = Workspace::sizes(c, max_tokens_);
        auto carve = [&](uint64_t n) {
            char *at = p;
            p += n;
            return at;
        };
        h_ = reinterpret_cast<bf16 *>(carve(s.h));
        y_ = reinterpret_cast<bf16 *>(carve(s.y));
        d_ = reinterpret_cast<bf16 *>(carve(s.d));
        qkv_ = reinterpret_cast<bf16 *>(carve(s.qkv));
        attn_ = reinterpret_cast<bf16 *>(carve(s.attn));
        gu_ = reinterpret_cast<bf16 *>(carve(s.gu));
        act_ = reinterpret_cast<bf16 *>(carve(s.act));
        cs_ = reinterpret_cast<float2 *>(carve(s.cs));
        ids_ = reinterpret_cast<int32_t *>(carve(s.ids));
        pos_ = reinterpret_cast<int32_t *>(carve(s.pos));
        tiles_ = reinterpret_cast<AttnTile *>(carve(s.tiles));
        chunks_ = reinterpret_cast<PoolChunk *>(carve(s.chunks));
        seqs_ = reinterpret_cast<PoolSeq *>(carve(s.seqs));
        partial_ = reinterpret_cast<double *>(carve(s.partial));
        out_ = reinterpret_cast<float *>(carve(s.out));

        const std::vector<float> inv = rope_inv_freq(c);  // the table the CPU twin uses (rope.h), bit for bit
        ck(cudaMalloc(reinterpret_cast<void **>(&inv_freq_), inv.size() * sizeof(float)), "cudaMalloc of inv_freq");
        // On the backend's stream (non-blocking: the legacy default stream of a plain cudaMemcpy does not order it
        // before the kernels that read the table), and waited for before `inv` goes away.
        ck(cudaMemcpyAsync(inv_freq_, inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice, stream_),
           "copy inv_freq");
        ck(cudaStreamSynchronize(stream_), "copy inv_freq");
        attention_prepare(c.head_dim);
        if (attention_ == RIR_ATTENTION_SM90) attention_sm90_prepare(c.head_dim);
        final_norm_pool_prepare(c.hidden);
        ck(cudaGetLastError(), "cudaFuncSetAttribute");

        w_ = std::make_unique<DeviceWeights>(c, w, stream_);
    } catch (...) {
        release();
        throw;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, ", weights loaded at %.2f GB/s",
                  w_->stats().seconds > 0 ? static_cast<double>(w_->stats().bytes) / 1e9 / w_->stats().seconds : 0.0);
    device_ = name + (attention_ == RIR_ATTENTION_SM90 ? ", attention sm90" : ", attention sm80") +
              (graphs_ ? ", cuda graphs" : "") + buf;
    host_pos_.reserve(static_cast<size_t>(max_tokens_));
}

void CudaBackend::release() {
    if (stream_) cudaStreamSynchronize(stream_);
    destroy_graphs();  // before gemm_: in the emulated build a graph's GEMMs call back into it
    w_.reset();
    gemm_.reset();
    if (inv_freq_) cudaFree(inv_freq_);
    if (ws_) cudaFree(ws_);
    if (stream_) cudaStreamDestroy(stream_);
    inv_freq_ = nullptr;
    ws_ = nullptr;
    stream_ = nullptr;
    cudaGetLastError();
}

CudaBackend::~CudaBackend() {
    if (poisoned_) return;  // the context is dead: freeing through it would only fail; the process reclaims it
    try {
        // The handle may be closed from any thread (a pool closes its engines from the thread that closes the
        // pool): the stream, the cuBLASLt handle and the allocations belong to ordinal_, which must be current.
        const DeviceGuard on_device(ordinal_);
        release();
    } catch (const Error &) {
        // the device cannot be selected any more: nothing can be freed through it; the process reclaims it
    }
}

void CudaBackend::destroy_graphs() {
    for (const CachedGraph &g : graphs_lru_) cudaGraphExecDestroy(g.exec);
    graphs_lru_.clear();
    graphs_index_.clear();
}

void CudaBackend::probe_after_failure(const std::string &what) {
    cudaGetLastError();                             // clears a non-sticky error
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess && !is_recoverable(e)) {   // still failing: sticky, the context is unusable
        poisoned_ = true;
        poison_ = what + " (" + describe(e) + ")";
    }
    cudaGetLastError();
}

void CudaBackend::embed(const PackedBatch &batch, bool normalize, float *out) {
    if (poisoned_)
        throw Error(RIR_ERR_DEVICE, device_ + " is unusable after an earlier CUDA error: " + poison_ +
                                        "; close this model (and restart the process if the error persists)");
    const int64_t T = batch.total_tokens();
    if (T > max_tokens_)
        throw Error(RIR_ERR_INPUT, "cuda backend: batch of " + std::to_string(T) + " tokens exceeds max_batch_tokens " +
                                       std::to_string(max_tokens_));
    // Every call selects the backend's device: a pool calls embed from a worker thread of its own (whose current
    // device is whatever that thread last used), and kernels may only be launched into a stream of the current
    // device. The guard also covers the probe after a failure (it syncs this device's stream and reads the calling
    // thread's error state, which must be this device's), and restores the caller's device when the call ends.
    const DeviceGuard on_device(ordinal_);
    try {
        forward(batch, normalize);
        ck(cudaMemcpyAsync(out, out_, static_cast<size_t>(batch.n_seqs) * c_.hidden * sizeof(float),
                           cudaMemcpyDeviceToHost, stream_),
           "copying the embeddings to the host");
        ck(cudaStreamSynchronize(stream_), "the forward pass");
    } catch (const Error &e) {
        probe_after_failure(e.what());
        throw;
    }
}

void CudaBackend::forward(const PackedBatch &b, bool normalize) {
    const GraphKey k = upload(b, normalize);
    if (graphs_ && k.T > 0 && k.T <= RIR_CUDA_GRAPH_MAX_TOKENS && run_graph(k)) return;
    launch_forward(k);
    ++stats_.plain;
}

GraphKey CudaBackend::upload(const PackedBatch &b, bool normalize) {
    const int64_t T = b.total_tokens();
    // Host-side plan of the batch (schedule.h), then one copy of each piece. The copies are plain async copies from
    // pageable memory (the call returns once the source is read), so the local plans may go when this returns.
    host_pos_.resize(static_cast<size_t>(T));
    token_positions(b.cu_seqlens, b.n_seqs, host_pos_.data());
    // The sm90 kernel's blocks take 128 query rows (two consumer warpgroups), the sm80 kernel's 64: fewer tiles than
    // max_attention_tiles(T) reserves either way.
    const std::vector<AttnTile> tiles = attention_tiles(
        b.cu_seqlens, b.n_seqs, attention_ == RIR_ATTENTION_SM90 ? kAttnSm90QueryTile : kAttnQueryTile);
    const PoolPlan pool = pool_plan(b.cu_seqlens, b.pool_start, b.n_seqs);
    auto up = [&](void *dst, const void *src, size_t bytes, const char *what) {
        ck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), what);
    };
    up(ids_, b.token_ids, static_cast<size_t>(T) * 4, "copying token ids");
    up(pos_, host_pos_.data(), static_cast<size_t>(T) * 4, "copying positions");
    up(tiles_, tiles.data(), tiles.size() * sizeof(AttnTile), "copying the attention schedule");
    up(chunks_, pool.chunks.data(), pool.chunks.size() * sizeof(PoolChunk), "copying the pooling plan");
    up(seqs_, pool.seqs.data(), pool.seqs.size() * sizeof(PoolSeq), "copying the pooling plan");
    GraphKey k;
    k.T = T;
    k.n_tiles = static_cast<int>(tiles.size());
    k.n_chunks = static_cast<int>(pool.chunks.size());
    k.n_seqs = b.n_seqs;
    k.normalize = normalize;
    return k;
}

bool CudaBackend::run_graph(const GraphKey &k) {
    auto found = graphs_index_.find(k);
    if (found != graphs_index_.end()) {
        graphs_lru_.splice(graphs_lru_.begin(), graphs_lru_, found->second);  // most recently used
    } else {
        std::string failure;
        const cudaGraphExec_t exec = capture(k, &failure);
        if (!exec) {
            // Not sticky (capture() throws for a dead context): graphs go off for this backend, silently (a library
            // does not write to stdout), and this batch and every later one run as plain launches, which give the
            // same bits. The reason stays in the stats.
            graphs_ = false;
            ++stats_.failures;
            stats_.last_failure = failure;
            return false;
        }
        ++stats_.captures;
        graphs_lru_.push_front(CachedGraph{k, exec});
        graphs_index_[k] = graphs_lru_.begin();
        while (graphs_lru_.size() > graph_cap_) {
            cudaGraphExecDestroy(graphs_lru_.back().exec);
            graphs_index_.erase(graphs_lru_.back().key);
            graphs_lru_.pop_back();
            ++stats_.evictions;
        }
    }
    ck(cudaGraphLaunch(graphs_lru_.front().exec, stream_), "launching the CUDA graph of the forward pass");
    ++stats_.replays;
    return true;
}

cudaGraphExec_t CudaBackend::capture(const GraphKey &k, std::string *failure) {
    // Thread-local mode: only this thread's "unsafe" calls (cudaMalloc, synchronous copies...) are refused during
    // the capture. The global mode would also refuse them to every other thread of the process, e.g. another engine
    // of a device pool opening (allocating) while this one captures.
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    const cudaError_t began = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
    if (began != cudaSuccess) {
        *failure = "cudaStreamBeginCapture: " + describe(began);
    } else {
        try {
            launch_forward(k);
        } catch (const Error &e) {
            *failure = e.what();
        }
        const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);  // ends it after a failure too
        if (failure->empty() && ended != cudaSuccess) *failure = "cudaStreamEndCapture: " + describe(ended);
        if (failure->empty()) {
            const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
            if (made != cudaSuccess) {
                exec = nullptr;
                *failure = "cudaGraphInstantiate: " + describe(made);
            }
        }
        if (graph) cudaGraphDestroy(graph);  // the executable graph holds what it needs
    }
    if (failure->empty()) return exec;
    cudaGetLastError();  // a non-sticky error must not resurface in a later, unrelated check
    // A sticky error (a fault of the context) is not a capture problem: the usual device-fault path, which poisons
    // the backend (embed's probe_after_failure). Nothing was run by the capture, so the batch is intact for a plain
    // run when the context is healthy.
    const cudaError_t alive = cudaStreamSynchronize(stream_);
    cudaGetLastError();
    if (alive != cudaSuccess && !is_recoverable(alive))
        throw Error(RIR_ERR_DEVICE, "cuda: capturing the forward pass as a CUDA graph failed (" + *failure +
                                        "; the device then reported " + describe(alive) + ")");
    return nullptr;
}

void CudaBackend::launch_forward(const GraphKey &k) {
    const LlamaConfig &c = c_;
    const int64_t T = k.T;
    const int H = c.hidden, I = c.intermediate, hd = c.head_dim;
    const int qd = c.heads * hd, kvd = c.kv_heads * hd, qkvd = qd + 2 * kvd;
    const float eps = static_cast<float>(c.rms_eps);

    embed_gather(ids_, T, w_->embed, H, h_, stream_);
    rope_table(pos_, T, inv_freq_, hd / 2, cs_, stream_);
    residual_rmsnorm(h_, nullptr, T, H, w_->layers[0].attn_norm, eps, y_, stream_);
    for (int l = 0; l < c.layers; ++l) {
        const DeviceLayer &L = w_->layers[static_cast<size_t>(l)];
        // Attention block: y holds RMSNorm_in(h).
        gemm_->nt(y_, T, H, L.wqkv, qkvd, qkv_, stream_);
        rope_apply(qkv_, qkvd, T, c.heads + c.kv_heads, hd, cs_, stream_);  // q heads then k heads, contiguous
        AttentionArgs a;
        a.q = qkv_;
        a.k = qkv_ + qd;
        a.v = qkv_ + qd + kvd;
        a.ld_qkv = qkvd;
        a.out = attn_;
        a.ld_out = qd;
        a.tiles = tiles_;
        a.n_tiles = k.n_tiles;
        a.heads = c.heads;
        a.kv_heads = c.kv_heads;
        a.head_dim = hd;
        a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
        if (attention_ == RIR_ATTENTION_SM90)
            attention_sm90(a, T, stream_);  // its TMA maps cover rows [0, T) of qkv_: part of the graph key via T
        else
            attention(a, stream_);
        gemm_->nt(attn_, T, qd, L.wo, H, d_, stream_);
        residual_rmsnorm(h_, d_, T, H, L.mlp_norm, eps, y_, stream_);  // h += o; y = RMSNorm_post(h)
        // MLP block, in row chunks (it is per token).
        for (int64_t t0 = 0; t0 < T; t0 += kMlpChunkTokens) {
            const int64_t n = std::min(kMlpChunkTokens, T - t0);
            gemm_->nt(y_ + t0 * H, n, H, L.w_gate_up, 2 * I, gu_, stream_);
            swiglu(gu_, n, I, act_, stream_);
            gemm_->nt(act_, n, I, L.w_down, H, d_ + t0 * H, stream_);
        }
        if (l + 1 < c.layers)  // h += mlp; y = RMSNorm_in of the next layer
            residual_rmsnorm(h_, d_, T, H, w_->layers[static_cast<size_t>(l + 1)].attn_norm, eps, y_, stream_);
    }
    PoolArgs p;
    p.h = h_;
    p.d = d_;
    p.hidden = H;
    p.w = w_->final_norm;
    p.eps = eps;
    p.chunks = chunks_;
    p.n_chunks = k.n_chunks;
    p.seqs = seqs_;
    p.n_seqs = k.n_seqs;
    p.partial = partial_;
    p.out = out_;
    p.normalize = k.normalize;
    final_norm_pool(p, stream_);
    ck(cudaGetLastError(), "launching the forward pass");
}

}  // namespace

uint64_t workspace_bytes(const LlamaConfig &c, int64_t max_batch_tokens) {
    return Workspace::sizes(c, max_batch_tokens).total;
}

MemoryNeed memory_need(const LlamaConfig &c, int64_t max_batch_tokens) {
    MemoryNeed n;
    n.max_batch_tokens = max_batch_tokens > 0 ? max_batch_tokens : kDefaultMaxBatchTokens;
    if (n.max_batch_tokens > INT32_MAX / 2)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "cuda backend: max_batch_tokens " + std::to_string(n.max_batch_tokens) +
                                                  " is too large");
    n.weights = DeviceWeights::device_bytes(c);
    n.workspace = workspace_bytes(c, n.max_batch_tokens);
    n.total = n.weights + n.workspace + Gemm::kWorkspaceBytes + kHeadroomBytes;
    return n;
}

DeviceMemory current_device_memory() {
    size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    DeviceMemory m;
    m.free = free_b;
    m.total = total_b;
    return m;
}

std::string memory_shortfall(const std::string &device, const DeviceMemory &mem, const MemoryNeed &need) {
    if (need.total <= mem.free) return std::string();
    return device + " has " + gib(mem.free) + " free of " + gib(mem.total) + "; the model needs " + gib(need.total) +
           " (weights " + gib(need.weights) + ", activations for max_batch_tokens " +
           std::to_string(need.max_batch_tokens) + " " + gib(need.workspace) +
           ", cuBLASLt workspace and headroom): use a smaller token budget or a larger GPU";
}

DeviceMemory check_device_memory(int ordinal, const MemoryNeed &need, std::string *message) {
    const DeviceGuard on_device(ordinal);
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties");
    const DeviceMemory mem = current_device_memory();
    if (message) *message = memory_shortfall("cuda:" + std::to_string(ordinal) + " (" + prop.name + ")", mem, need);
    return mem;
}

int usable_device_count(std::string *why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (why) *why = "no usable CUDA driver or GPU (" + describe(e) + ")";
        return 0;
    }
    int usable = 0;
    std::string old;
    for (int i = 0; i < n; ++i) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        if (p.major >= 8) {
            ++usable;
        } else {
            old += std::string(old.empty() ? "" : ", ") + p.name + " (" + std::to_string(p.major) + "." +
                   std::to_string(p.minor) + ")";
        }
    }
    if (usable == 0) {
        if (why)
            *why = n == 0 ? "no CUDA device" : "no CUDA device of compute capability 8.0 or newer (found " + old + ")";
        return 0;
    }
    std::string lt_why;
    if (!load_cublaslt(&lt_why)) {
        if (why) *why = lt_why;
        return 0;
    }
    return usable;
}

CudaGraphStats cuda_graph_stats(const Backend &backend) {
    const CudaBackend *b = dynamic_cast<const CudaBackend *>(&backend);
    if (!b) throw Error(RIR_ERR_INVALID_ARGUMENT, std::string("cuda_graph_stats: a ") + backend.name() + " backend");
    return b->graph_stats();
}

std::unique_ptr<Backend> make_cuda_backend(const LlamaConfig &config, const ModelWeights &weights,
                                           const CudaOptions &options) {
    return std::make_unique<CudaBackend>(config, weights, options);
}

}  // namespace cuda
}  // namespace rir
