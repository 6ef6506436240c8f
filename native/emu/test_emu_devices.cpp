// test_emu_devices.cpp: the emulator with several devices (native/emu/README.md, "Configuration"): per-device memory
// limits and use, sticky errors per device, fault injection, streams and events that belong to a device, the current
// device per host thread, and the EMU_* configuration read at start. Part of the test_emu executable (its main, with
// the --probe the environment test runs, is in test_emu.cpp).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "cuda/cuda_compat.h"
#include "test_emu_util.h"


TEST_CASE(each_device_has_its_own_memory_limit_and_use) {
    emu::reset();
    REQUIRE(emu::configure("3", "1M,2M,4M", nullptr).empty());
    int n = 0;
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 3);
    size_t totals[3] = {size_t(1) << 20, size_t(2) << 20, size_t(4) << 20};
    for (int d = 0; d < 3; ++d) {
        cudaDeviceProp p;
        CHECK(cudaGetDeviceProperties(&p, d) == cudaSuccess && p.totalGlobalMem == totals[d]);
        CHECK(std::string(p.name) == "CUDA emulator (CPU)" && p.pciBusID == d + 1);
    }
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 3) == cudaErrorInvalidDevice);
    // cudaMalloc charges the calling thread's current device; cudaMemGetInfo reports the current device.
    void *a = nullptr, *b = nullptr, *c = nullptr;
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    REQUIRE(cudaMalloc(&a, 1536 * 1024) == cudaSuccess);
    CHECK(cudaMalloc(&b, 1024 * 1024) == cudaErrorMemoryAllocation);  // 1.5 + 1 MiB > 2 MiB on device 1
    size_t free_b = 0, total_b = 0;
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b == totals[1] && free_b == 512 * 1024);
    REQUIRE(cudaSetDevice(2) == cudaSuccess);
    REQUIRE(cudaMalloc(&b, 3 * 1024 * 1024) == cudaSuccess);  // device 2 has room of its own
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b == totals[2] && free_b == 1024 * 1024);
    CHECK(emu::live_device_bytes(0) == 0 && emu::live_device_bytes(1) == 1536 * 1024 &&
          emu::live_device_bytes(2) == 3 * 1024 * 1024 && emu::live_device_bytes() == 4608 * 1024);
    // Another host thread starts on device 0, whatever this one selected (as in CUDA).
    std::thread([&] {
        int d = -1;
        CHECK(cudaGetDevice(&d) == cudaSuccess && d == 0);
        void *more = nullptr;
        CHECK(cudaMalloc(&c, 1024 * 1024) == cudaSuccess);
        CHECK(cudaMalloc(&more, 1024 * 1024) == cudaErrorMemoryAllocation);  // device 0 is full (1 MiB)
        cudaGetLastError();
    }).join();
    int d = -1;
    CHECK(cudaGetDevice(&d) == cudaSuccess && d == 2);
    CHECK(emu::live_device_bytes(0) == 1024 * 1024);
    // Freed on any device, credited to the allocation's own.
    CHECK(cudaFree(a) == cudaSuccess && cudaFree(c) == cudaSuccess);
    CHECK(emu::live_device_bytes(1) == 0 && emu::live_device_bytes(0) == 0);
    CHECK(cudaFree(b) == cudaSuccess && emu::live_device_bytes() == 0);
    // One device's limit alone.
    CHECK(emu::set_memory_limit(2, 8 << 20));
    CHECK(cudaGetDeviceProperties(&p, 2) == cudaSuccess && p.totalGlobalMem == size_t(8) << 20);
    CHECK(cudaGetDeviceProperties(&p, 1) == cudaSuccess && p.totalGlobalMem == size_t(2) << 20);
    CHECK(!emu::set_memory_limit(64, 1));
    emu::reset();
    CHECK(cudaGetDevice(&d) == cudaSuccess && d == 0);  // reset puts the calling thread back on device 0
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 1);
    CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.totalGlobalMem == size_t(8) << 30);
}

