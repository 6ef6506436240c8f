// emu_runtime.cpp: the CUDA emulator's runtime (see cuda_emu.h for the model, README.md for what it proves).
//   1. error state (last error per host thread, sticky context errors, injected errors)
//   2. device memory bookkeeping (limit, live allocations, range checks of copies)
//   3. streams and events (synchronous; events keep a host timestamp)
//   4. kernel execution: one fiber per CUDA thread, a round-robin scheduler per block, barriers and warp
//      collectives as rendezvous
#include "cuda_emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

// Built-in variables (declared in cuda_emu.h).
uint3 threadIdx = {0, 0, 0};
uint3 blockIdx = {0, 0, 0};
dim3 blockDim = dim3(1, 1, 1);
dim3 gridDim = dim3(1, 1, 1);

namespace emu {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// 1. Errors.
constexpr size_t kDefaultMemoryLimit = size_t(8) << 30;  // small on purpose: host code that sizes pools from
                                                         // cudaMemGetInfo must not commit the test machine's RAM
constexpr size_t kSmemDefault = 48 * 1024;              // dynamic smem without cudaFuncSetAttribute
constexpr size_t kSmemOptin = 227 * 1024;               // sm_90 opt-in maximum per block
constexpr size_t kSmemPerSm = 228 * 1024;
constexpr int kRuntimeVersion = 13000;

std::atomic<int> g_sticky{0};
std::atomic<int> g_injected{0};
std::atomic<int> g_device_count{1};
std::atomic<bool> g_poison{true};
std::atomic<bool> g_reverse{[] {
    const char *v = std::getenv("EMU_REVERSE");
    return v && *v && *v != '0';
}()};
std::atomic<bool> g_strict{[] {
    const char *v = std::getenv("EMU_STRICT");
    return v && *v && *v != '0';
}()};
std::atomic<unsigned long long> g_launches{0};
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

cudaError_t record(cudaError_t e) {
    if (e != cudaSuccess) t_last_error = e;
    return e;
}

// Every API call starts here: a sticky error answers everything; an injected error is consumed by the first call.
cudaError_t enter(bool needs_device = true) {
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
MemoryState &mem() {
    static MemoryState *m = new MemoryState();  // never destroyed: usable from static destructors of callers
    return *m;
}

// Is [p, p+n) inside one live device allocation?
bool in_device(const void *p, size_t n) {
    MemoryState &m = mem();
    std::lock_guard<std::mutex> lock(m.mu);
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = m.device.upper_bound(a);
    if (it == m.device.begin()) return false;
    --it;
    return a >= it->first && a - it->first <= it->second && n <= it->second - (a - it->first);
}

bool is_device_ptr(const void *p) { return in_device(p, 1); }

// ---------------------------------------------------------------------------------------------------------------
// 3. Streams and events.
struct Handles {
    std::mutex mu;
    std::set<void *> streams, events;
    std::unordered_map<const void *, int> max_dynamic_smem;  // per kernel, from cudaFuncSetAttribute
};
Handles &handles() {
    static Handles *h = new Handles();
    return *h;
}
bool valid_stream(cudaStream_t s) {
    if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
    Handles &h = handles();
    std::lock_guard<std::mutex> lock(h.mu);
    return h.streams.count(s) != 0;
}

}  // namespace
}  // namespace emu

struct CUstream_st {
    unsigned flags;
};
struct CUevent_st {
    unsigned flags;
    bool recorded;
    std::chrono::steady_clock::time_point when;
};

namespace emu {
namespace {
CUevent_st *find_event(cudaEvent_t e) {
    Handles &h = handles();
    std::lock_guard<std::mutex> lock(h.mu);
    return h.events.count(e) ? e : nullptr;
}
}  // namespace

bool is_sticky(cudaError_t e) {
    switch (e) {
        case cudaErrorECCUncorrectable:
        case cudaErrorIllegalAddress:
        case cudaErrorLaunchTimeout:
        case cudaErrorAssert:
        case cudaErrorHardwareStackError:
        case cudaErrorIllegalInstruction:
        case cudaErrorMisalignedAddress:
        case cudaErrorInvalidAddressSpace:
        case cudaErrorInvalidPc:
        case cudaErrorLaunchFailure:
            return true;
        default:
            return false;
    }
}

void set_device_count(int n) { g_device_count.store(n); }
void set_memory_limit(size_t bytes) {
    std::lock_guard<std::mutex> lock(mem().mu);
    mem().limit = bytes;
}
void inject_error(cudaError_t e) { g_injected.store(e); }
void set_poison(bool on) { g_poison.store(on); }
void set_strict(bool on) { g_strict.store(on); }
void set_reverse_order(bool on) { g_reverse.store(on); }
void reset() {
    g_sticky.store(0);
    g_injected.store(0);
    g_device_count.store(1);
    t_last_error = cudaSuccess;
    set_memory_limit(kDefaultMemoryLimit);
    std::lock_guard<std::mutex> lock(handles().mu);
    handles().max_dynamic_smem.clear();
}
size_t live_allocations() {
    std::lock_guard<std::mutex> lock(mem().mu);
    return mem().device.size() + mem().pinned.size();
}
size_t live_device_bytes() {
    std::lock_guard<std::mutex> lock(mem().mu);
    return mem().device_bytes;
}
int live_streams() {
    std::lock_guard<std::mutex> lock(handles().mu);
    return static_cast<int>(handles().streams.size());
}
int live_events() {
    std::lock_guard<std::mutex> lock(handles().mu);
    return static_cast<int>(handles().events.size());
}
unsigned long long launches() { return g_launches.load(); }

}  // namespace emu

