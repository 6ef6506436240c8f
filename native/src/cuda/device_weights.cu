// device_weights.cu: see device_weights.h.
#include "cuda/device_weights.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <vector>

#include "cuda/check.h"
#include "cuda/kernels.h"
#include "error.h"
#include "parallel.h"

namespace rir {
namespace cuda {

namespace {

constexpr uint64_t kAlign = 256;  // cudaMalloc's alignment; keeps every tensor 16-byte aligned for vector access

uint64_t aligned(uint64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// One source tensor: where it comes from on the host and where it goes in the arena.
struct Item {
    std::string name;
    const bf16_t *host;
    uint64_t rows, cols;
    uint64_t offset;  // bytes into the arena
};

// The arena layout, in one place for device_bytes() and the constructor.
struct Layout {
    std::vector<Item> items;
    uint64_t total = 0;
    uint64_t embed = 0, final_norm = 0;
    struct L { uint64_t attn_norm, wqkv, wo, mlp_norm, wgu, wdown; };
    std::vector<L> layers;

    Layout(const LlamaConfig &c, const ModelWeights *w) {
        const uint64_t H = c.hidden, I = c.intermediate;
        const uint64_t qd = uint64_t(c.heads) * c.head_dim, kvd = uint64_t(c.kv_heads) * c.head_dim;
        auto take = [&](uint64_t bytes) {
            const uint64_t at = total;
            total += aligned(bytes);
            return at;
        };
        auto item = [&](const std::string &name, const bf16_t *p, uint64_t rows, uint64_t cols, uint64_t off) {
            items.push_back({name, p, rows, cols, off});
        };
        embed = take(uint64_t(c.vocab) * H * 2);
        item("embed_tokens.weight", w ? w->embed : nullptr, c.vocab, H, embed);
        final_norm = take(H * 2);
        item("norm.weight", w ? w->final_norm : nullptr, 1, H, final_norm);
        for (int l = 0; l < c.layers; ++l) {
            const LayerWeights *lw = w ? &w->layers[static_cast<size_t>(l)] : nullptr;
            const std::string p = "layers." + std::to_string(l) + ".";
            L o;
            o.attn_norm = take(H * 2);
            item(p + "input_layernorm.weight", lw ? lw->attn_norm : nullptr, 1, H, o.attn_norm);
            o.wqkv = take((qd + 2 * kvd) * H * 2);
            item(p + "self_attn.q_proj.weight", lw ? lw->wq : nullptr, qd, H, o.wqkv);
            item(p + "self_attn.k_proj.weight", lw ? lw->wk : nullptr, kvd, H, o.wqkv + qd * H * 2);
            item(p + "self_attn.v_proj.weight", lw ? lw->wv : nullptr, kvd, H, o.wqkv + (qd + kvd) * H * 2);
            o.wo = take(H * qd * 2);
            item(p + "self_attn.o_proj.weight", lw ? lw->wo : nullptr, H, qd, o.wo);
            o.mlp_norm = take(H * 2);
            item(p + "post_attention_layernorm.weight", lw ? lw->mlp_norm : nullptr, 1, H, o.mlp_norm);
            o.wgu = take(2 * I * H * 2);
            item(p + "mlp.gate_proj.weight", lw ? lw->w_gate : nullptr, I, H, o.wgu);
            item(p + "mlp.up_proj.weight", lw ? lw->w_up : nullptr, I, H, o.wgu + I * H * 2);
            o.wdown = take(H * I * 2);
            item(p + "mlp.down_proj.weight", lw ? lw->w_down : nullptr, H, I, o.wdown);
            layers.push_back(o);
        }
    }
};

// memcpy split over threads: reading the mapping (page faults, page cache) is the slow side of the upload, and one
// core copies a few GB/s at most. Pieces below 8 MiB stay on the calling thread.
void parallel_copy(void *dst, const void *src, uint64_t bytes) {
    constexpr uint64_t kPiece = uint64_t(8) << 20;
    const uint64_t parts = std::min<uint64_t>(hardware_threads(8), std::max<uint64_t>(1, bytes / kPiece));
    if (parts <= 1) {
        std::memcpy(dst, src, bytes);
        return;
    }
    parallel_for(bytes, static_cast<unsigned>(parts), [=](unsigned, uint64_t begin, uint64_t end) {
        std::memcpy(static_cast<char *>(dst) + begin, static_cast<const char *>(src) + begin, end - begin);
    });
}

// Two pinned buffers used alternately; an event per buffer says when its last transfer finished.
class Staging {
public:
    explicit Staging(cudaStream_t s) : stream_(s) {
        for (int i = 0; i < 2; ++i) {
            check(cudaMallocHost(&buf_[i], DeviceWeights::kStagingBytes), "cudaMallocHost of a 64 MiB staging buffer");
            check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "cudaEventCreate");
        }
    }
    ~Staging() {
        cudaStreamSynchronize(stream_);
        for (int i = 0; i < 2; ++i) {
            if (done_[i]) cudaEventDestroy(done_[i]);
            if (buf_[i]) cudaFreeHost(buf_[i]);
        }
    }
    void copy(void *dst, const void *src, uint64_t bytes) {
        const char *s = static_cast<const char *>(src);
        char *d = static_cast<char *>(dst);
        for (uint64_t done = 0; done < bytes;) {
            const uint64_t n = std::min<uint64_t>(DeviceWeights::kStagingBytes, bytes - done);
            check(cudaEventSynchronize(done_[next_]), "waiting for a staging buffer");
            parallel_copy(buf_[next_], s + done, n);  // reads the mapping (page cache or disk) while the other copies
            check(cudaMemcpyAsync(d + done, buf_[next_], n, cudaMemcpyHostToDevice, stream_), "weight upload");
            check(cudaEventRecord(done_[next_], stream_), "cudaEventRecord");
            next_ ^= 1;
            done += n;
        }
    }

private:
    cudaStream_t stream_;
    void *buf_[2] = {nullptr, nullptr};
    cudaEvent_t done_[2] = {nullptr, nullptr};
    int next_ = 0;
};

}  // namespace

uint64_t DeviceWeights::device_bytes(const LlamaConfig &c) { return Layout(c, nullptr).total; }

DeviceWeights::DeviceWeights(const LlamaConfig &c, const ModelWeights &w, cudaStream_t stream) {
    const auto t0 = std::chrono::steady_clock::now();
    Layout layout(c, &w);
    for (const Item &it : layout.items)
        if (!it.host) throw Error(RIR_ERR_INTERNAL, "cuda backend: weight " + it.name + " was not supplied by the loader");
    check(cudaMalloc(&arena_, layout.total), "cudaMalloc of " + std::to_string(layout.total) + " bytes for the weights");
    char *base = static_cast<char *>(arena_);
    unsigned long long *first_bad = nullptr;
    try {
        {
            Staging staging(stream);
            for (const Item &it : layout.items) staging.copy(base + it.offset, it.host, it.rows * it.cols * 2);
        }  // waits for the last transfer before the pinned buffers go
        // NaN/Inf scan: one result slot per source tensor, all read back at once.
        const size_t n = layout.items.size();
        check(cudaMalloc(reinterpret_cast<void **>(&first_bad), n * sizeof(unsigned long long)), "cudaMalloc of the NaN/Inf scan results");
        check(cudaMemsetAsync(first_bad, 0xff, n * sizeof(unsigned long long), stream), "cudaMemsetAsync");
        for (size_t i = 0; i < n; ++i) {
            const Item &it = layout.items[i];
            find_nonfinite(reinterpret_cast<const bf16 *>(base + it.offset), static_cast<int64_t>(it.rows * it.cols),
                           first_bad + i, stream);
        }
        check(cudaGetLastError(), "launching the NaN/Inf scan");
        std::vector<unsigned long long> found(n);
        check(cudaMemcpyAsync(found.data(), first_bad, n * sizeof(unsigned long long), cudaMemcpyDeviceToHost, stream),
              "reading the NaN/Inf scan results");
        check(cudaStreamSynchronize(stream), "the weight upload");
        cudaFree(first_bad);
        first_bad = nullptr;
        for (size_t i = 0; i < n; ++i) {
            if (found[i] == ULLONG_MAX) continue;
            const Item &it = layout.items[i];
            const uint64_t e = found[i];
            const bf16_t bits = it.host[e];
            throw Error(RIR_ERR_CHECKPOINT,
                        "tensor " + it.name + " holds " + ((bits & 0x7f) ? "NaN" : "Inf") + " at element " +
                            std::to_string(e) + " (row " + std::to_string(e / it.cols) + ", column " +
                            std::to_string(e % it.cols) + "): the checkpoint is damaged");
        }
    } catch (...) {
        if (first_bad) cudaFree(first_bad);
        cudaFree(arena_);
        arena_ = nullptr;
        throw;
    }
    auto at = [&](uint64_t off) { return reinterpret_cast<__nv_bfloat16 *>(base + off); };
    embed = at(layout.embed);
    final_norm = at(layout.final_norm);
    for (const Layout::L &o : layout.layers)
        layers.push_back({at(o.attn_norm), at(o.wqkv), at(o.wo), at(o.mlp_norm), at(o.wgu), at(o.wdown)});
    stats_.bytes = layout.total;
    stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

DeviceWeights::~DeviceWeights() {
    if (arena_) cudaFree(arena_);
}

}  // namespace cuda
}  // namespace rir
