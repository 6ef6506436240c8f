// emu_graph.cpp: CUDA graphs by stream capture in the CUDA emulator (README.md, "Graphs"). While a stream captures,
// the work enqueued into it (kernel launches with their arguments copied as at a launch, async copies and memsets,
// host work of emulated libraries) is recorded instead of run; cudaStreamEndCapture turns the record into a graph,
// cudaGraphInstantiate copies it into an executable graph, and cudaGraphLaunch replays it in order on the calling
// thread, each kernel as a launch (so launch counters and injected faults see replays). The capture rules CUDA
// enforces and that a host program can break are checked: synchronizing a capturing stream or a captured event, the
// "unsafe" calls of each capture interaction mode, the legacy stream while a blocking stream captures, ending a
// capture from another thread; the breaking call fails and the capture is invalidated, as on a GPU.
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cuda_emu.h"
#include "emu_graph.h"
#include "emu_state.h"

namespace {

// One recorded operation. A graph's nodes run in capture order (a single stream's capture is a chain).
struct Node {
    enum Kind { Kernel, Copy, Memset, Host } kind = Kernel;
    emu::detail::LaunchSpec spec{};     // Kernel: spec.ctx points into ctx
    std::shared_ptr<void> ctx;          // Kernel: the launch's argument copy, shared by the graph and its execs
    void *dst = nullptr;                // Copy, Memset
    const void *src = nullptr;          // Copy (read at each replay, as CUDA's memcpy nodes do)
    size_t count = 0;                   // Copy, Memset
    cudaMemcpyKind copy_kind = cudaMemcpyDefault;
    int value = 0;                      // Memset
    std::function<cudaError_t()> work;  // Host
};

struct Capture {
    int device = 0;
    bool blocking = false;  // the stream synchronizes with the legacy stream (not cudaStreamNonBlocking)
    cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
    std::thread::id thread;
    unsigned long long id = 0;
    bool invalidated = false;
    std::vector<Node> nodes;
};

}  // namespace

struct CUgraph_st {
    int device;
    std::vector<Node> nodes;
};
struct CUgraphExec_st {
    int device;
    std::vector<Node> nodes;  // its own copy: the graph may be destroyed (or changed) after instantiation
};

