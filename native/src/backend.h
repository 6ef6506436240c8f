// backend.h: the interface every compute backend implements (CPU now, CUDA next). api.cpp owns one per handle.
#pragma once
#include <memory>
#include <string>

#include "model.h"
#include "reasonir.h"

namespace rir {

class Backend {
public:
    virtual ~Backend() = default;
    // Writes n_seqs rows of `hidden` floats: the masked mean of the final RMSNorm output over positions
    // [pool_start, len) of each sequence, L2-normalized (e / max(||e||, 1e-12)) when `normalize`.
    // Throws rir::Error on failure (e.g. RIR_ERR_OUT_OF_MEMORY).
    virtual void embed(const PackedBatch &batch, bool normalize, float *out) = 0;
    virtual const char *name() const = 0;         // "cpu" / "cuda"
    virtual std::string device() const = 0;       // human-readable
    virtual rir_precision precision() const = 0;  // FP32 or BF16
    virtual int64_t max_batch_tokens() const = 0;
};

struct CpuOptions {
    int num_threads = 0;                          // 0 = hardware concurrency
    rir_precision precision = RIR_PRECISION_FP32;
    int64_t max_batch_tokens = 0;                 // 0 = default (no fixed cap beyond memory; see cpu_backend.cpp)
};

// The weights (and the Checkpoint owning them) must outlive the backend.
std::unique_ptr<Backend> make_cpu_backend(const LlamaConfig &config, const ModelWeights &weights,
                                          const CpuOptions &options);

}  // namespace rir