// ---------------------------------------------------------------------------------------------------------------
// Runtime API.
using emu::enter;
using emu::record;

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return record(cudaErrorInvalidValue);
    *count = 0;
    EMU_ENTER(false);
    int n = emu::g_device_count.load();
    if (n <= 0) return record(cudaErrorNoDevice);
    *count = n;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    EMU_ENTER();
    if (device < 0 || device >= emu::g_device_count.load()) return record(cudaErrorInvalidDevice);
    emu::t_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    EMU_ENTER();
    if (!device) return record(cudaErrorInvalidValue);
    *device = emu::t_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    EMU_ENTER();
    if (!p) return record(cudaErrorInvalidValue);
    if (device < 0 || device >= emu::g_device_count.load()) return record(cudaErrorInvalidDevice);
    std::memset(p, 0, sizeof(*p));
    std::snprintf(p->name, sizeof(p->name), "CUDA emulator (CPU)");
    {
        std::lock_guard<std::mutex> lock(emu::mem().mu);
        p->totalGlobalMem = emu::mem().limit;
    }
    p->sharedMemPerBlock = emu::kSmemDefault;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->memPitch = size_t(1) << 31;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024;
    p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->totalConstMem = 65536;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    p->canMapHostMemory = 1;
    p->concurrentKernels = 1;
    p->asyncEngineCount = 2;
    p->unifiedAddressing = 1;
    p->memoryBusWidth = 5120;
    p->l2CacheSize = 50 * 1024 * 1024;
    p->persistingL2CacheMaxSize = 32 * 1024 * 1024;
    p->maxThreadsPerMultiProcessor = 2048;
    p->sharedMemPerMultiprocessor = emu::kSmemPerSm;
    p->regsPerMultiprocessor = 65536;
    p->managedMemory = 1;
    p->cooperativeLaunch = 1;
    p->sharedMemPerBlockOptin = emu::kSmemOptin;
    p->maxBlocksPerMultiProcessor = 32;
    p->reservedSharedMemPerBlock = 1024;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    EMU_ENTER();
    if (!value) return record(cudaErrorInvalidValue);
    if (device < 0 || device >= emu::g_device_count.load()) return record(cudaErrorInvalidDevice);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(emu::kSmemDefault); break;
        case cudaDevAttrWarpSize: *value = 32; break;
        case cudaDevAttrMultiProcessorCount: *value = 132; break;
        case cudaDevAttrL2CacheSize: *value = 50 * 1024 * 1024; break;
        case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
        case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
        case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(emu::kSmemPerSm); break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(emu::kSmemOptin); break;
        default: return record(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    EMU_ENTER();
    if (!free_bytes || !total_bytes) return record(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(emu::mem().mu);
    *total_bytes = emu::mem().limit;
    *free_bytes = emu::mem().limit > emu::mem().device_bytes ? emu::mem().limit - emu::mem().device_bytes : 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t size) {
    EMU_ENTER();
    if (!ptr) return record(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (size == 0) return cudaSuccess;  // as the real runtime: success, null pointer
    size_t rounded = (size + 255) & ~size_t(255);
    emu::MemoryState &m = emu::mem();
    {
        std::lock_guard<std::mutex> lock(m.mu);
        if (rounded < size || m.device_bytes + rounded > m.limit || m.device_bytes + rounded < m.device_bytes)
            return record(cudaErrorMemoryAllocation);
    }
    void *p = nullptr;
    if (posix_memalign(&p, 256, rounded) != 0 || !p) return record(cudaErrorMemoryAllocation);  // 256: as cudaMalloc
    // Fresh device memory holds garbage on a GPU; 0xff bytes (NaN in fp32 and bf16) make reads of never-written
    // memory visible in test results. Huge allocations are left alone so that they are not committed.
    if (emu::g_poison.load() && rounded <= (size_t(256) << 20)) std::memset(p, 0xff, rounded);
    std::lock_guard<std::mutex> lock(m.mu);
    m.device[reinterpret_cast<uintptr_t>(p)] = size;
    m.device_bytes += rounded;
    *ptr = p;
    return cudaSuccess;
}

// The release functions (cudaFree, cudaFreeHost, cudaStreamDestroy, cudaEventDestroy) report a pending or sticky
// error like every call, but still release a valid handle: after a failure the backend's cleanup path must free
// everything, and leak tests check that with live_allocations() without losing the pointers to a dead context.
cudaError_t cudaFree(void *ptr) {
    const cudaError_t pending = enter();
    if (!ptr) return pending;
    emu::MemoryState &m = emu::mem();
    {
        std::lock_guard<std::mutex> lock(m.mu);
        auto it = m.device.find(reinterpret_cast<uintptr_t>(ptr));
        if (it == m.device.end()) return pending ? pending : record(cudaErrorInvalidValue);
        m.device_bytes -= (it->second + 255) & ~size_t(255);
        m.device.erase(it);
    }
    std::free(ptr);
    return pending;
}

cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags) {
    EMU_ENTER();
    if (!ptr || (flags & ~0x0fu)) return record(cudaErrorInvalidValue);
    *ptr = nullptr;
    void *p = nullptr;
    if (posix_memalign(&p, 4096, size ? size : 1) != 0 || !p) return record(cudaErrorMemoryAllocation);
    std::lock_guard<std::mutex> lock(emu::mem().mu);
    emu::mem().pinned.insert(p);
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **ptr, size_t size) { return cudaHostAlloc(ptr, size, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void *ptr) {
    const cudaError_t pending = enter();
    if (!ptr) return pending;
    {
        std::lock_guard<std::mutex> lock(emu::mem().mu);
        if (!emu::mem().pinned.erase(ptr)) return pending ? pending : record(cudaErrorInvalidValue);
    }
    std::free(ptr);
    return pending;
}

namespace {
// Device-side ranges of a copy must lie inside one live cudaMalloc allocation: this finds out-of-bounds copies and
// wrong directions, which a GPU reports as cudaErrorInvalidValue or not at all.
cudaError_t check_copy(void *dst, const void *src, size_t count, cudaMemcpyKind kind) {
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return cudaErrorInvalidMemcpyDirection;
    if (count == 0) return cudaSuccess;
    if (!dst || !src) return cudaErrorInvalidValue;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {  // inferred from the pointers, as with unified addressing
        dst_dev = emu::is_device_ptr(dst);
        src_dev = emu::is_device_ptr(src);
    }
    if (dst_dev && !emu::in_device(dst, count)) return cudaErrorInvalidValue;
    if (src_dev && !emu::in_device(src, count)) return cudaErrorInvalidValue;
    return cudaSuccess;
}
}  // namespace

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind) {
    EMU_ENTER();
    if (cudaError_t e = check_copy(dst, src, count, kind)) return record(e);
    if (count) std::memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
    EMU_ENTER();
    if (!emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (cudaError_t e = check_copy(dst, src, count, kind)) return record(e);
    if (count) std::memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
    EMU_ENTER();
    if (!emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (width > dpitch || width > spitch) return record(cudaErrorInvalidPitchValue);
    if (height == 0 || width == 0) return cudaSuccess;
    size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
    if (cudaError_t e = check_copy(dst, src, dspan < sspan ? dspan : sspan, kind)) return record(e);
    if (cudaError_t e = check_copy(dst, src, 1, kind)) return record(e);
    // Check both spans separately (their lengths differ when the pitches do).
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice ||
                   (kind == cudaMemcpyDefault && emu::is_device_ptr(dst));
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice ||
                   (kind == cudaMemcpyDefault && emu::is_device_ptr(src));
    if ((dst_dev && !emu::in_device(dst, dspan)) || (src_dev && !emu::in_device(src, sspan)))
        return record(cudaErrorInvalidValue);
    for (size_t r = 0; r < height; ++r)
        std::memmove(static_cast<char *>(dst) + r * dpitch, static_cast<const char *>(src) + r * spitch, width);
    return cudaSuccess;
}

cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
    return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream) {
    EMU_ENTER();
    if (!emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (count == 0) return cudaSuccess;
    if (!emu::in_device(ptr, count)) return record(cudaErrorInvalidValue);
    std::memset(ptr, value, count);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t count) { return cudaMemsetAsync(ptr, value, count, nullptr); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
    EMU_ENTER();
    if (!stream || flags > 1) return record(cudaErrorInvalidValue);
    CUstream_st *s = new CUstream_st{flags};
    std::lock_guard<std::mutex> lock(emu::handles().mu);
    emu::handles().streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    const cudaError_t pending = enter();
    {
        std::lock_guard<std::mutex> lock(emu::handles().mu);
        if (!emu::handles().streams.erase(stream)) return pending ? pending : record(cudaErrorInvalidResourceHandle);
    }
    delete stream;
    return pending;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    EMU_ENTER();
    if (!emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
    EMU_ENTER();
    if (!emu::valid_stream(stream) || !emu::find_event(event)) return record(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
    EMU_ENTER();
    if (!event || (flags & ~0x07u)) return record(cudaErrorInvalidValue);
    CUevent_st *e = new CUevent_st{flags, false, {}};
    std::lock_guard<std::mutex> lock(emu::handles().mu);
    emu::handles().events.insert(e);
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    EMU_ENTER();
    CUevent_st *e = emu::find_event(event);
    if (!e || !emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    e->recorded = true;
    e->when = std::chrono::steady_clock::now();  // all earlier work is done: it ran synchronously
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    EMU_ENTER();
    if (!emu::find_event(event)) return record(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    EMU_ENTER();
    if (!ms) return record(cudaErrorInvalidValue);
    CUevent_st *a = emu::find_event(start), *b = emu::find_event(end);
    if (!a || !b) return record(cudaErrorInvalidResourceHandle);
    if ((a->flags | b->flags) & cudaEventDisableTiming) return record(cudaErrorInvalidResourceHandle);
    if (!a->recorded || !b->recorded) return record(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    const cudaError_t pending = enter();
    {
        std::lock_guard<std::mutex> lock(emu::handles().mu);
        if (!emu::handles().events.erase(event)) return pending ? pending : record(cudaErrorInvalidResourceHandle);
    }
    delete event;
    return pending;
}

cudaError_t cudaDeviceSynchronize() {
    EMU_ENTER();
    return cudaSuccess;
}

cudaError_t cudaDeviceReset() {
    // Destroys the context: its errors go with it (allocations are not freed here; tests check them).
    emu::g_sticky.store(0);
    emu::t_last_error = cudaSuccess;
    return cudaSuccess;
}

cudaError_t cudaGetLastError() {
    cudaError_t e = emu::t_last_error;
    emu::t_last_error = cudaSuccess;
    if (e == cudaSuccess) e = static_cast<cudaError_t>(emu::g_sticky.load());
    return e;
}

cudaError_t cudaPeekAtLastError() {
    cudaError_t e = emu::t_last_error;
    if (e == cudaSuccess) e = static_cast<cudaError_t>(emu::g_sticky.load());
    return e;
}

const char *cudaGetErrorName(cudaError_t error) {
    switch (error) {
#define EMU_NAME(x) \
    case x: return #x;
        EMU_NAME(cudaSuccess)
        EMU_NAME(cudaErrorInvalidValue)
        EMU_NAME(cudaErrorMemoryAllocation)
        EMU_NAME(cudaErrorInitializationError)
        EMU_NAME(cudaErrorCudartUnloading)
        EMU_NAME(cudaErrorInvalidConfiguration)
        EMU_NAME(cudaErrorInvalidPitchValue)
        EMU_NAME(cudaErrorInvalidSymbol)
        EMU_NAME(cudaErrorInvalidDevicePointer)
        EMU_NAME(cudaErrorInvalidMemcpyDirection)
        EMU_NAME(cudaErrorInsufficientDriver)
        EMU_NAME(cudaErrorInvalidDeviceFunction)
        EMU_NAME(cudaErrorNoDevice)
        EMU_NAME(cudaErrorInvalidDevice)
        EMU_NAME(cudaErrorNoKernelImageForDevice)
        EMU_NAME(cudaErrorECCUncorrectable)
        EMU_NAME(cudaErrorInvalidResourceHandle)
        EMU_NAME(cudaErrorNotReady)
        EMU_NAME(cudaErrorIllegalAddress)
        EMU_NAME(cudaErrorLaunchOutOfResources)
        EMU_NAME(cudaErrorLaunchTimeout)
        EMU_NAME(cudaErrorAssert)
        EMU_NAME(cudaErrorHardwareStackError)
        EMU_NAME(cudaErrorIllegalInstruction)
        EMU_NAME(cudaErrorMisalignedAddress)
        EMU_NAME(cudaErrorInvalidAddressSpace)
        EMU_NAME(cudaErrorInvalidPc)
        EMU_NAME(cudaErrorLaunchFailure)
        EMU_NAME(cudaErrorNotSupported)
        EMU_NAME(cudaErrorUnknown)
#undef EMU_NAME
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
        case cudaErrorMisalignedAddress: return "misaligned address";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
        case cudaErrorNotSupported: return "operation not supported";
        default: return cudaGetErrorName(error);
    }
}

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value) {
    EMU_ENTER();
    if (!func) return record(cudaErrorInvalidDeviceFunction);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || static_cast<size_t>(value) > emu::kSmemOptin) return record(cudaErrorInvalidValue);
        std::lock_guard<std::mutex> lock(emu::handles().mu);
        emu::handles().max_dynamic_smem[func] = value;
        return cudaSuccess;
    }
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) {
        if (value < -1 || value > 100) return record(cudaErrorInvalidValue);
        return cudaSuccess;
    }
    return record(cudaErrorInvalidValue);
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num_blocks, const void *func, int block_size,
                                                          size_t dynamic_smem) {
    EMU_ENTER();
    if (!num_blocks || block_size <= 0 || block_size > 1024) return record(cudaErrorInvalidValue);
    int by_threads = 2048 / (((block_size + 31) / 32) * 32);
    int by_smem = static_cast<int>(emu::kSmemPerSm / (dynamic_smem + 1024));
    int n = by_threads < by_smem ? by_threads : by_smem;
    *num_blocks = n < 32 ? n : 32;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version) {
    EMU_ENTER(false);
    if (!version) return record(cudaErrorInvalidValue);
    *version = emu::kRuntimeVersion;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version) {
    EMU_ENTER(false);
    if (!version) return record(cudaErrorInvalidValue);
    *version = emu::kRuntimeVersion;
    return cudaSuccess;
}

long long clock64() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Kernel execution.
//
// Context switch. On x86-64 a fiber switch saves the callee-saved registers, MXCSR and the x87 control word on the
// old stack and restores them from the new one: about a dozen instructions and no system call (swapcontext saves
// the signal mask with a syscall on every switch, which made barrier-heavy kernels ~50x slower). Other
// architectures fall back to ucontext.
#if defined(__x86_64__)
extern "C" void reasonir_emu_switch(void **save_sp, void *load_sp);
extern "C" void reasonir_emu_entry();
asm(R"(
    .text
    .globl reasonir_emu_switch
    .hidden reasonir_emu_switch
    .type reasonir_emu_switch, @function
    .p2align 4
reasonir_emu_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size reasonir_emu_switch, .-reasonir_emu_switch

    .globl reasonir_emu_entry
    .hidden reasonir_emu_entry
    .type reasonir_emu_entry, @function
    .p2align 4
reasonir_emu_entry:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size reasonir_emu_entry, .-reasonir_emu_entry
)");
#endif

namespace emu {
namespace detail {
namespace {

struct Fiber;
void fiber_main(Fiber *f);

enum class State : uint8_t { Ready, Barrier, Warp, Done };

struct Fiber {
#if defined(__x86_64__)
    void *sp = nullptr;
#else
    ucontext_t uc;
#endif
    char *stack = nullptr;  // lowest usable byte
    uint3 tid{0, 0, 0};
    unsigned warp = 0, lane = 0;
    State state = State::Ready;
    int barrier_result = 0;  // __syncthreads_count/and/or result, written by the releasing thread
};

struct Warp {
    uint32_t exists = 0;   // lanes present in the block (a partial last warp has fewer than 32)
    uint32_t live = 0;     // lanes that have not returned
    uint32_t arrived = 0;  // lanes waiting in the pending collective
    uint32_t mask = 0;     // its member mask (first arrival's)
    CollectiveOp op = nullptr;
    const void *in[32];
    void *out[32];
    unsigned fiber[32];    // lane -> fiber index
};

struct Scheduler {
    // Stacks: one mapping, a PROT_NONE guard page below each stack so an overflow faults instead of corrupting
    // the neighbour. Mapped lazily with MAP_NORESERVE and reused by every launch.
    char *region = nullptr;
    size_t region_bytes = 0, stack_bytes = 0, capacity = 0;

    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    std::vector<unsigned> queue;  // ring of ready fibers; each fiber is in it at most once
    size_t q_head = 0, q_size = 0;
    unsigned current = 0;
    unsigned live = 0;
    unsigned barrier_arrived = 0;
    int barrier_sum = 0;
    std::vector<unsigned> barrier_waiters;
    const LaunchSpec *spec = nullptr;
    void *smem = nullptr;
#if defined(__x86_64__)
    void *sched_sp = nullptr;
    uint32_t mxcsr = 0x1f80;
    uint16_t fpucw = 0x037f;
#else
    ucontext_t sched_uc;
#endif

    void push(unsigned i) {
        queue[(q_head + q_size) % queue.size()] = i;
        ++q_size;
    }
    unsigned pop() {
        unsigned i = queue[q_head];
        q_head = (q_head + 1) % queue.size();
        --q_size;
        return i;
    }
};

Scheduler g_sched;
std::mutex g_launch_mutex;  // __shared__ statics and the scheduler are process-wide: one launch at a time
bool g_in_kernel = false;

void ensure_stacks(size_t n) {
    Scheduler &s = g_sched;
    if (n <= s.capacity) return;
    if (s.region) munmap(s.region, s.region_bytes);
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t kb = 256;
    if (const char *env = std::getenv("EMU_STACK_KB")) kb = std::strtoul(env, nullptr, 10) ? std::strtoul(env, nullptr, 10) : kb;
    s.stack_bytes = ((kb * 1024 + page - 1) / page) * page;
    size_t slot = s.stack_bytes + page;
    s.region_bytes = slot * n;
    void *r = mmap(nullptr, s.region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) fatal("cannot map %zu bytes of fiber stacks", s.region_bytes);
    s.region = static_cast<char *>(r);
    for (size_t i = 0; i < n; ++i) mprotect(s.region + i * slot, page, PROT_NONE);
    s.capacity = n;
}

#if !defined(__x86_64__)
void fiber_trampoline() { fiber_main(&g_sched.fibers[g_sched.current]); }
#endif

char *stack_of(size_t i) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return g_sched.region + i * (g_sched.stack_bytes + page) + page;
}

void init_fiber(Fiber &f, size_t index) {
    f.stack = stack_of(index);
#if defined(__x86_64__)
    // Initial frame, as reasonir_emu_switch leaves one: [mxcsr|fpucw] r15 r14 r13 r12 rbx rbp ret. `ret` enters
    // reasonir_emu_entry with rsp 16-byte aligned, which calls fiber_main(r12) through r13.
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + g_sched.stack_bytes) & ~uintptr_t(15);
    uint64_t *sp = reinterpret_cast<uint64_t *>(top - 64 - 16);
    uint32_t ctl[2] = {g_sched.mxcsr, g_sched.fpucw};
    std::memcpy(&sp[0], ctl, 8);
    sp[1] = 0;                                             // r15
    sp[2] = 0;                                             // r14
    sp[3] = reinterpret_cast<uint64_t>(&fiber_main);       // r13
    sp[4] = reinterpret_cast<uint64_t>(&f);                // r12
    sp[5] = 0;                                             // rbx
    sp[6] = 0;                                             // rbp
    sp[7] = reinterpret_cast<uint64_t>(&reasonir_emu_entry);
    f.sp = sp;
#else
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = f.stack;
    f.uc.uc_stack.ss_size = g_sched.stack_bytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, reinterpret_cast<void (*)()>(&fiber_trampoline), 0);
#endif
}

// Fiber -> scheduler.
void yield_to_scheduler() {
    Fiber &f = g_sched.fibers[g_sched.current];
#if defined(__x86_64__)
    reasonir_emu_switch(&f.sp, g_sched.sched_sp);
#else
    swapcontext(&f.uc, &g_sched.sched_uc);
#endif
}

// Scheduler -> fiber i.
void resume(unsigned i) {
    Scheduler &s = g_sched;
    s.current = i;
    threadIdx = s.fibers[i].tid;
#if defined(__x86_64__)
    reasonir_emu_switch(&s.sched_sp, s.fibers[i].sp);
#else
    swapcontext(&s.sched_uc, &s.fibers[i].uc);
#endif
}

void release_barrier(int self) {
    Scheduler &s = g_sched;
    for (unsigned i : s.barrier_waiters) {
        Fiber &w = s.fibers[i];
        w.barrier_result = s.barrier_sum;
        w.state = State::Ready;
        s.push(i);
    }
    if (self >= 0) s.fibers[self].barrier_result = s.barrier_sum;
    s.barrier_waiters.clear();
    s.barrier_arrived = 0;
    s.barrier_sum = 0;
}

// Completes the warp's pending collective if every lane that must take part has arrived. `self` is the calling
// lane (it continues without a switch) or -1 when called on a thread's exit.
bool try_complete(Warp &w, int self) {
    if (w.arrived == 0) return false;
    uint32_t need = w.mask & w.live;
    if ((w.arrived & need) != need) return false;
    uint32_t participants = w.arrived;
    const void *in[32];
    void *out[32];
    for (int l = 0; l < 32; ++l) {
        bool p = (participants >> l) & 1u;
        in[l] = p ? w.in[l] : nullptr;
        out[l] = p ? w.out[l] : nullptr;
    }
    CollectiveOp op = w.op;
    w.arrived = 0;
    w.op = nullptr;
    op(in, out, participants);
    for (int l = 0; l < 32; ++l) {
        if (!((participants >> l) & 1u) || l == self) continue;
        Fiber &f = g_sched.fibers[w.fiber[l]];
        f.state = State::Ready;
        g_sched.push(w.fiber[l]);
    }
    return true;
}

void on_exit() {
    Scheduler &s = g_sched;
    Fiber &f = s.fibers[s.current];
    f.state = State::Done;
    --s.live;
    Warp &w = s.warps[f.warp];
    w.live &= ~(1u << f.lane);
    // A thread that returned counts as arrived at the block barrier and no longer takes part in warp collectives.
    if (s.barrier_arrived > 0 && s.barrier_arrived == s.live) release_barrier(-1);
    try_complete(w, -1);
}

void fiber_main(Fiber *f) {
    (void)f;
    try {
        g_sched.spec->invoke(g_sched.spec->ctx);
    } catch (const std::exception &e) {
        fatal("kernel threw an exception: %s", e.what());
    } catch (...) {
        fatal("kernel threw an exception");
    }
    on_exit();
    yield_to_scheduler();  // never resumed
    __builtin_trap();
}

const char *state_name(State st) {
    switch (st) {
        case State::Ready: return "ready";
        case State::Barrier: return "__syncthreads";
        case State::Warp: return "warp collective";
        case State::Done: return "returned";
    }
    return "?";
}

[[noreturn]] void deadlock(size_t nthreads) {
    Scheduler &s = g_sched;
    std::fprintf(stderr,
                 "cuda emulator: deadlock in block (%u,%u,%u): %u threads still running, none can proceed "
                 "(%zu at __syncthreads)\n",
                 blockIdx.x, blockIdx.y, blockIdx.z, s.live, s.barrier_waiters.size());
    // A few threads of each waiting kind: enough to see which branch each group took.
    for (State st : {State::Barrier, State::Warp}) {
        int shown = 0;
        for (size_t i = 0; i < nthreads && shown < 4; ++i) {
            const Fiber &f = s.fibers[i];
            if (f.state != st) continue;
            std::fprintf(stderr, "  thread (%u,%u,%u) warp %u lane %u: waiting in %s\n", f.tid.x, f.tid.y, f.tid.z,
                         f.warp, f.lane, state_name(f.state));
            ++shown;
        }
    }
    for (size_t wi = 0; wi < s.warps.size(); ++wi) {
        const Warp &w = s.warps[wi];
        if (w.arrived)
            std::fprintf(stderr, "  warp %zu: collective mask 0x%08x, arrived 0x%08x, live 0x%08x\n", wi, w.mask,
                         w.arrived, w.live);
    }
    std::abort();
}

void run_block(const LaunchSpec &spec, size_t nthreads) {
    Scheduler &s = g_sched;
    unsigned bx = spec.block.x, by = spec.block.y;
    size_t nwarps = (nthreads + 31) / 32;
    s.warps.assign(nwarps, Warp());
    for (size_t i = 0; i < nthreads; ++i) {
        Fiber &f = s.fibers[i];
        unsigned lin = static_cast<unsigned>(i);
        f.tid = uint3{lin % bx, (lin / bx) % by, lin / (bx * by)};
        f.warp = lin / 32;
        f.lane = lin % 32;
        f.state = State::Ready;
        f.barrier_result = 0;
        init_fiber(f, i);
        Warp &w = s.warps[f.warp];
        w.exists |= 1u << f.lane;
        w.live |= 1u << f.lane;
        w.fiber[f.lane] = lin;
    }
    s.q_head = 0;
    s.q_size = 0;
    // Threads start in index order, or reversed: a kernel that lacks a barrier between writing shared memory and
    // reading another thread's value usually fails in one of the two orders.
    const bool reverse = g_reverse.load();
    for (size_t i = 0; i < nthreads; ++i) s.push(static_cast<unsigned>(reverse ? nthreads - 1 - i : i));
    s.live = static_cast<unsigned>(nthreads);
    s.barrier_arrived = 0;
    s.barrier_sum = 0;
    s.barrier_waiters.clear();
    if (s.smem && g_poison.load()) std::memset(s.smem, 0xff, spec.smem);
    while (s.q_size) resume(s.pop());
    if (s.live) deadlock(nthreads);
}

}  // namespace

void fatal(const char *fmt, ...) {
    std::fprintf(stderr, "cuda emulator: ");
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (g_in_kernel) {
        const Fiber &f = g_sched.fibers[g_sched.current];
        std::fprintf(stderr, " (block (%u,%u,%u), thread (%u,%u,%u))", blockIdx.x, blockIdx.y, blockIdx.z, f.tid.x,
                     f.tid.y, f.tid.z);
    }
    std::fprintf(stderr, "\n");
    std::abort();
}

unsigned lane_id() { return g_sched.fibers[g_sched.current].lane; }

void warp_collective(CollectiveOp op, uint32_t mask, const void *in, void *out) {
    if (!g_in_kernel) fatal("warp collective called outside a kernel");
    Scheduler &s = g_sched;
    Fiber &f = s.fibers[s.current];
    Warp &w = s.warps[f.warp];
    uint32_t bit = 1u << f.lane;
    if (!(mask & bit)) fatal("warp collective with member mask 0x%08x that excludes the calling lane %u", mask, f.lane);
    if (w.arrived == 0) {
        w.op = op;
        w.mask = mask;
    } else if (w.op != op || w.mask != mask) {
        // Lanes of one warp in different collectives (or with different masks) at the same time: a divergence bug
        // in the kernel, or two disjoint sub-warp groups, which the emulator does not model.
        fatal("lanes of warp %u reached different warp collectives (or member masks 0x%08x vs 0x%08x)", f.warp,
              w.mask, mask);
    }
    w.in[f.lane] = in;
    w.out[f.lane] = out;
    w.arrived |= bit;
    if (try_complete(w, static_cast<int>(f.lane))) return;
    f.state = State::Warp;
    yield_to_scheduler();
}

static int block_barrier(int predicate) {
    if (!g_in_kernel) fatal("__syncthreads called outside a kernel");
    Scheduler &s = g_sched;
    s.barrier_sum += predicate;
    ++s.barrier_arrived;
    if (s.barrier_arrived == s.live) {
        release_barrier(static_cast<int>(s.current));
        return s.fibers[s.current].barrier_result;
    }
    unsigned me = s.current;
    s.fibers[me].state = State::Barrier;
    s.barrier_waiters.push_back(me);
    yield_to_scheduler();
    return s.fibers[me].barrier_result;
}

void shfl_op(const void *const in[32], void *const out[32], uint32_t participants) {
    for (int l = 0; l < 32; ++l) {
        if (!out[l]) continue;
        const ShflIn *mine = static_cast<const ShflIn *>(in[l]);
        unsigned src = mine->src;
        const bool present = src < 32 && ((participants >> src) & 1u);
        // Reading a lane that does not take part (exited, absent in a partial warp, outside the mask) is undefined
        // in CUDA; the emulator returns the caller's own value, or stops in strict mode.
        if (!present && src != static_cast<unsigned>(l) && g_strict.load())
            fatal("strict mode: lane %d shuffles from lane %u, which is not taking part (participants 0x%08x); "
                  "the warp's last arriving thread is", l,
                  src, participants);
        const ShflIn *from = present ? static_cast<const ShflIn *>(in[src]) : mine;
        *static_cast<uint64_t *>(out[l]) = from->bits;
    }
}

void sync_op(const void *const[32], void *const[32], uint32_t) {}

void ballot_op(const void *const in[32], void *const out[32], uint32_t participants) {
    uint32_t ballot = 0;
    for (int l = 0; l < 32; ++l)
        if (((participants >> l) & 1u) && *static_cast<const uint32_t *>(in[l])) ballot |= 1u << l;
    for (int l = 0; l < 32; ++l)
        if (out[l]) *static_cast<uint32_t *>(out[l]) = ballot;
}

void launch(const LaunchSpec &spec) {
    if (cudaError_t e = enter()) {
        (void)e;  // recorded as the last error; the kernel does not run
        return;
    }
    const dim3 &g = spec.grid, &b = spec.block;
    unsigned long long nthreads = static_cast<unsigned long long>(b.x) * b.y * b.z;
    if (g.x == 0 || g.y == 0 || g.z == 0 || b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 ||
        b.z > 64 || nthreads > 1024 || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
        record(cudaErrorInvalidConfiguration);
        return;
    }
    if (!valid_stream(spec.stream)) {
        record(cudaErrorInvalidResourceHandle);
        return;
    }
    size_t smem_limit = kSmemDefault;
    {
        std::lock_guard<std::mutex> lock(handles().mu);
        auto it = handles().max_dynamic_smem.find(spec.func);
        if (it != handles().max_dynamic_smem.end() && static_cast<size_t>(it->second) > smem_limit)
            smem_limit = static_cast<size_t>(it->second);
    }
    // More dynamic shared memory than the kernel's limit (48 KiB unless raised with cudaFuncSetAttribute): the
    // real launch fails with "invalid argument".
    if (spec.smem > smem_limit) {
        record(cudaErrorInvalidValue);
        return;
    }

    std::lock_guard<std::mutex> lock(g_launch_mutex);
    if (g_in_kernel) fatal("kernel launch from inside a kernel (dynamic parallelism) is not emulated");
    Scheduler &s = g_sched;
    ensure_stacks(1024);
    if (s.fibers.size() < 1024) s.fibers.resize(1024);
    if (s.queue.size() != nthreads) s.queue.assign(nthreads, 0);
#if defined(__x86_64__)
    asm volatile("stmxcsr %0" : "=m"(s.mxcsr));
    asm volatile("fnstcw %0" : "=m"(s.fpucw));
#endif
    // Dynamic shared memory: one buffer per launch, 128-byte aligned (more than the 16 bytes CUDA promises).
    void *smem = nullptr;
    if (spec.smem) {
        if (posix_memalign(&smem, 128, (spec.smem + 127) & ~size_t(127)) != 0) fatal("out of host memory");
    }
    s.smem = smem;
    s.spec = &spec;
    blockDim = b;
    gridDim = g;
    g_in_kernel = true;
    for (unsigned z = 0; z < g.z; ++z)
        for (unsigned y = 0; y < g.y; ++y)
            for (unsigned x = 0; x < g.x; ++x) {
                blockIdx = uint3{x, y, z};
                run_block(spec, static_cast<size_t>(nthreads));
            }
    g_in_kernel = false;
    s.spec = nullptr;
    s.smem = nullptr;
    std::free(smem);
    g_launches.fetch_add(1);
}

}  // namespace detail

void *dynamic_smem() { return detail::g_sched.smem; }

}  // namespace emu

void __syncthreads() { emu::detail::block_barrier(0); }
int __syncthreads_count(int predicate) { return emu::detail::block_barrier(predicate != 0); }
int __syncthreads_and(int predicate) {
    // Counting the threads whose predicate is false avoids needing the number of participants.
    return emu::detail::block_barrier(predicate == 0) == 0;
}
int __syncthreads_or(int predicate) { return emu::detail::block_barrier(predicate != 0) != 0; }
void __trap() { emu::detail::fatal("__trap() in a kernel"); }
unsigned __activemask() {
    const auto &s = emu::detail::g_sched;
    return s.warps[s.fibers[s.current].warp].live;
}