namespace emu {
using namespace state;
namespace {

std::mutex g_mu;  // guards everything below but g_active / g_graph_launches
std::unordered_map<cudaStream_t, Capture> g_captures;
std::unordered_set<CUgraph_st *> g_graphs;
std::unordered_set<CUgraphExec_st *> g_execs;
std::unordered_map<cudaEvent_t, unsigned long long> g_captured_events;  // event -> id of the capture it was recorded in
unsigned long long g_next_id = 1;
std::atomic<int> g_active{0};  // captures in g_captures: the launch fast path reads only this
std::atomic<unsigned long long> g_graph_launches{0};
thread_local cudaStreamCaptureMode t_mode = cudaStreamCaptureModeGlobal;

// inject_graph_error: one pending error per graph call.
enum GraphCall { kBegin, kEnd, kInstantiate, kLaunch, kGraphCalls };
const char *const kGraphCallNames[kGraphCalls] = {"cudaStreamBeginCapture", "cudaStreamEndCapture",
                                                  "cudaGraphInstantiate", "cudaGraphLaunch"};
std::atomic<int> g_graph_injected[kGraphCalls];

// The error injected for `call`, consumed (a sticky one then poisons the calling thread's current device).
cudaError_t take_injected(GraphCall call) {
    const int e = g_graph_injected[call].exchange(0);
    if (!e) return cudaSuccess;
    if (is_sticky(static_cast<cudaError_t>(e))) devices()[t_device].sticky.store(e);
    return record(static_cast<cudaError_t>(e));
}

bool is_legacy(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy; }

// Caller holds g_mu. The capture of `s`, or null.
Capture *capture_of(cudaStream_t s) {
    if (s == nullptr) return nullptr;
    auto it = g_captures.find(s);
    return it == g_captures.end() ? nullptr : &it->second;
}

// Caller holds g_mu. The legacy stream of `device` used while blocking streams of that device capture: CUDA refuses
// the use (it would make the legacy stream wait for work that is only being recorded) and invalidates them.
cudaError_t legacy_conflict(int device) {
    bool hit = false;
    for (auto &kv : g_captures) {
        if (kv.second.device == device && kv.second.blocking) {
            kv.second.invalidated = true;
            hit = true;
        }
    }
    return hit ? record(cudaErrorStreamCaptureImplicit) : cudaSuccess;
}

// Caller holds g_mu. Appends `n` to the capture of `stream` when it captures (*recorded = true).
cudaError_t record_node(cudaStream_t stream, Node &&n, bool *recorded) {
    *recorded = false;
    if (g_active.load() == 0) return cudaSuccess;
    if (is_legacy(stream)) return legacy_conflict(t_device);
    Capture *c = capture_of(stream);
    if (!c) return cudaSuccess;
    *recorded = true;
    if (c->invalidated) return record(cudaErrorStreamCaptureInvalidated);
    c->nodes.push_back(std::move(n));
    return cudaSuccess;
}

// Runs one node at replay on `stream`; returns its error (recorded as the thread's last error).
cudaError_t run_node(const Node &n, cudaStream_t stream) {
    switch (n.kind) {
        case Node::Kernel: {
            // detail::launch reports through the last error: look at it alone, then put back what was there.
            const cudaError_t before = t_last_error;
            t_last_error = cudaSuccess;
            detail::LaunchSpec spec = n.spec;
            spec.stream = stream;
            detail::launch(spec);
            const cudaError_t e = t_last_error;
            if (e != cudaSuccess) return e;
            t_last_error = before;
            return cudaSuccess;
        }
        case Node::Copy:
        case Node::Memset: {
            // The ranges were checked at capture; memory freed since then is a use after free on the GPU, which
            // faults the context: the same here, so that the bug cannot pass silently.
            const bool dst_dev = n.kind == Node::Memset || n.copy_kind == cudaMemcpyHostToDevice ||
                                 n.copy_kind == cudaMemcpyDeviceToDevice ||
                                 (n.copy_kind == cudaMemcpyDefault && is_device_ptr(n.dst));
            const bool src_dev = n.kind == Node::Copy &&
                                 (n.copy_kind == cudaMemcpyDeviceToHost || n.copy_kind == cudaMemcpyDeviceToDevice ||
                                  (n.copy_kind == cudaMemcpyDefault && is_device_ptr(n.src)));
            if ((dst_dev && !in_device(n.dst, n.count)) || (src_dev && !in_device(n.src, n.count))) {
                devices()[t_device].sticky.store(cudaErrorIllegalAddress);
                return record(cudaErrorIllegalAddress);
            }
            if (n.kind == Node::Copy)
                std::memmove(n.dst, n.src, n.count);
            else
                std::memset(n.dst, n.value, n.count);
            return cudaSuccess;
        }
        case Node::Host: return record(n.work());
    }
    return cudaSuccess;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Hooks of the runtime (emu_graph.h) and of emu::launch (cuda_emu.h).
namespace graph {

cudaError_t enqueue_copy(cudaStream_t stream, void *dst, const void *src, size_t count, cudaMemcpyKind kind,
                         bool *recorded) {
    Node n;
    n.kind = Node::Copy;
    n.dst = dst;
    n.src = src;
    n.count = count;
    n.copy_kind = kind;
    std::lock_guard<std::mutex> lock(g_mu);
    return record_node(stream, std::move(n), recorded);
}

cudaError_t enqueue_memset(cudaStream_t stream, void *ptr, int value, size_t count, bool *recorded) {
    Node n;
    n.kind = Node::Memset;
    n.dst = ptr;
    n.value = value;
    n.count = count;
    std::lock_guard<std::mutex> lock(g_mu);
    return record_node(stream, std::move(n), recorded);
}

cudaError_t unsafe_call() {
    if (g_active.load() == 0) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_mu);
    // cudaThreadExchangeStreamCaptureMode: Global forbids the call while this thread captures (not relaxed) or any
    // thread runs a global capture; ThreadLocal only for this thread's own captures; Relaxed never.
    const std::thread::id me = std::this_thread::get_id();
    bool forbidden = false;
    for (auto &kv : g_captures) {
        Capture &c = kv.second;
        const bool own = c.thread == me && c.mode != cudaStreamCaptureModeRelaxed;
        const bool other_global = c.thread != me && c.mode == cudaStreamCaptureModeGlobal;
        if ((t_mode == cudaStreamCaptureModeGlobal && (own || other_global)) ||
            (t_mode == cudaStreamCaptureModeThreadLocal && own)) {
            c.invalidated = true;
            forbidden = true;
        }
    }
    if (forbidden) return record(cudaErrorStreamCaptureUnsupported);
    return legacy_conflict(t_device);  // the synchronous calls run on the legacy stream
}

cudaError_t sync_stream(cudaStream_t stream) {
    if (g_active.load() == 0) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_mu);
    if (is_legacy(stream)) return legacy_conflict(t_device);
    Capture *c = capture_of(stream);
    if (!c) return cudaSuccess;
    c->invalidated = true;  // its work is only recorded: there is nothing to wait for
    return record(cudaErrorStreamCaptureUnsupported);
}

cudaError_t sync_device(int device) {
    if (g_active.load() == 0) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_mu);
    bool hit = false;
    for (auto &kv : g_captures) {
        if (kv.second.device == device) {
            kv.second.invalidated = true;
            hit = true;
        }
    }
    return hit ? record(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

cudaError_t record_event(cudaEvent_t event, cudaStream_t stream, bool *captured) {
    *captured = false;
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_active.load() != 0) {
        if (is_legacy(stream)) {
            if (cudaError_t e = legacy_conflict(t_device)) return e;
        } else if (Capture *c = capture_of(stream)) {
            if (c->invalidated) return record(cudaErrorStreamCaptureInvalidated);
            g_captured_events[event] = c->id;
            *captured = true;
            return cudaSuccess;
        }
    }
    g_captured_events.erase(event);  // an ordinary record again
    return cudaSuccess;
}

cudaError_t sync_event(cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_captured_events.find(event);
    if (it == g_captured_events.end()) return cudaSuccess;
    for (auto &kv : g_captures) {
        if (kv.second.id == it->second) {
            kv.second.invalidated = true;
            return record(cudaErrorStreamCaptureUnsupported);
        }
    }
    return record(cudaErrorCapturedEvent);
}

cudaError_t wait_event(cudaStream_t stream, cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_captured_events.find(event);
    Capture *c = capture_of(stream);
    if (c && c->invalidated) return record(cudaErrorStreamCaptureInvalidated);
    if (it == g_captured_events.end()) return cudaSuccess;
    if (c && c->id == it->second) return cudaSuccess;  // the stream's own earlier point: already in order
    for (auto &kv : g_captures)
        if (kv.second.id == it->second) return record(cudaErrorNotSupported);  // would join that capture
    return record(cudaErrorCapturedEvent);
}

void forget_stream(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_captures.erase(stream)) g_active.fetch_sub(1);
}

void forget_event(cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_captured_events.erase(event);
}

}  // namespace graph

