// checkpoint.h: opening a Hugging Face Llama checkpoint folder (config.json + model.safetensors or shards listed in
// model.safetensors.index.json). Shards are memory-mapped read-only; BF16 tensors are used in place (no copy).
// Every tensor's presence, dtype, shape and byte range is checked against the config and the file size before use.
// The steps live apart: config.h parses config.json, tensor_names.h names the tensors and their shapes,
// weight_scan.h finds and checks them in the files, and Checkpoint::open (checkpoint.cpp) loads them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config.h"  // parse_config used to be declared here; code reaching it through this header still builds
#include "model.h"

namespace rir {

class MappedFile;  // safetensors.h: read-only mmap of one shard

struct LoadOptions {
    // Copy every tensor into memory owned by the Checkpoint and unmap the shards before open() returns (no mapping
    // outlives open: a shard truncated or rewritten later cannot fault the process). RIR_OPEN_COPY_WEIGHTS.
    bool copy_weights = false;
    // Scan every tensor on the host for NaN/Inf and fail naming the tensor and element (the CUDA backend scans on
    // the device instead, see cuda/device_weights.cu).
    bool scan_nonfinite = false;
};

class Checkpoint {
public:
    // Throws rir::Error (RIR_ERR_IO / FORMAT / CHECKPOINT / CONFIG) naming file, tensor and byte offset.
    static std::unique_ptr<Checkpoint> open(const std::string &model_dir, const LoadOptions &options = {});
    ~Checkpoint();

    const LlamaConfig &config() const { return config_; }
    const ModelWeights &weights() const { return weights_; }
    const std::string &dir() const { return dir_; }
    // Bytes of all weight tensors bound in weights() (bf16).
    uint64_t weight_bytes() const;
    // Drops the weights: unmaps the shards, frees converted/copied tensors and nulls every pointer of weights().
    // config() stays valid. Used once a device backend holds its own copy.
    void release_weights();

private:
    Checkpoint() = default;
    std::string dir_;
    LlamaConfig config_;
    ModelWeights weights_;
    std::vector<std::unique_ptr<MappedFile>> files_;      // keep the mappings alive (taken from the WeightScan)
    std::vector<std::vector<bf16_t>> converted_;          // F32/F16 tensors converted to BF16 on load
    friend class CheckpointLoader;
};

}  // namespace rir