TEST_CASE(a_sticky_fault_poisons_its_device_only) {
    emu::reset();
    emu::set_device_count(4);
    float *d0 = dev_alloc<float>(64);
    to_dev(d0, std::vector<float>(64, 0.0f));
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    float *d1 = dev_alloc<float>(64);
    // The third launch on device 1 from now (two run first) fails with a sticky error; launches elsewhere do not
    // count towards it.
    CHECK(emu::inject_error(1, cudaErrorIllegalAddress, 2));
    CHECK(emu::fault_pending(1) && !emu::fault_pending(0));
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    for (int i = 0; i < 5; ++i) RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d0, 64);
    CHECK(cudaGetLastError() == cudaSuccess);
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    const unsigned long long on1 = emu::launches(1);
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d1, 64);
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d1, 64);
    CHECK(cudaGetLastError() == cudaSuccess && emu::fault_pending(1));
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d1, 64);  // the fault: this kernel does not run
    CHECK(!emu::fault_pending(1));
    CHECK(emu::launches(1) == on1 + 2);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
    CHECK(emu::sticky_error(1) == cudaErrorIllegalAddress && emu::sticky_error(0) == cudaSuccess);
    // Device 1's context is dead: every call made on it fails, cudaGetLastError keeps answering the sticky error ...
    void *p = nullptr;
    CHECK(cudaMalloc(&p, 16) == cudaErrorIllegalAddress);
    CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
    // ... but the thread can switch to a healthy device, where everything works; and an event or stream of the dead
    // device answers its error from any device.
    cudaStream_t s1 = nullptr;
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);  // device 0's context is healthy
    CHECK(from_dev(d0, 64)[63] == 5.0f);  // device 0's five launches ran
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d0, 64);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaMalloc(&p, 16) == cudaSuccess && cudaFree(p) == cudaSuccess);
    // A fresh host thread on device 2 is unaffected too.
    std::thread([] {
        CHECK(cudaSetDevice(2) == cudaSuccess);
        void *q = nullptr;
        CHECK(cudaMalloc(&q, 16) == cudaSuccess && cudaFree(q) == cudaSuccess);
        CHECK(cudaDeviceSynchronize() == cudaSuccess);
    }).join();
    // cudaDeviceReset clears the current device's context only.
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    CHECK(cudaStreamCreate(&s1) == cudaErrorIllegalAddress);
    CHECK(cudaDeviceReset() == cudaSuccess);
    CHECK(emu::sticky_error(1) == cudaSuccess);
    CHECK(cudaMalloc(&p, 16) == cudaSuccess && cudaFree(p) == cudaSuccess);
    // A non-sticky fault fails that one launch and leaves the context alive.
    CHECK(emu::inject_error(1, cudaErrorLaunchOutOfResources, 0));
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d1, 64);
    CHECK(cudaGetLastError() == cudaErrorLaunchOutOfResources);
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, nullptr, d1, 64);
    CHECK(cudaGetLastError() == cudaSuccess && emu::sticky_error(1) == cudaSuccess);
    CHECK(!emu::inject_error(64, cudaErrorIllegalAddress, 0) && !emu::inject_error(0, cudaSuccess, 0));
    CHECK(cudaFree(d1) == cudaSuccess);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaFree(d0) == cudaSuccess);
    emu::reset();
    CHECK(emu::live_device_bytes() == 0);
}

