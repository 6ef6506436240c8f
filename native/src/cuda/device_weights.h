// device_weights.h: the model's weights in device memory, in the layouts the CUDA forward wants: the q/k/v
// projections fused into one [q_dim + 2 kv_dim, hidden] matrix and gate/up into one [2 intermediate, hidden] matrix,
// so that each is one GEMM. Nothing points back into the host mapping once the upload is done.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_compat.h"
#include "model.h"

namespace rir {
namespace cuda {

struct DeviceLayer {
    __nv_bfloat16 *attn_norm;  // [hidden]
    __nv_bfloat16 *wqkv;       // [heads*head_dim + 2*kv_heads*head_dim, hidden]: q rows, then k rows, then v rows
    __nv_bfloat16 *wo;         // [hidden, heads*head_dim]
    __nv_bfloat16 *mlp_norm;   // [hidden]
    __nv_bfloat16 *w_gate_up;  // [2*intermediate, hidden]: gate rows, then up rows
    __nv_bfloat16 *w_down;     // [hidden, intermediate]
};

struct LoadStats {
    uint64_t bytes = 0;
    double seconds = 0;  // host read + transfer + NaN/Inf scan
};

class DeviceWeights {
public:
    // Bytes the weights take on the device (with the arena's alignment padding).
    static uint64_t device_bytes(const LlamaConfig &c);
    // Uploads from host memory (usually the checkpoint's mapping) through two pinned staging buffers, so that reading
    // the next piece from the page cache or disk overlaps the transfer of the previous one, then scans every tensor
    // on the device for NaN/Inf and throws RIR_ERR_CHECKPOINT naming the first bad tensor and element.
    DeviceWeights(const LlamaConfig &c, const ModelWeights &host, cudaStream_t stream);
    ~DeviceWeights();
    DeviceWeights(const DeviceWeights &) = delete;
    DeviceWeights &operator=(const DeviceWeights &) = delete;

    __nv_bfloat16 *embed = nullptr;       // [vocab, hidden]
    __nv_bfloat16 *final_norm = nullptr;  // [hidden]
    std::vector<DeviceLayer> layers;
    const LoadStats &stats() const { return stats_; }

    // 64 MiB pieces: large enough for full-speed copies, small enough to keep two pinned buffers cheap.
    static constexpr size_t kStagingBytes = size_t(64) << 20;

private:
    void *arena_ = nullptr;
    LoadStats stats_;
};

}  // namespace cuda
}  // namespace rir
