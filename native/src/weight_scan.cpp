// weight_scan.cpp: WeightScan (weight_scan.h).
#include "weight_scan.h"

#include <algorithm>

#include "error.h"
#include "json.h"
#include "path.h"

namespace rir {

WeightScan::WeightScan(const std::string &model_dir, const LlamaConfig &config, bool map_files)
    : dir_(model_dir), config_(config), map_files_(map_files) {
    open_shards();
    collect_tensors();
}

Shard WeightScan::open_shard(const std::string &name) {
    Shard s;
    s.name = name;
    s.path = join_path(dir_, name);
    if (map_files_) {
        mappings_.push_back(std::make_unique<MappedFile>(s.path));
        s.map = mappings_.back().get();
    } else {
        s.reader = std::make_unique<ReadOnlyFile>(s.path);
    }
    return s;
}

namespace {

void read_header(Shard &s) {
    s.header = s.map ? safetensors::parse_header(*s.map) : safetensors::parse_header(*s.reader);
}

}  // namespace

void WeightScan::open_shards() {
    const std::string single = join_path(dir_, "model.safetensors");
    const std::string index_path = join_path(dir_, "model.safetensors.index.json");
    // transformers prefers the single file when both exist.
    if (path_exists(single)) {
        shards_.push_back(open_shard("model.safetensors"));
        read_header(shards_.back());
        return;
    }
    if (!path_exists(index_path))
        throw Error(RIR_ERR_IO, dir_ + ": no weights found: looked for model.safetensors and "
                                       "model.safetensors.index.json");
    // A 8B-model index is ~25 kB; 64 MiB is far beyond any real one.
    constexpr size_t kMaxIndexBytes = size_t(64) << 20;
    safetensors::ShardIndex index = safetensors::parse_index(json::read_file(index_path, kMaxIndexBytes), index_path);
    // Reserved up front: TensorLocation points into shards_, which must never reallocate.
    shards_.reserve(index.shards.size());
    for (const std::string &name : index.shards) {
        try {
            shards_.push_back(open_shard(name));
        } catch (const Error &e) {
            throw Error(e.status(), index_path + ": shard " + json::quote(name) + " named in weight_map cannot be "
                                                                                   "used: " + e.what());
        }
        read_header(shards_.back());
    }
    for (const auto &entry : index.weight_map) {
        const Shard *shard = nullptr;
        for (const Shard &s : shards_)
            if (s.name == entry.second) shard = &s;
        if (!shard->header.find(entry.first))
            throw Error(RIR_ERR_CHECKPOINT, index_path + " assigns tensor " + json::quote(entry.first) + " to " +
                                                shard->path + ", which has no tensor of that name");
    }
}

// Gathers every tensor of every shard under its canonical name, rejecting duplicates and unexpected names.
void WeightScan::collect_tensors() {
    const LlamaConfig &c = config_;
    for (const Shard &s : shards_) {
        for (const auto &t : s.header.tensors) {
            std::string canon = canonical_tensor_name(t.name);
            auto it = tensors_.find(canon);
            if (it != tensors_.end()) {
                const TensorLocation &prev = it->second;
                if (prev.info->name == t.name)
                    throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " appears in both " +
                                                        prev.shard->path + " and " + s.path);
                throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(canon) + " appears twice, as " +
                                                    json::quote(prev.info->name) + " in " + prev.shard->path +
                                                    " and as " + json::quote(t.name) + " in " + s.path);
            }
            tensors_.emplace(canon, TensorLocation{&s, &t});
            if (is_unused_tensor(canon)) continue;  // not used by the embedding model
            if (canon == "embed_tokens.weight" || canon == "norm.weight") continue;
            long long layer;
            int slot;
            if (parse_layer_name(canon, layer, slot)) {
                if (layer < c.layers) {
                    max_layer_ = std::max(max_layer_, layer);
                    continue;
                }
                throw Error(RIR_ERR_CHECKPOINT, s.path + ": unexpected tensor " + json::quote(t.name) +
                                                    ": layer " + std::to_string(layer) + " but config.json has "
                                                    "num_hidden_layers = " + std::to_string(c.layers));
            }
            throw Error(RIR_ERR_CHECKPOINT, s.path + ": unexpected tensor " + json::quote(t.name) +
                                                " (not part of a Llama model: expected embed_tokens.weight, "
                                                "layers.N.*, norm.weight, optionally lm_head.weight)");
        }
    }
    // Checked before any per-layer bookkeeping is allocated: a config claiming 2^31 layers must fail fast.
    if (max_layer_ + 1 < c.layers)
        throw Error(RIR_ERR_CHECKPOINT, "config.json has num_hidden_layers = " + std::to_string(c.layers) +
                                            " but the checkpoint (" + files_looked_in() + ") holds " +
                                            (max_layer_ < 0 ? std::string("no layer tensors")
                                                            : "layers 0.." + std::to_string(max_layer_)) +
                                            ": missing tensor 'layers." + std::to_string(max_layer_ + 1) +
                                            ".input_layernorm.weight' and the rest of layers " +
                                            std::to_string(max_layer_ + 1) + ".." + std::to_string(c.layers - 1));
}

std::string WeightScan::files_looked_in() const {
    std::string s;
    for (size_t i = 0; i < shards_.size(); ++i) {
        if (i == 8) { s += ", ... (" + std::to_string(shards_.size()) + " files)"; break; }
        s += (i ? ", " : "") + shards_[i].name;
    }
    return s;
}

TensorLocation WeightScan::find(const TensorSpec &spec) const {
    auto it = tensors_.find(spec.name);
    if (it == tensors_.end())
        throw Error(RIR_ERR_CHECKPOINT, dir_ + ": missing tensor " + json::quote(spec.name) + " (with or without the "
                                        "'model.' prefix; looked in " + files_looked_in() + ")");
    const Shard &s = *it->second.shard;
    const safetensors::TensorInfo &t = *it->second.info;
    if (t.shape != spec.shape) {
        safetensors::TensorInfo want;
        want.shape = spec.shape;
        throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path + " has shape " +
                                            t.shape_str() + ", expected " + want.shape_str() + " (" + spec.dims +
                                            " from config.json)");
    }
    if (t.dtype != safetensors::DType::BF16 && t.dtype != safetensors::DType::F32 && t.dtype != safetensors::DType::F16)
        throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path + " has dtype " +
                                            safetensors::dtype_name(t.dtype) + ", expected BF16 (F32/F16 are converted)");
    return it->second;
}

}  // namespace rir
