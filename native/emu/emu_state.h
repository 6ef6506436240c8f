// emu_state.h: the emulator's process-wide state shared by the runtime API (emu_runtime.cpp) and the kernel
// scheduler (emu_scheduler.cpp): error state, device memory bookkeeping, stream/event handles, and the switches the
// tests set. Inline variables and functions: one instance in the program. Internal to native/emu.
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
// 1. Errors.
constexpr size_t kDefaultMemoryLimit = size_t(8) << 30;  // small on purpose: host code that sizes pools from
                                                         // cudaMemGetInfo must not commit the test machine's RAM
constexpr size_t kSmemDefault = 48 * 1024;              // dynamic smem without cudaFuncSetAttribute
constexpr size_t kSmemOptin = 227 * 1024;               // sm_90 opt-in maximum per block
constexpr size_t kSmemPerSm = 228 * 1024;
constexpr int kRuntimeVersion = 13000;

inline std::atomic<int> g_sticky{0};
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
inline thread_local cudaError_t t_last_error = cudaSuccess;
inline thread_local int t_device = 0;

inline cudaError_t record(cudaError_t e) {
    if (e != cudaSuccess) t_last_error = e;
    return e;
}

// Every API call starts here: a sticky error answers everything; an injected error is consumed by the first call.
inline cudaError_t enter(bool needs_device = true) {
    if (int s = g_sticky.load()) return record(static_cast<cudaError_t>(s));
    if (int inj = g_injected.exchange(0)) {
        cudaError_t e = static_cast<cudaError_t>(inj);
        if (is_sticky(e)) g_sticky.store(inj);
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
    std::mutex mu;
    std::map<uintptr_t, size_t> device;  // start -> size
    std::set<void *> pinned;
    size_t device_bytes = 0;
    size_t limit = kDefaultMemoryLimit;
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
    return a >= it->first && a - it->first <= it->second && n <= it->second - (a - it->first);
}

inline bool is_device_ptr(const void *p) { return in_device(p, 1); }

// ---------------------------------------------------------------------------------------------------------------
// 3. Streams and events.
struct Handles {
    std::mutex mu;
    std::set<void *> streams, events;
    std::unordered_map<const void *, int> max_dynamic_smem;  // per kernel, from cudaFuncSetAttribute
};
inline Handles &handles() {
    static Handles *h = new Handles();
    return *h;
}
inline bool valid_stream(cudaStream_t s) {
    if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
    Handles &h = handles();
    std::lock_guard<std::mutex> lock(h.mu);
    return h.streams.count(s) != 0;
}


}  // namespace state
}  // namespace emu
