// checkpoint.h: opening a Hugging Face Llama checkpoint folder (config.json + model.safetensors or shards listed in
// model.safetensors.index.json). Shards are memory-mapped read-only; BF16 tensors are used in place (no copy).
// Every tensor's presence, dtype, shape and byte range is checked against the config and the file size before use.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model.h"

namespace rir {

class MappedFile;  // safetensors.h: read-only mmap of one shard

class Checkpoint {
public:
    // Throws rir::Error (RIR_ERR_IO / FORMAT / CHECKPOINT / CONFIG) naming file, tensor and byte offset.
    static std::unique_ptr<Checkpoint> open(const std::string &model_dir);
    ~Checkpoint();

    const LlamaConfig &config() const { return config_; }
    const ModelWeights &weights() const { return weights_; }
    const std::string &dir() const { return dir_; }

private:
    Checkpoint() = default;
    std::string dir_;
    LlamaConfig config_;
    ModelWeights weights_;
    std::vector<std::unique_ptr<MappedFile>> files_;      // keep the mappings alive
    std::vector<std::vector<bf16_t>> converted_;          // F32/F16 tensors converted to BF16 on load
    friend class CheckpointLoader;
};

// Parses config.json text (exposed for tests and the fuzz target). `where` names the file in messages.
LlamaConfig parse_config(const std::string &json_text, const std::string &where);

}  // namespace rir