namespace detail {

bool captures_active() { return g_active.load(std::memory_order_relaxed) != 0; }

bool capture_launch(const LaunchSpec &spec, std::shared_ptr<void> ctx) {
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (is_legacy(spec.stream)) return legacy_conflict(t_device) != cudaSuccess;  // refused: not launched
        if (!capture_of(spec.stream)) return false;
    }
    // As at a launch: errors (an injected one too) and the configuration checks answer at the call; a launch that
    // fails them during capture invalidates the capture, as CUDA does.
    cudaError_t e = enter();
    const dim3 &g = spec.grid, &b = spec.block;
    const unsigned long long nthreads = static_cast<unsigned long long>(b.x) * b.y * b.z;
    if (!e && (g.x == 0 || g.y == 0 || g.z == 0 || b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 ||
               b.z > 64 || nthreads > 1024 || g.x > 2147483647u || g.y > 65535 || g.z > 65535))
        e = record(cudaErrorInvalidConfiguration);
    int device = -1;
    if (!e && (!stream_device(spec.stream, &device) || device != t_device)) e = record(cudaErrorInvalidResourceHandle);
    if (!e) {
        size_t limit = kSmemDefault;
        std::lock_guard<std::mutex> lock(handles().mu);
        auto it = handles().max_dynamic_smem.find(spec.func);
        if (it != handles().max_dynamic_smem.end() && static_cast<size_t>(it->second) > limit)
            limit = static_cast<size_t>(it->second);
        if (spec.smem > limit) e = record(cudaErrorInvalidValue);
    }
    std::lock_guard<std::mutex> lock(g_mu);
    Capture *c = capture_of(spec.stream);
    if (!c) return true;  // ended meanwhile by another thread: the launch is dropped with its error, if any
    if (e) {
        c->invalidated = true;
        return true;
    }
    if (c->invalidated) {
        record(cudaErrorStreamCaptureInvalidated);
        return true;
    }
    Node n;
    n.kind = Node::Kernel;
    n.spec = spec;
    n.ctx = std::move(ctx);
    c->nodes.push_back(std::move(n));
    return true;
}

}  // namespace detail

