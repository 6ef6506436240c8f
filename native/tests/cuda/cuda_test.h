// cuda_test.h: support for the CUDA backend's tests (native/tests/cuda/test_*.cpp). Each test file is built twice:
// against the real CUDA backend (a GPU run; exit 77, which ctest reports as skipped, with the reason, when no usable
// GPU is present) and against the CPU emulator (suffix _emu; always runs; see native/emu/README.md).
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bf16.h"
#include "check.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_compat.h"

namespace cudatest {

#if defined(REASONIR_CUDA_EMU)
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

// Exits with 77 (skipped) and the reason when this machine cannot run the CUDA backend.
inline void require_gpu() {
    std::string why;
    if (rir::cuda::usable_device_count(&why) > 0) return;
    std::printf("skipped: no usable CUDA device: %s\n", why.c_str());
    std::fflush(stdout);
    std::exit(77);
}

template <typename T>
struct DeviceBuffer {
    T *p = nullptr;
    size_t n = 0;
    explicit DeviceBuffer(size_t count) : n(count) { rir::cuda::check(cudaMalloc(reinterpret_cast<void **>(&p), (count ? count : 1) * sizeof(T)), "test cudaMalloc"); }
    DeviceBuffer(const std::vector<T> &host) : DeviceBuffer(host.size()) { upload(host); }
    ~DeviceBuffer() { cudaFree(p); }
    DeviceBuffer(const DeviceBuffer &) = delete;
    void upload(const std::vector<T> &h) {
        rir::cuda::check(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "test upload");
    }
    std::vector<T> download() const {
        std::vector<T> h(n);
        rir::cuda::check(cudaDeviceSynchronize(), "test sync");
        rir::cuda::check(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "test download");
        return h;
    }
};

// Random bf16 bit patterns of values uniform in [-scale, scale] (never NaN/Inf).
// Cosine of two float vectors of length n, accumulated in double (the end-to-end tests' measure of agreement).
inline double cosine(const float *a, const float *b, int n) {
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < n; ++i) {
        dot += static_cast<double>(a[i]) * b[i];
        na += static_cast<double>(a[i]) * a[i];
        nb += static_cast<double>(b[i]) * b[i];
    }
    return dot / std::sqrt(na * nb);
}

inline std::vector<uint16_t> random_bf16(size_t n, std::mt19937 &rng, float scale = 1.0f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<uint16_t> v(n);
    for (auto &x : v) x = rir::f32_to_bf16(u(rng));
    return v;
}

inline std::vector<float> widen(const std::vector<uint16_t> &b) {
    std::vector<float> f(b.size());
    for (size_t i = 0; i < b.size(); ++i) f[i] = rir::bf16_to_f32(b[i]);
    return f;
}

// Counts elements of a (bf16 bits) that differ from b (fp32 values that are bf16 values), and the largest gap.
struct Diff {
    size_t mismatches = 0;
    double max_abs = 0;
};
inline Diff compare(const std::vector<uint16_t> &gpu, const std::vector<float> &cpu) {
    Diff d;
    for (size_t i = 0; i < gpu.size(); ++i) {
        const float g = rir::bf16_to_f32(gpu[i]);
        if (g != cpu[i] || std::isnan(g) != std::isnan(cpu[i])) ++d.mismatches;
        d.max_abs = std::fmax(d.max_abs, std::fabs(static_cast<double>(g) - cpu[i]));
    }
    return d;
}

}  // namespace cudatest
