// test_emu_util.h: what the emulator's test files (test_emu.cpp, test_emu_devices.cpp: one executable) share: a
// trivial kernel and host helpers for device buffers. Internal linkage: each file gets its own copy.
#pragma once

#include <vector>

#include "check.h"
#include "cuda/cuda_compat.h"

namespace {

__global__ void add_one_kernel(float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1.0f;
}

// Device buffers: allocation and copies that stop the test on failure.
template <typename T>
T *dev_alloc(size_t n) {
    void *p = nullptr;
    REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
    return static_cast<T *>(p);
}
template <typename T>
void to_dev(T *d, const std::vector<T> &h) {
    REQUIRE(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
}
template <typename T>
std::vector<T> from_dev(const T *d, size_t n) {
    std::vector<T> h(n);
    REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
}
}  // namespace
