// backend.h: the interface every compute backend implements (cpu/ and cuda/), and the factory that chooses one
// (backends.cpp, the only code that knows them all). api.cpp owns one backend per handle.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model.h"
#include "reasonir.h"

namespace rir {

class Checkpoint;

class Backend {
public:
    virtual ~Backend() = default;
    // Writes n_seqs rows of `hidden` floats: the masked mean of the final RMSNorm output over positions
    // [pool_start, len) of each sequence, L2-normalized (e / max(||e||, 1e-12)) when `normalize`.
    // Throws rir::Error on failure (e.g. RIR_ERR_OUT_OF_MEMORY); the batch is validated by api.cpp.
    virtual void embed(const PackedBatch &batch, bool normalize, float *out) = 0;
    virtual const char *name() const = 0;         // "cpu" / "cuda"
    virtual std::string device() const = 0;       // human-readable
    virtual rir_precision precision() const = 0;  // FP32 or BF16, never DEFAULT
    virtual int64_t max_batch_tokens() const = 0;
    // True when the backend holds its own copy of the weights (a device backend): the Checkpoint's host weights,
    // and with them every file mapping, are released once the backend is built.
    virtual bool owns_weights() const { return false; }
};

enum class DeviceKind { Auto, Cpu, Cuda };

// What the caller asked for (rir_open_options), before a backend resolves the defaults.
struct BackendOptions {
    DeviceKind kind = DeviceKind::Auto;
    int ordinal = 0;                               // CUDA device index
    int num_threads = 0;                           // CPU worker threads, 0 = one per core
    rir_precision precision = RIR_PRECISION_DEFAULT;
    int64_t max_batch_tokens = 0;                  // 0 = the backend's default
    bool copy_weights = false;                     // RIR_OPEN_COPY_WEIGHTS (CPU: no mapping kept)
    // CUDA only, resolved from the environment already (never *_DEFAULT): the backend resolves AUTO.
    rir_attention attention = RIR_ATTENTION_AUTO;
    rir_cuda_graphs cuda_graphs = RIR_CUDA_GRAPHS_AUTO;
};

// Parses "auto" | "cpu" | "cuda" | "cuda:N" into kind/ordinal; throws RIR_ERR_INVALID_ARGUMENT otherwise.
void parse_device(const char *device, BackendOptions &options);

// Turns Auto into Cpu or Cuda: Cuda when this build has the CUDA backend and at least one usable device (driver,
// GPU and cuBLASLt present). *note receives one line saying why (empty when the kind was explicit).
void resolve_device(BackendOptions &options, std::string *note);

// Opens the checkpoint as the resolved backend needs it and builds the backend on it. The Checkpoint must outlive
// the backend; when backend->owns_weights() the checkpoint's weights have already been released.
std::unique_ptr<Backend> make_backend(const BackendOptions &options, Checkpoint &checkpoint);

// Load options for the checkpoint of a resolved kind (the CPU scans weights for NaN/Inf on the host and may copy
// them; a device backend scans on the device).
struct LoadOptions;
LoadOptions load_options_for(const BackendOptions &options);

// Number of usable CUDA devices (0 without the CUDA backend, a driver, a GPU or cuBLASLt; *why says which).
int cuda_device_count(std::string *why);

// rir_check_device_memory's answer for a resolved CUDA device: what an open with `options` would need there, what is
// free, and "" or the out-of-memory message the open would give.
struct DeviceMemoryCheck {
    uint64_t need = 0, free = 0;
    std::string shortfall;
};
// Fills *out as it goes (need first, then free), so that a caller still has the need when asking the device fails.
// Throws RIR_ERR_DEVICE in a build without the CUDA backend or when the device cannot answer,
// RIR_ERR_INVALID_ARGUMENT for a token budget the CUDA backend refuses. Allocates nothing on the device.
void check_cuda_memory(const BackendOptions &options, const LlamaConfig &config, DeviceMemoryCheck *out);

}  // namespace rir
