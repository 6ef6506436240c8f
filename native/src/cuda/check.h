// check.h: CUDA runtime errors -> rir::Error. Never exit() or abort(): the caller may be a JVM.
#pragma once
#include <string>

#include "cuda/cuda_compat.h"
#include "error.h"

namespace rir {
namespace cuda {

// Errors after which the CUDA context is still usable: a failed allocation, a bad launch configuration or argument.
// Every other error is treated as sticky (an illegal address, a kernel fault, a lost device): the context is dead and
// the backend poisons itself.
inline bool is_recoverable(cudaError_t e) {
    return e == cudaErrorMemoryAllocation || e == cudaErrorInvalidValue || e == cudaErrorInvalidConfiguration;
}

inline std::string describe(cudaError_t e) {
    return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// Throws RIR_ERR_OUT_OF_MEMORY for allocation failures, RIR_ERR_DEVICE otherwise, naming `what`.
inline void check(cudaError_t e, const std::string &what) {
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear a non-sticky error so that it does not resurface in an unrelated call
    throw Error(e == cudaErrorMemoryAllocation ? RIR_ERR_OUT_OF_MEMORY : RIR_ERR_DEVICE,
                "cuda: " + what + " failed (" + describe(e) + ")");
}

// Makes `ordinal` the calling thread's current device for the guard's lifetime and restores the device the caller had
// (a JVM thread or an application that also uses CUDA must find its device unchanged after a call into the engine).
// Throws like check() when the device cannot be selected; the caller's device is then unchanged.
class DeviceGuard {
public:
    explicit DeviceGuard(int ordinal) {
        if (cudaGetDevice(&previous_) != cudaSuccess) {
            cudaGetLastError();
            previous_ = -1;
        }
        check(cudaSetDevice(ordinal), "cudaSetDevice(" + std::to_string(ordinal) + ")");
    }
    ~DeviceGuard() {
        if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
    }
    DeviceGuard(const DeviceGuard &) = delete;
    DeviceGuard &operator=(const DeviceGuard &) = delete;

private:
    int previous_ = -1;
};

}  // namespace cuda
}  // namespace rir
