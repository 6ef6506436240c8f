// backends.cpp: the one place that knows every backend. It parses the device string, resolves "auto", opens the
// checkpoint the way the chosen backend needs it and builds the backend. Nothing else includes both cpu/ and cuda/.
#include <string>

#include "backend.h"
#include "checkpoint.h"
#include "cpu/cpu_backend.h"
#include "error.h"
#if defined(REASONIR_HAVE_CUDA)
#include "cuda/cuda_backend.h"
#endif

namespace rir {

void parse_device(const char *device, BackendOptions &o) {
    const std::string d = device && *device ? device : "auto";
    o.ordinal = 0;
    if (d == "auto") {
        o.kind = DeviceKind::Auto;
    } else if (d == "cpu") {
        o.kind = DeviceKind::Cpu;
    } else if (d == "cuda") {
        o.kind = DeviceKind::Cuda;
    } else if (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.size() <= 8 &&
               d.find_first_not_of("0123456789", 5) == std::string::npos) {
        o.kind = DeviceKind::Cuda;
        o.ordinal = std::stoi(d.substr(5));
    } else {
        throw Error(RIR_ERR_INVALID_ARGUMENT, "unknown device '" + d + "': expected auto, cpu, cuda or cuda:N");
    }
}

int cuda_device_count(std::string *why) {
#if defined(REASONIR_HAVE_CUDA)
    return cuda::usable_device_count(why);
#else
    if (why) *why = "this build of libreasonir has no CUDA backend (it was built without nvcc)";
    return 0;
#endif
}

void check_cuda_memory(const BackendOptions &o, const LlamaConfig &config, DeviceMemoryCheck *out) {
#if defined(REASONIR_HAVE_CUDA)
    // The backend's own formula (cuda::memory_need), so the check and the open agree on the need.
    const cuda::MemoryNeed need = cuda::memory_need(config, o.max_batch_tokens);
    out->need = need.total;
    out->free = cuda::check_device_memory(o.ordinal, need, &out->shortfall).free;
#else
    (void)config;
    (void)out;
    throw Error(RIR_ERR_DEVICE, "device 'cuda:" + std::to_string(o.ordinal) +
                                    "' requested, but this build of libreasonir has no CUDA backend");
#endif
}

void resolve_device(BackendOptions &o, std::string *note) {
    if (note) note->clear();
    if (o.kind == DeviceKind::Cpu) return;
    std::string why;
    const int n = cuda_device_count(&why);
    if (o.kind == DeviceKind::Cuda) {  // explicit: fail before the checkpoint is read
        const std::string name = "cuda:" + std::to_string(o.ordinal);
        if (n == 0) throw Error(RIR_ERR_DEVICE, "device '" + name + "' requested, but " + why);
        if (o.ordinal >= n)
            throw Error(RIR_ERR_DEVICE, "device '" + name + "' requested, but there " +
                                            (n == 1 ? "is 1 usable CUDA device" : "are " + std::to_string(n) +
                                                                                     " usable CUDA devices") +
                                            " (cuda:0" + (n > 1 ? " .. cuda:" + std::to_string(n - 1) : "") + ")");
        return;
    }
    if (n > 0) {
        o.kind = DeviceKind::Cuda;
        o.ordinal = 0;
        if (note) *note = std::to_string(n) + " usable CUDA device" + (n > 1 ? "s" : "") + ", cuBLASLt loaded";
    } else {
        o.kind = DeviceKind::Cpu;
        if (note) *note = why;
    }
}

LoadOptions load_options_for(const BackendOptions &o) {
    LoadOptions l;
    if (o.kind == DeviceKind::Cuda) {
        l.copy_weights = false;   // staged straight from the mapping to the device, then unmapped
        l.scan_nonfinite = false; // scanned on the device
    } else {
        l.copy_weights = o.copy_weights;
        l.scan_nonfinite = true;
    }
    return l;
}

std::unique_ptr<Backend> make_backend(const BackendOptions &o, Checkpoint &checkpoint) {
    std::unique_ptr<Backend> backend;
    switch (o.kind) {
        case DeviceKind::Cpu: {
            CpuOptions c;
            c.num_threads = o.num_threads;
            c.precision = o.precision;  // the backend resolves DEFAULT (FP32 on the CPU)
            c.max_batch_tokens = o.max_batch_tokens;
            backend = make_cpu_backend(checkpoint.config(), checkpoint.weights(), c);
            break;
        }
        case DeviceKind::Cuda: {
#if defined(REASONIR_HAVE_CUDA)
            cuda::CudaOptions c;
            c.ordinal = o.ordinal;
            c.precision = o.precision;
            c.max_batch_tokens = o.max_batch_tokens;
            c.attention = o.attention;
            c.cuda_graphs = o.cuda_graphs;
            backend = cuda::make_cuda_backend(checkpoint.config(), checkpoint.weights(), c);
            break;
#else
            throw Error(RIR_ERR_DEVICE, "device 'cuda:" + std::to_string(o.ordinal) +
                                            "' requested, but this build of libreasonir has no CUDA backend");
#endif
        }
        case DeviceKind::Auto:
            throw Error(RIR_ERR_INTERNAL, "make_backend: device kind not resolved");
    }
    if (backend->owns_weights()) checkpoint.release_weights();
    return backend;
}

}  // namespace rir
