// cuda_backend.h: the CUDA implementation of rir::Backend (backend.h). Only backends.cpp and tests include it.
//
// One backend = one device, one stream, one cuBLASLt handle, the weights on the device (device_weights.h) and a
// workspace sized once for max_batch_tokens, so that embed() never allocates. Calls are serialized by api.cpp's
// per-handle lock; several backends (models, devices) in one process are independent. Construction, embed() and
// destruction each make the backend's device current for their duration (and restore the caller's device): a
// device pool opens, uses and closes a handle from different host threads, and CUDA's current device is per thread.
// After a sticky CUDA error the backend is poisoned: every later embed() fails with RIR_ERR_DEVICE and never touches
// the dead context.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backend.h"

namespace rir {
namespace cuda {

struct CudaOptions {
    int ordinal = 0;
    rir_precision precision = RIR_PRECISION_DEFAULT;  // DEFAULT and BF16: bf16; FP32 is refused
    int64_t max_batch_tokens = 0;                     // 0 = kDefaultMaxBatchTokens
    rir_attention attention = RIR_ATTENTION_AUTO;     // AUTO: kAutoAttention; SM90 needs compute capability 9.0
    rir_cuda_graphs cuda_graphs = RIR_CUDA_GRAPHS_AUTO;  // AUTO: kAutoCudaGraphs
    int cuda_graph_cache = 0;                      // executable graphs kept (LRU); 0 = kMaxCudaGraphs (tests lower it)
};

// What AUTO means. Each stays today's path until a committed GPU report shows the other passing parity and faster;
// the commit that changes one cites that report (benchmarks/results/).
constexpr rir_attention kAutoAttention = RIR_ATTENTION_SM80;
constexpr bool kAutoCudaGraphs = false;

// CUDA graphs (cuda_graphs ON): a batch of at most RIR_CUDA_GRAPH_MAX_TOKENS tokens runs its forward pass as a graph,
// captured at the first batch of its shape (cuda_backend.cu, GraphKey: the token count, attention tiles, pooling
// chunks, sequences and normalize), instantiated, kept, and replayed for every later batch of that shape. Executable
// graphs kept per backend, least recently used evicted first: a shape is an exact token count and packing, so the
// space of shapes is large, but the small batches of one service (queries of typical lengths, one or a few per call)
// repeat a few dozen; 64 keeps those while bounding the host and device memory of the executable graphs (each holds
// ~10 kernel nodes per layer with their parameters), and a miss only costs one capture and instantiation (about
// the host time of one plain launch sequence plus the instantiation).
constexpr int kMaxCudaGraphs = 64;

// A backend's graph counters (cuda_graph_stats), for tests, benchmarks and diagnostics.
struct CudaGraphStats {
    bool enabled = false;       // graphs are in use: cuda_graphs resolved to on and no capture failure turned them off
    int64_t cached = 0;         // executable graphs held now (at most the cache bound)
    int64_t captures = 0;       // shapes captured and instantiated (cache misses that produced a graph)
    int64_t replays = 0;        // cudaGraphLaunch calls (the first run after a capture included)
    int64_t plain = 0;          // forward passes launched kernel by kernel (graphs off, a batch above
                                // RIR_CUDA_GRAPH_MAX_TOKENS, or the run whose capture failed)
    int64_t evictions = 0;      // graphs destroyed to keep the bound
    int64_t failures = 0;       // captures or instantiations that failed (non-sticky) and turned graphs off
    std::string last_failure;   // what failed, for diagnostics (never printed)
};
// Throws RIR_ERR_INVALID_ARGUMENT when `backend` is not a CUDA backend.
CudaGraphStats cuda_graph_stats(const Backend &backend);

// Tokens of one call when the caller gives no budget: a few large GEMMs keep the GPU busy; 16384 tokens of the 8B
// model take about 2.3 GiB of activations.
constexpr int64_t kDefaultMaxBatchTokens = 16384;
// Rows of the MLP per GEMM: bounds the [rows, 2 * intermediate] buffer (8192 x 28672 bf16 = 448 MiB for the 8B).
constexpr int64_t kMlpChunkTokens = 8192;
// Free device memory left untouched at open (the CUDA context, cuBLASLt's own allocations, fragmentation).
constexpr uint64_t kHeadroomBytes = uint64_t(512) << 20;

// Devices this build can run on (compute capability >= 8.0) when the driver and cuBLASLt are present; else 0 and why.
int usable_device_count(std::string *why);

// Bytes of device memory the workspace takes for a config and token budget (for the open-time check and tests).
uint64_t workspace_bytes(const LlamaConfig &c, int64_t max_batch_tokens);

// Device memory an open needs: one formula for the backend's own check at open and for rir_check_device_memory
// (a device pool's check of every device before any opens), so that the two cannot disagree.
struct MemoryNeed {
    int64_t max_batch_tokens = 0;  // the budget in effect (a request of 0 is kDefaultMaxBatchTokens)
    uint64_t weights = 0;          // DeviceWeights::device_bytes
    uint64_t workspace = 0;        // workspace_bytes for max_batch_tokens
    uint64_t total = 0;            // weights + workspace + the cuBLASLt workspace + kHeadroomBytes
};
// Throws RIR_ERR_INVALID_ARGUMENT for a budget the backend refuses (too large for its int32 indexing).
MemoryNeed memory_need(const LlamaConfig &c, int64_t max_batch_tokens);

// Free and total memory of the calling thread's current device (cudaMemGetInfo; allocates nothing). Throws like
// check() when the device cannot answer.
struct DeviceMemory {
    uint64_t free = 0, total = 0;
};
DeviceMemory current_device_memory();

// "" when `need` fits in `mem`, else the out-of-memory message naming `device` ("cuda:2 (NVIDIA H100 ...)"), its
// free and total memory and the need with its parts.
std::string memory_shortfall(const std::string &device, const DeviceMemory &mem, const MemoryNeed &need);

// The check for device `ordinal` on behalf of a caller that opens nothing (rir_check_device_memory): selects the
// device for the call (restoring the caller's), names it as the backend does, and reports what is free. *message
// receives memory_shortfall's text.
DeviceMemory check_device_memory(int ordinal, const MemoryNeed &need, std::string *message);

std::unique_ptr<Backend> make_cuda_backend(const LlamaConfig &config, const ModelWeights &weights,
                                           const CudaOptions &options);

}  // namespace cuda
}  // namespace rir