int live_graphs() {
    std::lock_guard<std::mutex> lock(g_mu);
    return static_cast<int>(g_graphs.size());
}
int live_graph_execs() {
    std::lock_guard<std::mutex> lock(g_mu);
    return static_cast<int>(g_execs.size());
}
unsigned long long graph_launches() { return g_graph_launches.load(); }

bool inject_graph_error(const char *call, cudaError_t error) {
    ensure_started();
    if (!call || error == cudaSuccess) return false;
    for (int i = 0; i < kGraphCalls; ++i) {
        if (std::strcmp(call, kGraphCallNames[i]) == 0) {
            g_graph_injected[i].store(error);
            return true;
        }
    }
    return false;
}

namespace graph {
void reset() {
    for (auto &e : g_graph_injected) e.store(0);
    // Captures a failed test left running would make later tests' calls fail: dropped, with the captured-event marks.
    // Graphs and executable graphs stay (the caller's to destroy, like allocations: leak tests count them).
    std::lock_guard<std::mutex> lock(g_mu);
    g_captures.clear();
    g_captured_events.clear();
    g_active.store(0);
}
}  // namespace graph

cudaError_t enqueue_host_work(cudaStream_t stream, std::function<cudaError_t()> work) {
    EMU_ENTER();
    if (cudaError_t e = check_stream(stream)) return e;
    if (!work) return record(cudaErrorInvalidValue);
    {
        Node n;
        n.kind = Node::Host;
        n.work = work;
        bool recorded = false;
        std::lock_guard<std::mutex> lock(g_mu);
        if (cudaError_t e = record_node(stream, std::move(n), &recorded)) return e;
        if (recorded) return cudaSuccess;
    }
    return record(work());
}

}  // namespace emu

