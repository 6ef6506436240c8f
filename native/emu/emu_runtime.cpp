// emu_runtime.cpp: the CUDA emulator's runtime (see cuda_emu.h for the model, README.md for what it proves).
//   (0. configuration, EMU_DEVICE_COUNT, EMU_DEVICE_MEMORY, EMU_FAULT and emu::configure, is in emu_config.cpp)
//   1. error state (last error per host thread, sticky errors per device context, injected errors)
//   2. device memory bookkeeping (limits and use per device, live allocations, range checks of copies)
//   3. streams and events (synchronous; each belongs to a device; events keep a host timestamp)
//   (graphs and stream capture are in emu_graph.cpp: the calls below ask it, through emu_graph.h, whether their
//   stream captures and whether capture allows them)
//   (4. kernel execution is in emu_scheduler.cpp)
#include "cuda_emu.h"
#include "emu_config.h"
#include "emu_graph.h"
#include "emu_state.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
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
using namespace state;
}  // namespace emu

struct CUstream_st {
    unsigned flags;
    int device;
};
struct CUevent_st {
    unsigned flags;
    int device;
    bool recorded;
    std::chrono::steady_clock::time_point when;
};

namespace emu {
namespace graph {
bool stream_info(cudaStream_t s, int *device, unsigned *flags) {
    Handles &h = handles();
    std::lock_guard<std::mutex> lock(h.mu);
    if (!h.streams.count(s)) return false;
    *device = s->device;
    *flags = s->flags;
    return true;
}
}  // namespace graph
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

void set_device_count(int n) {
    ensure_started();
    g_device_count.store(n < 0 ? 0 : n > kMaxDevices ? kMaxDevices : n);
    if (t_device >= g_device_count.load()) t_device = 0;
}
void set_memory_limit(size_t bytes) {
    ensure_started();
    std::lock_guard<std::mutex> lock(mem().mu);
    for (size_t &l : mem().limit) l = bytes;
}
bool set_memory_limit(int device, size_t bytes) {
    ensure_started();
    if (device < 0 || device >= kMaxDevices) return false;
    std::lock_guard<std::mutex> lock(mem().mu);
    mem().limit[device] = bytes;
    return true;
}
void inject_error(cudaError_t e) {
    ensure_started();
    g_injected.store(e);
}
bool inject_error(int device, cudaError_t e, unsigned long long after_n_launches) {
    ensure_started();
    if (device < 0 || device >= kMaxDevices || e == cudaSuccess) return false;
    config::arm(device, e, after_n_launches);
    return true;
}
bool fault_pending(int device) {
    ensure_started();
    if (device < 0 || device >= kMaxDevices) return false;
    DeviceState &s = devices()[device];
    std::lock_guard<std::mutex> lock(s.fault_mu);
    return s.fault_code != 0;
}
cudaError_t sticky_error(int device) { return static_cast<cudaError_t>(sticky_of(device)); }
void set_poison(bool on) { g_poison.store(on); }
void set_strict(bool on) { g_strict.store(on); }
void set_reverse_order(bool on) { g_reverse.store(on); }
void reset() {
    ensure_started();
    config::restore_startup();  // EMU_FAULT's faults fire once per process, not per reset
    graph::reset();
    t_last_error = cudaSuccess;
    t_device = 0;
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
size_t live_device_bytes(int device) {
    if (device < 0 || device >= kMaxDevices) return 0;
    std::lock_guard<std::mutex> lock(mem().mu);
    return mem().bytes[device];
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
unsigned long long launches(int device) {
    return device >= 0 && device < kMaxDevices ? devices()[device].launches.load() : 0;
}

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

// cudaSetDevice and cudaGetDevice work whatever state the current device's context is in (a thread leaving a
// poisoned device must be able to switch to a healthy one): they do not report the current device's sticky error.
cudaError_t cudaSetDevice(int device) {
    EMU_ENTER(true, false);
    if (device < 0 || device >= emu::g_device_count.load()) return record(cudaErrorInvalidDevice);
    emu::t_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    EMU_ENTER(true, false);
    if (!device) return record(cudaErrorInvalidValue);
    *device = emu::t_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    EMU_ENTER();
    if (!p) return record(cudaErrorInvalidValue);
    if (device < 0 || device >= emu::g_device_count.load()) return record(cudaErrorInvalidDevice);
    std::memset(p, 0, sizeof(*p));
    std::snprintf(p->name, sizeof(p->name), "CUDA emulator (CPU)");  // one model: every device has this name
    {
        std::lock_guard<std::mutex> lock(emu::mem().mu);
        p->totalGlobalMem = emu::mem().limit[device];
    }
    p->pciBusID = device + 1;  // distinct per device, as on a real node
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
    // The current device's, as CUDA reports them.
    emu::MemoryState &m = emu::mem();
    const int d = emu::t_device;
    std::lock_guard<std::mutex> lock(m.mu);
    *total_bytes = m.limit[d];
    *free_bytes = m.limit[d] > m.bytes[d] ? m.limit[d] - m.bytes[d] : 0;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t size) {
    EMU_ENTER();
    if (!ptr) return record(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
    *ptr = nullptr;
    if (size == 0) return cudaSuccess;  // as the real runtime: success, null pointer
    size_t rounded = (size + 255) & ~size_t(255);
    emu::MemoryState &m = emu::mem();
    const int d = emu::t_device;  // charged to the calling thread's current device
    {
        std::lock_guard<std::mutex> lock(m.mu);
        if (rounded < size || m.bytes[d] + rounded > m.limit[d] || m.bytes[d] + rounded < m.bytes[d])
            return record(cudaErrorMemoryAllocation);
        m.bytes[d] += rounded;  // reserved now, so that concurrent calls cannot both pass the check
        m.device_bytes += rounded;
    }
    void *p = nullptr;
    if (posix_memalign(&p, 256, rounded) != 0 || !p) {  // 256: as cudaMalloc
        std::lock_guard<std::mutex> lock(m.mu);
        m.bytes[d] -= rounded;
        m.device_bytes -= rounded;
        return record(cudaErrorMemoryAllocation);
    }
    // Fresh device memory holds garbage on a GPU; 0xff bytes (NaN in fp32 and bf16) make reads of never-written
    // memory visible in test results. Huge allocations are left alone so that they are not committed.
    if (emu::g_poison.load() && rounded <= (size_t(256) << 20)) std::memset(p, 0xff, rounded);
    std::lock_guard<std::mutex> lock(m.mu);
    m.device[reinterpret_cast<uintptr_t>(p)] = emu::MemoryState::Allocation{size, d};
    *ptr = p;
    return cudaSuccess;
}

// The release functions (cudaFree, cudaFreeHost, cudaStreamDestroy, cudaEventDestroy) report a pending or sticky
// error like every call, but still release a valid handle: after a failure the backend's cleanup path must free
// everything, and leak tests check that with live_allocations() without losing the pointers to a dead context.
cudaError_t cudaFree(void *ptr) {
    const cudaError_t pending = enter();
    if (!ptr) return pending;
    if (cudaError_t e = emu::graph::unsafe_call()) return e;  // not freed: the call is refused during capture
    emu::MemoryState &m = emu::mem();
    {
        std::lock_guard<std::mutex> lock(m.mu);
        auto it = m.device.find(reinterpret_cast<uintptr_t>(ptr));
        if (it == m.device.end()) return pending ? pending : record(cudaErrorInvalidValue);
        // Credited to the device it was charged to (with unified addressing cudaFree takes any device's pointer).
        const size_t rounded = (it->second.size + 255) & ~size_t(255);
        m.bytes[it->second.device] -= rounded;
        m.device_bytes -= rounded;
        m.device.erase(it);
    }
    std::free(ptr);
    return pending;
}

cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags) {
    EMU_ENTER();
    if (!ptr || (flags & ~0x0fu)) return record(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
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
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
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
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
    if (cudaError_t e = check_copy(dst, src, count, kind)) return record(e);
    if (count) std::memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
    EMU_ENTER();
    if (cudaError_t e = emu::check_stream(stream)) return e;
    if (cudaError_t e = check_copy(dst, src, count, kind)) return record(e);
    bool recorded = false;
    if (cudaError_t e = emu::graph::enqueue_copy(stream, dst, src, count, kind, &recorded)) return e;
    if (!recorded && count) std::memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
    EMU_ENTER();
    if (cudaError_t e = emu::check_stream(stream)) return e;
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
    for (size_t r = 0; r < height; ++r) {
        char *d = static_cast<char *>(dst) + r * dpitch;
        const char *sr = static_cast<const char *>(src) + r * spitch;
        bool recorded = false;  // in a capture: one copy node per row
        if (cudaError_t e = emu::graph::enqueue_copy(stream, d, sr, width, kind, &recorded)) return e;
        if (!recorded) std::memmove(d, sr, width);
    }
    return cudaSuccess;
}

cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
    if (cudaError_t e = enter()) return e;
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
    return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream) {
    EMU_ENTER();
    if (cudaError_t e = emu::check_stream(stream)) return e;
    if (count == 0) return cudaSuccess;
    if (!emu::in_device(ptr, count)) return record(cudaErrorInvalidValue);
    bool recorded = false;
    if (cudaError_t e = emu::graph::enqueue_memset(stream, ptr, value, count, &recorded)) return e;
    if (!recorded) std::memset(ptr, value, count);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t count) {
    if (cudaError_t e = enter()) return e;
    if (cudaError_t e = emu::graph::unsafe_call()) return e;
    return cudaMemsetAsync(ptr, value, count, nullptr);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
    EMU_ENTER();
    if (!stream || flags > 1) return record(cudaErrorInvalidValue);
    CUstream_st *s = new CUstream_st{flags, emu::t_device};  // a stream belongs to the current device
    std::lock_guard<std::mutex> lock(emu::handles().mu);
    emu::handles().streams[s] = s->device;
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
    emu::graph::forget_stream(stream);  // a capture it ran is dropped with it
    delete stream;
    return pending;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    EMU_ENTER();
    if (cudaError_t e = emu::check_stream(stream)) return e;  // any device's stream, with that device's sticky error
    return emu::graph::sync_stream(stream);  // a capturing stream cannot be waited for
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
    EMU_ENTER();
    if (!emu::valid_stream(stream) || !emu::find_event(event)) return record(cudaErrorInvalidResourceHandle);
    return emu::graph::wait_event(stream, event);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
    EMU_ENTER();
    if (!event || (flags & ~0x07u)) return record(cudaErrorInvalidValue);
    CUevent_st *e = new CUevent_st{flags, emu::t_device, false, {}};  // an event belongs to the current device
    std::lock_guard<std::mutex> lock(emu::handles().mu);
    emu::handles().events[e] = e->device;
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    EMU_ENTER();
    CUevent_st *e = emu::find_event(event);
    int stream_device = -1;
    if (!e || !emu::stream_device(stream, &stream_device)) return record(cudaErrorInvalidResourceHandle);
    // CUDA: "cudaEventRecord() will fail if the input event and input stream are associated to different devices".
    if (stream_device != e->device) return record(cudaErrorInvalidResourceHandle);
    if (int st = emu::sticky_of(stream_device)) return record(static_cast<cudaError_t>(st));
    bool captured = false;
    if (cudaError_t err = emu::graph::record_event(event, stream, &captured)) return err;
    if (captured) return cudaSuccess;  // a point in the capture: no time until a replay (sync_event refuses it)
    e->recorded = true;
    e->when = std::chrono::steady_clock::now();  // all earlier work is done: it ran synchronously
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    EMU_ENTER();
    CUevent_st *e = emu::find_event(event);
    if (!e) return record(cudaErrorInvalidResourceHandle);
    if (int st = emu::sticky_of(e->device)) return record(static_cast<cudaError_t>(st));  // any device's event
    return emu::graph::sync_event(event);
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    EMU_ENTER();
    if (!ms) return record(cudaErrorInvalidValue);
    CUevent_st *a = emu::find_event(start), *b = emu::find_event(end);
    if (!a || !b) return record(cudaErrorInvalidResourceHandle);
    if ((a->flags | b->flags) & cudaEventDisableTiming) return record(cudaErrorInvalidResourceHandle);
    if (a->device != b->device) return record(cudaErrorInvalidResourceHandle);  // as CUDA
    if (cudaError_t e = emu::graph::sync_event(start)) return e;
    if (cudaError_t e = emu::graph::sync_event(end)) return e;
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
    emu::graph::forget_event(event);
    delete event;
    return pending;
}

cudaError_t cudaDeviceSynchronize() {
    EMU_ENTER();
    return emu::graph::sync_device(emu::t_device);  // waits for every stream: refused while one captures
}

cudaError_t cudaDeviceReset() {
    // Destroys the current device's context: its errors go with it (allocations are not freed here; tests check
    // them). Other devices are untouched; a pending fault of this device stays armed.
    emu::ensure_started();
    emu::devices()[emu::t_device].sticky.store(0);
    emu::t_last_error = cudaSuccess;
    return cudaSuccess;
}

cudaError_t cudaGetLastError() {
    cudaError_t e = emu::t_last_error;
    emu::t_last_error = cudaSuccess;
    if (e == cudaSuccess) e = static_cast<cudaError_t>(emu::sticky_of(emu::t_device));
    return e;
}

cudaError_t cudaPeekAtLastError() {
    cudaError_t e = emu::t_last_error;
    if (e == cudaSuccess) e = static_cast<cudaError_t>(emu::sticky_of(emu::t_device));
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
        EMU_NAME(cudaErrorStreamCaptureUnsupported)
        EMU_NAME(cudaErrorStreamCaptureInvalidated)
        EMU_NAME(cudaErrorStreamCaptureMerge)
        EMU_NAME(cudaErrorStreamCaptureUnmatched)
        EMU_NAME(cudaErrorStreamCaptureUnjoined)
        EMU_NAME(cudaErrorStreamCaptureIsolation)
        EMU_NAME(cudaErrorStreamCaptureImplicit)
        EMU_NAME(cudaErrorCapturedEvent)
        EMU_NAME(cudaErrorStreamCaptureWrongThread)
        EMU_NAME(cudaErrorUnknown)
#undef EMU_NAME
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: {
            // While the emulator's configuration is bad every call fails with this code: say why, so that the
            // message reaches the engine's exception text (and a Java test's failure).
            const char *why = emu::config::invalid_value_text();
            return why ? why : "invalid argument";
        }
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
        case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
        case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
        case cudaErrorStreamCaptureImplicit:
            return "operation would make the legacy stream depend on a capturing blocking stream";
        case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
        case cudaErrorStreamCaptureWrongThread:
            return "attempt to terminate a thread-local capture sequence from another thread";
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

