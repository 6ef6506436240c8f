// emu_state.h: the emulator's process-wide state shared by the runtime API (emu_runtime.cpp) and the kernel
// scheduler (emu_scheduler.cpp): per-device state (sticky errors, pending faults, memory limits and use), error
// state, device memory bookkeeping, stream/event handles, and the switches the tests set. Inline variables and
// functions: one instance in the program. Internal to native/emu.
#pragma once
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "cuda_emu.h"

namespace emu {
namespace state {

// ---------------------------------------------------------------------------------------------------------------
// 1. Devices and errors.
constexpr size_t kDefaultMemoryLimit = size_t(8) << 30;  // small on purpose: host code that sizes pools from
                                                         // cudaMemGetInfo must not commit the test machine's RAM
constexpr size_t kSmemDefault = 48 * 1024;              // dynamic smem without cudaFuncSetAttribute
constexpr size_t kSmemOptin = 227 * 1024;               // sm_90 opt-in maximum per block
constexpr size_t kSmemPerSm = 228 * 1024;
constexpr int kRuntimeVersion = 13000;

constexpr int kMaxDevices = 64;  // devices the emulator can show (set_device_count and EMU_DEVICE_COUNT clamp or refuse)

// Per emulated device: what a CUDA context owns. A sticky error belongs to one device's context (a fault on device 1
// poisons device 1's calls only); a pending fault counts that device's launches. Memory is in MemoryState below.
struct DeviceState {
    std::atomic<int> sticky{0};
    std::atomic<unsigned long long> launches{0};  // launches that ran on this device
    // Fault injection (inject_error(device, e, n) / EMU_FAULT): fault_code != 0 is armed; fault_after launches still
    // run before the one that fails. Guarded by fault_mu (decrement-and-test must be one step per launch).
    std::mutex fault_mu;
    int fault_code = 0;
    unsigned long long fault_after = 0;
};
inline DeviceState *devices() {
    static DeviceState *d = new DeviceState[kMaxDevices];  // never destroyed: usable from static destructors
    return d;
}

inline std::atomic<int> g_injected{0};
inline std::atomic<int> g_device_count{1};
inline std::atomic<bool> g_poison{true};
inline std::atomic<bool> g_reverse{[] {
    const char *v = std::getenv("EMU_REVERSE");
    return v && *v && *v != '0';
}()};
inline std::atomic<bool> g_strict{[] {
    const char *v = std::getenv("EMU_STRICT");
    return v && *v && *v != '0';
}()};
inline std::atomic<unsigned long long> g_launches{0};
// A configuration error (a bad EMU_DEVICE_* / EMU_FAULT value, or a bad emu::configure() call): every CUDA call
// then fails with cudaErrorInvalidValue, and cudaGetErrorString(cudaErrorInvalidValue) carries the message.
inline std::atomic<bool> g_config_bad{false};
inline thread_local cudaError_t t_last_error = cudaSuccess;
inline thread_local int t_device = 0;  // cudaSetDevice is per host thread, as in CUDA; a new thread starts on 0

// Applies the environment configuration (EMU_DEVICE_COUNT, EMU_DEVICE_MEMORY, EMU_FAULT) the first time anything
// in the emulator runs (emu_runtime.cpp). Cheap after the first call.
void ensure_started();

inline cudaError_t record(cudaError_t e) {
    if (e != cudaSuccess) t_last_error = e;
    return e;
}

inline int sticky_of(int device) {
    return device >= 0 && device < kMaxDevices ? devices()[device].sticky.load() : 0;
}

// Every API call starts here: a bad configuration fails everything; the current device's sticky error answers
// everything on that device (context_call = false for calls that are not made in a context: cudaSetDevice,
// cudaGetDevice, which work whatever state the previously current device is in); an injected error is consumed by
// the first call (a sticky one then stays on the calling thread's current device).
inline cudaError_t enter(bool needs_device = true, bool context_call = true) {
    ensure_started();
    if (g_config_bad.load()) return record(cudaErrorInvalidValue);
    if (context_call)
        if (int s = sticky_of(t_device)) return record(static_cast<cudaError_t>(s));
    if (int inj = g_injected.exchange(0)) {
        cudaError_t e = static_cast<cudaError_t>(inj);
        if (is_sticky(e)) devices()[t_device].sticky.store(inj);
        return record(e);
    }
    if (needs_device && g_device_count.load() <= 0) return record(cudaErrorNoDevice);
    return cudaSuccess;
}
#define EMU_ENTER(...)                                        \
    do {                                                      \
        if (cudaError_t e_ = enter(__VA_ARGS__)) return e_;   \
    } while (0)

// ---------------------------------------------------------------------------------------------------------------
// 2. Memory.
struct MemoryState {
    struct Allocation {
        size_t size;
        int device;  // charged to the device that was current when it was allocated
    };
    std::mutex mu;
    std::map<uintptr_t, Allocation> device;  // start -> allocation
    std::set<void *> pinned;
    size_t device_bytes = 0;                       // all devices (live_device_bytes())
    size_t bytes[kMaxDevices] = {};                // per device, rounded as charged
    size_t limit[kMaxDevices];                     // per device
    MemoryState() {
        for (size_t &l : limit) l = kDefaultMemoryLimit;
    }
};
inline MemoryState &mem() {
    static MemoryState *m = new MemoryState();  // never destroyed: usable from static destructors of callers
    return *m;
}

// Is [p, p+n) inside one live device allocation?
inline bool in_device(const void *p, size_t n) {
    MemoryState &m = mem();
    std::lock_guard<std::mutex> lock(m.mu);
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = m.device.upper_bound(a);
    if (it == m.device.begin()) return false;
    --it;
    const size_t size = it->second.size;
    return a >= it->first && a - it->first <= size && n <= size - (a - it->first);
}

inline bool is_device_ptr(const void *p) { return in_device(p, 1); }

// ---------------------------------------------------------------------------------------------------------------
// 3. Streams and events. Each remembers the device that was current when it was created (CUstream_st /
// CUevent_st in emu_runtime.cpp); the default streams (null, legacy, per-thread) are the current device's.
struct Handles {
    std::mutex mu;
    std::unordered_map<void *, int> streams, events;  // handle -> device
    std::unordered_map<const void *, int> max_dynamic_smem;  // per kernel, from cudaFuncSetAttribute
};
inline Handles &handles() {
    static Handles *h = new Handles();
    return *h;
}
inline bool is_default_stream(cudaStream_t s) {
    return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread;
}
// The device of a stream (the current device for the default streams); false for an unknown handle.
inline bool stream_device(cudaStream_t s, int *device) {
    if (is_default_stream(s)) {
        *device = t_device;
        return true;
    }
    Handles &h = handles();
    std::lock_guard<std::mutex> lock(h.mu);
    auto it = h.streams.find(s);
    if (it == h.streams.end()) return false;
    *device = it->second;
    return true;
}
inline bool valid_stream(cudaStream_t s) {
    int d;
    return stream_device(s, &d);
}
// For calls that take a stream: an unknown handle is cudaErrorInvalidResourceHandle; a stream of a device whose
// context has a sticky error answers with that error (the work would run in that context), as CUDA does.
inline cudaError_t check_stream(cudaStream_t s) {
    int d;
    if (!stream_device(s, &d)) return record(cudaErrorInvalidResourceHandle);
    if (int st = sticky_of(d)) return record(static_cast<cudaError_t>(st));
    return cudaSuccess;
}

}  // namespace state
}  // namespace emu
