// weight_scan.h: where a checkpoint's tensors are. Finds the weight files of a checkpoint folder (model.safetensors,
// or the shards that model.safetensors.index.json names), opens each (memory-mapped, or for pread when the weights are
// to be copied), parses and validates every safetensors header (safetensors.h), checks the index against the headers
// and every tensor name against the config (tensor_names.h), and answers, for a tensor the model binds, which file
// holds it and at which bytes, once its shape and dtype are checked. Reads no tensor data: that is the loader's
// (checkpoint.cpp).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model.h"
#include "safetensors.h"
#include "tensor_names.h"

namespace rir {

// One weight file.
struct Shard {
    std::string name;                      // as named in the index (or "model.safetensors")
    std::string path;                      // dir + name
    const MappedFile *map = nullptr;       // mapped mode: the mapping (owned by the WeightScan, then by its taker)
    std::unique_ptr<ReadOnlyFile> reader;  // copy mode: the open file (closed with the WeightScan)
    safetensors::Header header;
};

// A tensor found in a shard.
struct TensorLocation {
    const Shard *shard;
    const safetensors::TensorInfo *info;
};

class WeightScan {
public:
    // Opens and checks the weight files of model_dir for `config` (kept by reference: it must outlive the scan).
    // map_files: mmap every file (MappedFile) instead of opening it for pread (ReadOnlyFile). Throws rir::Error:
    // RIR_ERR_IO (no weights, a file that cannot be opened), RIR_ERR_FORMAT (a bad header or index), RIR_ERR_CHECKPOINT
    // (a tensor named twice or assigned to the wrong shard, an unexpected name, fewer layers than the config says).
    WeightScan(const std::string &model_dir, const LlamaConfig &config, bool map_files);
    WeightScan(const WeightScan &) = delete;
    WeightScan &operator=(const WeightScan &) = delete;

    // The tensor `spec.name`, checked to have spec.shape and a dtype the loader takes (BF16 as is, F32/F16 converted).
    // RIR_ERR_CHECKPOINT naming the tensor, the file and what was expected when it is missing or does not fit.
    TensorLocation find(const TensorSpec &spec) const;

    // Moves the mappings (mapped mode; empty otherwise) to the caller, who must keep them while it uses a Shard's map
    // or the data behind it: the Shards still point at them.
    std::vector<std::unique_ptr<MappedFile>> take_mappings() { return std::move(mappings_); }

private:
    Shard open_shard(const std::string &name);
    void open_shards();
    void collect_tensors();
    std::string files_looked_in() const;

    const std::string dir_;
    const LlamaConfig &config_;
    const bool map_files_;
    std::vector<std::unique_ptr<MappedFile>> mappings_;
    std::vector<Shard> shards_;
    std::map<std::string, TensorLocation> tensors_;  // canonical name (no "model." prefix) -> where it is
    long long max_layer_ = -1;                        // highest layer index seen among the checkpoint's tensors
};

}  // namespace rir