// ---------------------------------------------------------------------------------------------------------------
// Runtime API.
using emu::enter;
using emu::record;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    EMU_ENTER();
    if (cudaError_t e = emu::take_injected(emu::kBegin)) return e;
    if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
        mode != cudaStreamCaptureModeRelaxed)
        return record(cudaErrorInvalidValue);
    // The legacy default stream cannot capture (it synchronizes with every blocking stream); the per-thread default
    // stream could on a GPU but is one handle for all threads here, so it is refused as not emulated.
    if (emu::is_legacy(stream)) return record(cudaErrorStreamCaptureUnsupported);
    if (stream == cudaStreamPerThread) return record(cudaErrorNotSupported);
    int device = -1;
    unsigned flags = 0;
    if (!emu::graph::stream_info(stream, &device, &flags)) return record(cudaErrorInvalidResourceHandle);
    if (int st = emu::sticky_of(device)) return record(static_cast<cudaError_t>(st));
    std::lock_guard<std::mutex> lock(emu::g_mu);
    if (emu::capture_of(stream)) return record(cudaErrorInvalidValue);  // already capturing
    Capture c;
    c.device = device;
    c.blocking = (flags & cudaStreamNonBlocking) == 0;
    c.mode = mode;
    c.thread = std::this_thread::get_id();
    c.id = emu::g_next_id++;
    emu::g_captures.emplace(stream, std::move(c));
    emu::g_active.fetch_add(1);
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    // Not through enter(): an injected or sticky error must still end the capture (the stream would otherwise stay
    // capturing for good), so the capture is taken out first and the error reported after.
    emu::ensure_started();
    if (!graph) return record(cudaErrorInvalidValue);
    *graph = nullptr;
    Capture c;
    {
        std::lock_guard<std::mutex> lock(emu::g_mu);
        Capture *found = emu::capture_of(stream);
        if (!found)  // not capturing (cudaErrorInvalidValue, as documented), or no such stream
            return record(emu::is_legacy(stream) || emu::valid_stream(stream) ? cudaErrorInvalidValue
                                                                              : cudaErrorInvalidResourceHandle);
        if (found->mode != cudaStreamCaptureModeRelaxed && found->thread != std::this_thread::get_id())
            return record(cudaErrorStreamCaptureWrongThread);  // the capture goes on
        c = std::move(*found);
        emu::g_captures.erase(stream);
        emu::g_active.fetch_sub(1);
    }
    if (cudaError_t e = enter()) return e;
    if (cudaError_t e = emu::take_injected(emu::kEnd)) return e;
    if (c.invalidated) return record(cudaErrorStreamCaptureInvalidated);
    CUgraph_st *g = new CUgraph_st{c.device, std::move(c.nodes)};
    std::lock_guard<std::mutex> lock(emu::g_mu);
    emu::g_graphs.insert(g);
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status) {
    EMU_ENTER();
    if (!status) return record(cudaErrorInvalidValue);
    if (!emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::mutex> lock(emu::g_mu);
    if (emu::is_legacy(stream)) {
        // The legacy stream while a blocking stream of its device captures: CUDA answers so (without invalidating).
        for (auto &kv : emu::g_captures)
            if (kv.second.device == emu::t_device && kv.second.blocking) return record(cudaErrorStreamCaptureImplicit);
        *status = cudaStreamCaptureStatusNone;
        return cudaSuccess;
    }
    const Capture *c = emu::capture_of(stream);
    *status = !c ? cudaStreamCaptureStatusNone
                 : c->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode *mode) {
    EMU_ENTER();
    if (!mode || (*mode != cudaStreamCaptureModeGlobal && *mode != cudaStreamCaptureModeThreadLocal &&
                  *mode != cudaStreamCaptureModeRelaxed))
        return record(cudaErrorInvalidValue);
    std::swap(*mode, emu::t_mode);
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    EMU_ENTER();
    if (!exec) return record(cudaErrorInvalidValue);
    *exec = nullptr;
    if (cudaError_t e = emu::take_injected(emu::kInstantiate)) return e;
    if (flags & ~0xfull) return record(cudaErrorInvalidValue);
    if (flags & cudaGraphInstantiateFlagDeviceLaunch) return record(cudaErrorNotSupported);  // device launch
    std::lock_guard<std::mutex> lock(emu::g_mu);
    if (!emu::g_graphs.count(graph)) return record(cudaErrorInvalidValue);
    CUgraphExec_st *x = new CUgraphExec_st{graph->device, graph->nodes};
    emu::g_execs.insert(x);
    *exec = x;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    EMU_ENTER();
    if (cudaError_t e = emu::take_injected(emu::kLaunch)) return e;
    if (cudaError_t e = emu::check_stream(stream)) return e;
    int device = -1;
    emu::stream_device(stream, &device);
    {
        std::lock_guard<std::mutex> lock(emu::g_mu);
        if (!emu::g_execs.count(exec)) return record(cudaErrorInvalidValue);
        if (emu::g_active.load() != 0) {
            if (emu::is_legacy(stream)) {
                if (cudaError_t e = emu::legacy_conflict(emu::t_device)) return e;
            } else if (emu::capture_of(stream)) {
                return record(cudaErrorNotSupported);  // a graph launched into a capture (a child graph): not emulated
            }
        }
    }
    // The nodes run on the graph's device: CUDA launches them there whatever stream the graph goes into; here the
    // replayed kernels go through the launch checks, which need that device current and its stream.
    if (device != exec->device) return record(cudaErrorInvalidValue);
    for (const Node &n : exec->nodes)
        if (cudaError_t e = emu::run_node(n, stream)) return e;
    emu::g_graph_launches.fetch_add(1);
    return cudaSuccess;
}

// As the other release functions (emu_runtime.cpp): a pending or sticky error is returned, but a valid handle is
// still released, so that leak tests can check the cleanup path after a failure.
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    const cudaError_t pending = enter();
    {
        std::lock_guard<std::mutex> lock(emu::g_mu);
        if (!emu::g_execs.erase(exec)) return pending ? pending : record(cudaErrorInvalidValue);
    }
    delete exec;
    return pending;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    const cudaError_t pending = enter();
    {
        std::lock_guard<std::mutex> lock(emu::g_mu);
        if (!emu::g_graphs.erase(graph)) return pending ? pending : record(cudaErrorInvalidValue);
    }
    delete graph;
    return pending;
}