TEST_CASE(streams_and_events_belong_to_their_device) {
    emu::reset();
    emu::set_device_count(2);
    float *d = dev_alloc<float>(32);  // on device 0
    cudaStream_t s0, s1;
    cudaEvent_t e0, e1;
    REQUIRE(cudaStreamCreate(&s0) == cudaSuccess && cudaEventCreate(&e0) == cudaSuccess);
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    REQUIRE(cudaStreamCreate(&s1) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess);
    // A launch into another device's stream fails (CUDA: the stream must belong to the current device) ...
    const unsigned long long before = emu::launches();
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, s0, d, 32);
    CHECK(cudaGetLastError() == cudaErrorInvalidResourceHandle);
    CHECK(emu::launches() == before);
    // ... as does recording an event into a stream of another device, and timing events of two devices.
    CHECK(cudaEventRecord(e1, s1) == cudaSuccess);
    CHECK(cudaEventRecord(e0, s1) == cudaErrorInvalidResourceHandle);
    CHECK(cudaEventRecord(e1, nullptr) == cudaSuccess);  // the default stream is the current device's (1)
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaEventRecord(e1, nullptr) == cudaErrorInvalidResourceHandle);
    CHECK(cudaEventRecord(e0, s0) == cudaSuccess);
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, e0, e1) == cudaErrorInvalidResourceHandle);
    cudaGetLastError();
    // Copies, synchronization and waits work with any device's stream or event (as in CUDA).
    std::vector<float> h(32, 1.0f);
    CHECK(cudaMemcpyAsync(d, h.data(), 128, cudaMemcpyHostToDevice, s1) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s1) == cudaSuccess && cudaEventSynchronize(e1) == cudaSuccess);
    CHECK(cudaStreamWaitEvent(s0, e1, 0) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, s0, d, 32);
    CHECK(cudaGetLastError() == cudaSuccess && from_dev(d, 32)[31] == 2.0f);
    // A stream of a device with a sticky error answers it wherever it is used from.
    CHECK(emu::inject_error(1, cudaErrorLaunchFailure, 0));
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, s1, d, 32);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    cudaGetLastError();
    CHECK(cudaStreamSynchronize(s1) == cudaErrorLaunchFailure);
    CHECK(cudaEventSynchronize(e1) == cudaErrorLaunchFailure);
    CHECK(cudaMemcpyAsync(d, h.data(), 128, cudaMemcpyHostToDevice, s1) == cudaErrorLaunchFailure);
    CHECK(cudaStreamSynchronize(s0) == cudaSuccess);
    cudaGetLastError();
    // Destroyed from any device.
    CHECK(cudaStreamDestroy(s1) == cudaSuccess && cudaEventDestroy(e1) == cudaSuccess);
    CHECK(cudaStreamDestroy(s0) == cudaSuccess && cudaEventDestroy(e0) == cudaSuccess);
    CHECK(emu::live_streams() == 0 && emu::live_events() == 0);
    cudaFree(d);
    emu::reset();
}

// The syntax of EMU_DEVICE_COUNT, EMU_DEVICE_MEMORY and EMU_FAULT, through emu::configure (the environment goes
// through the same parser at the first call; test_environment_configuration_at_start checks that path).
TEST_CASE(configuration_values_are_parsed_strictly) {
    emu::reset();
    auto total = [](int d) {
        cudaDeviceProp p;
        return cudaGetDeviceProperties(&p, d) == cudaSuccess ? p.totalGlobalMem : size_t(0);
    };
    auto count = [] {
        int n = -1;
        return cudaGetDeviceCount(&n) == cudaSuccess ? n : -1;
    };
    CHECK(emu::configure("4", "8G", nullptr).empty());
    CHECK(count() == 4 && total(3) == size_t(8) << 30);
    CHECK(emu::configure(nullptr, "8G,8G,1G,8G", "") .empty());  // a list names the devices
    CHECK(count() == 4 && total(2) == size_t(1) << 30 && total(3) == size_t(8) << 30);
    CHECK(emu::configure("2", "1.5G, 512MiB", nullptr).empty());
    CHECK(total(0) == size_t(3) << 29 && total(1) == size_t(512) << 20);
    CHECK(emu::configure("", "65536,2k,3KB,1T", nullptr).empty());
    CHECK(count() == 4 && total(0) == 65536 && total(1) == 2048 && total(2) == 3072 && total(3) == size_t(1) << 40);
    CHECK(emu::configure("0", nullptr, nullptr).empty());
    CHECK(count() == -1);
    cudaGetLastError();
    CHECK(emu::configure("4", nullptr, "2:40:700, 0:0:cudaErrorLaunchFailure").empty());
    CHECK(emu::fault_pending(2) && emu::fault_pending(0) && !emu::fault_pending(1));
    float *d = dev_alloc<float>(32);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, nullptr, d, 32);  // device 0's fault fires at once
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure && emu::sticky_error(0) == cudaErrorLaunchFailure);
    CHECK(emu::fault_pending(2) && emu::sticky_error(2) == cudaSuccess);
    cudaFree(d);
    // Bad values: every call fails with cudaErrorInvalidValue, and the error string says why.
    const struct {
        const char *count, *memory, *fault, *says;
    } bad[] = {
        {"four", nullptr, nullptr, "EMU_DEVICE_COUNT='four'"},
        {"65", nullptr, nullptr, "from 0 to 64"},
        {"-1", nullptr, nullptr, "EMU_DEVICE_COUNT"},
        {nullptr, "8X", nullptr, "'8X' is not a size"},
        {nullptr, "0", nullptr, "'0' is not a size"},
        {nullptr, "8G,,8G", nullptr, "'' is not a size"},
        {"3", "8G,8G", nullptr, "lists 2 sizes but EMU_DEVICE_COUNT=3"},
        {"4", nullptr, "2:40", "malformed"},
        {"4", nullptr, "4:0:700", "device 4 does not exist (4 emulated devices)"},
        {"4", nullptr, "1:x:700", "malformed"},
        {"4", nullptr, "1:0:cudaErrorNoSuchThing", "not a CUDA error code"},
        {"4", nullptr, "1:0:700,1:5:719", "two faults"},
        {nullptr, nullptr, "1:0:700", "device 1 does not exist (1 emulated device)"},
    };
    for (const auto &b : bad) {
        const std::string why = emu::configure(b.count, b.memory, b.fault);
        CHECK_MSG(why.find(b.says) != std::string::npos, "'" << why << "' lacks '" << b.says << "'");
        int n = -1;
        void *p = nullptr;
        CHECK(cudaGetDeviceCount(&n) == cudaErrorInvalidValue && n == 0);
        CHECK(cudaMalloc(&p, 16) == cudaErrorInvalidValue);
        int v = 0;
        CHECK(cudaRuntimeGetVersion(&v) == cudaErrorInvalidValue);
        const std::string text = cudaGetErrorString(cudaErrorInvalidValue);
        CHECK_MSG(text.find("CUDA emulator configuration") != std::string::npos && text.find(b.says) != std::string::npos,
                  text);
        cudaGetLastError();
    }
    emu::reset();  // back to the environment's configuration (here: none)
    CHECK(count() == 1 && std::string(cudaGetErrorString(cudaErrorInvalidValue)) == "invalid argument");
}

// The environment is read at the first call: a child process with EMU_* set reports what it sees (main's --probe).
TEST_CASE(environment_configuration_at_start) {
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(len > 0);
    self[len] = 0;
    auto probe = [&](const std::string &env) {
        std::string out;
        FILE *f = popen(("env " + env + " '" + self + "' --probe 2>&1").c_str(), "r");
        if (!f) return out;
        char buf[512];
        while (std::fgets(buf, sizeof buf, f)) out += buf;
        pclose(f);
        return out;
    };
    std::string out = probe("EMU_DEVICE_COUNT=4 EMU_DEVICE_MEMORY=8G,8G,1G,8G EMU_FAULT=2:5:cudaErrorIllegalAddress");
    CHECK_MSG(out.find("devices 4 (cudaSuccess)") != std::string::npos, out);
    CHECK_MSG(out.find("device 2: 1073741824 bytes, fault pending") != std::string::npos, out);
    CHECK_MSG(out.find("device 3: 8589934592 bytes, no fault") != std::string::npos, out);
    out = probe("EMU_DEVICE_COUNT= EMU_DEVICE_MEMORY=2G");  // empty: unset
    CHECK_MSG(out.find("devices 1 (cudaSuccess)") != std::string::npos, out);
    CHECK_MSG(out.find("device 0: 2147483648 bytes, no fault") != std::string::npos, out);
    out = probe("EMU_DEVICE_COUNT=4 EMU_FAULT=7:1:700");
    CHECK_MSG(out.find("CUDA emulator: EMU_FAULT='7:1:700': device 7 does not exist") != std::string::npos, out);
    CHECK_MSG(out.find("devices 0 (cudaErrorInvalidValue: invalid argument (CUDA emulator configuration: EMU_FAULT") !=
                  std::string::npos,
              out);
}
