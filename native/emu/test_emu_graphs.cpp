// test_emu_graphs.cpp: the emulator's CUDA graphs (stream capture, instantiation, replay) and the capture rules it
// enforces (README.md, "Graphs"). Part of the test_emu executable.
#include <thread>
#include <vector>

#include "check.h"
#include "cuda/cuda_compat.h"
#include "test_emu_util.h"

namespace {

__global__ void scale_add_kernel(float *x, int n, float a, float b) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = x[i] * a + b;
}

struct Stream {
    cudaStream_t s = nullptr;
    explicit Stream(unsigned flags = cudaStreamNonBlocking) { REQUIRE(cudaStreamCreateWithFlags(&s, flags) == cudaSuccess); }
    ~Stream() { cudaStreamDestroy(s); }
};

cudaStreamCaptureStatus status_of(cudaStream_t s) {
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    REQUIRE(cudaStreamIsCapturing(s, &st) == cudaSuccess);
    return st;
}

// Ends a capture that a test expects to be invalidated: EndCapture fails and gives no graph.
void end_invalidated(cudaStream_t s) {
    cudaGraph_t g = reinterpret_cast<cudaGraph_t>(0x1);
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
    CHECK(g == nullptr);
    CHECK(status_of(s) == cudaStreamCaptureStatusNone);
    cudaGetLastError();
}

TEST_CASE(graph_records_launches_copies_and_memsets_and_replays_them_in_order) {
    emu::reset();
    const int n = 300;
    float *x = dev_alloc<float>(n), *y = dev_alloc<float>(n);
    std::vector<float> host(n), out(n);
    for (int i = 0; i < n; ++i) host[i] = static_cast<float>(i);
    Stream st;
    const unsigned long long launches0 = emu::launches();
    float a = 2.0f;
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusActive);
    CHECK(cudaMemsetAsync(y, 0, n * sizeof(float), st.s) == cudaSuccess);
    CHECK(cudaMemcpyAsync(x, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, st.s) == cudaSuccess);
    RIR_LAUNCH(scale_add_kernel, (n + 127) / 128, 128, 0, st.s, x, n, a, 1.0f);
    a = 100.0f;  // arguments are taken by value at the launch: the graph keeps 2
    RIR_LAUNCH(add_one_kernel, (n + 127) / 128, 128, 0, st.s, x, n);
    CHECK(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice, st.s) == cudaSuccess);
    CHECK(cudaMemcpyAsync(out.data(), y, n * sizeof(float), cudaMemcpyDeviceToHost, st.s) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
    // Nothing ran: no launch, and the host output is untouched.
    CHECK(emu::launches() == launches0);
    CHECK(out[5] == 0.0f);
    cudaGraph_t g = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    REQUIRE(g != nullptr);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusNone);
    CHECK(emu::live_graphs() == 1);
    cudaGraphExec_t ex = nullptr;
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    CHECK(emu::live_graph_execs() == 1);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);  // the exec keeps its own copy
    CHECK(emu::live_graphs() == 0);
    const unsigned long long glaunch0 = emu::graph_launches();
    REQUIRE(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(cudaStreamSynchronize(st.s) == cudaSuccess);
    for (int i = 0; i < n; ++i) CHECK(out[i] == host[i] * 2.0f + 2.0f);
    CHECK(emu::launches() == launches0 + 2);  // each replayed kernel is a launch
    // A replay reads the host source again (a copy node keeps the pointer, as CUDA's do).
    host[7] = 1000.0f;
    REQUIRE(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(out[7] == 2002.0f);
    CHECK(emu::launches() == launches0 + 4);
    CHECK(emu::graph_launches() == glaunch0 + 2);
    CHECK(cudaGraphExecDestroy(ex) == cudaSuccess);
    CHECK(emu::live_graph_execs() == 0);
    CHECK(cudaFree(x) == cudaSuccess);
    CHECK(cudaFree(y) == cudaSuccess);
}

TEST_CASE(host_work_runs_now_or_at_each_replay) {
    emu::reset();
    Stream st;
    int runs = 0;
    CHECK(emu::enqueue_host_work(st.s, [&] { ++runs; return cudaSuccess; }) == cudaSuccess);
    CHECK(runs == 1);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CHECK(emu::enqueue_host_work(st.s, [&] { ++runs; return cudaSuccess; }) == cudaSuccess);
    CHECK(runs == 1);
    cudaGraph_t g = nullptr;
    cudaGraphExec_t ex = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    REQUIRE(cudaGraphInstantiate(&ex, g) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(runs == 3);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    // A failing work item stops the replay with its error.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    emu::enqueue_host_work(st.s, [] { return cudaErrorUnknown; });
    emu::enqueue_host_work(st.s, [&] { ++runs; return cudaSuccess; });
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    REQUIRE(cudaGraphInstantiate(&ex, g) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorUnknown);
    CHECK(runs == 3);
    CHECK(cudaGetLastError() == cudaErrorUnknown);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    CHECK(emu::live_graphs() == 0 && emu::live_graph_execs() == 0);
}

TEST_CASE(synchronizing_a_capturing_stream_invalidates_the_capture) {
    emu::reset();
    float *x = dev_alloc<float>(64);
    Stream st;
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 64, 0, st.s, x, 64);
    CHECK(cudaStreamSynchronize(st.s) == cudaErrorStreamCaptureUnsupported);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusInvalidated);
    // Later work in the invalidated capture fails too.
    CHECK(cudaMemsetAsync(x, 0, 64 * sizeof(float), st.s) == cudaErrorStreamCaptureInvalidated);
    end_invalidated(st.s);
    // The stream works again after the capture ended.
    CHECK(cudaStreamSynchronize(st.s) == cudaSuccess);

    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    CHECK(cudaStreamQuery(st.s) == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);

    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);
    CHECK(cudaFree(x) == cudaSuccess);
}

TEST_CASE(unsafe_calls_follow_the_capture_mode) {
    emu::reset();
    float *x = dev_alloc<float>(16);
    std::vector<float> h(16, 1.0f);
    Stream st;
    // Global: this thread's synchronous copy and allocation are refused and break the capture.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaMemcpy(x, h.data(), 16 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    void *p = reinterpret_cast<void *>(0x1);
    CHECK(cudaMalloc(&p, 256) == cudaErrorStreamCaptureUnsupported);
    CHECK(p == nullptr);
    end_invalidated(st.s);
    // Global capture in this thread: another thread's cudaMalloc is refused too.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    cudaError_t other = cudaSuccess;
    std::thread([&] {
        void *q = nullptr;
        other = cudaMalloc(&q, 256);
        if (q) cudaFree(q);
    }).join();
    CHECK(other == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);
    // Thread-local capture: other threads are free; this thread is not.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    std::thread([&] {
        void *q = nullptr;
        other = cudaMalloc(&q, 256);
        if (q) cudaFree(q);
    }).join();
    CHECK(other == cudaSuccess);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusActive);
    CHECK(cudaMemset(x, 0, 16) == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);
    // Relaxed capture: the capturing thread may allocate.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    void *q = nullptr;
    CHECK(cudaMalloc(&q, 256) == cudaSuccess);
    CHECK(cudaFree(q) == cudaSuccess);
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);
    // The thread's own interaction mode: relaxed lets it call cudaMalloc during its global capture.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    CHECK(mode == cudaStreamCaptureModeGlobal);
    CHECK(cudaMalloc(&q, 256) == cudaSuccess);
    CHECK(cudaFree(q) == cudaSuccess);
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    CHECK(mode == cudaStreamCaptureModeRelaxed);
    CHECK(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);
    CHECK(cudaFree(x) == cudaSuccess);
}

TEST_CASE(legacy_stream_and_capture) {
    emu::reset();
    float *x = dev_alloc<float>(16);
    // The legacy default stream cannot capture.
    CHECK(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamBeginCapture(cudaStreamLegacy, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
    cudaGetLastError();
    // A blocking stream captures: using the legacy stream would wait for it: refused, the capture invalidated.
    Stream blocking(cudaStreamDefault);
    REQUIRE(cudaStreamBeginCapture(blocking.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    cudaStreamCaptureStatus cs;
    CHECK(cudaStreamIsCapturing(nullptr, &cs) == cudaErrorStreamCaptureImplicit);
    CHECK(status_of(blocking.s) == cudaStreamCaptureStatusActive);  // the query does not invalidate
    RIR_LAUNCH(add_one_kernel, 1, 16, 0, nullptr, x, 16);
    CHECK(cudaGetLastError() == cudaErrorStreamCaptureImplicit);
    end_invalidated(blocking.s);
    // A non-blocking stream's capture leaves the legacy stream alone.
    Stream nb;
    REQUIRE(cudaStreamBeginCapture(nb.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    const unsigned long long l0 = emu::launches();
    RIR_LAUNCH(add_one_kernel, 1, 16, 0, nullptr, x, 16);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(emu::launches() == l0 + 1);  // ran now: the legacy stream does not capture
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(nb.s, &g) == cudaSuccess);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);
    CHECK(cudaFree(x) == cudaSuccess);
}

TEST_CASE(capture_errors_as_cuda_gives_them) {
    emu::reset();
    Stream st;
    float *x = dev_alloc<float>(16);
    cudaGraph_t g = nullptr;
    // Ending a capture that was not begun; beginning one twice.
    CHECK(cudaStreamEndCapture(st.s, &g) == cudaErrorInvalidValue);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaErrorInvalidValue);
    // A global capture must end on its own thread.
    cudaError_t other = cudaSuccess;
    std::thread([&] {
        cudaGraph_t h = nullptr;
        other = cudaStreamEndCapture(st.s, &h);
    }).join();
    CHECK(other == cudaErrorStreamCaptureWrongThread);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusActive);
    // A bad launch configuration fails at the call and invalidates the capture.
    RIR_LAUNCH(add_one_kernel, 1, 2048, 0, st.s, x, 16);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    end_invalidated(st.s);
    // An event recorded in a capture cannot be waited for, during the capture or after it.
    cudaEvent_t ev = nullptr;
    REQUIRE(cudaEventCreate(&ev) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaEventRecord(ev, st.s) == cudaSuccess);
    CHECK(cudaStreamWaitEvent(st.s, ev, 0) == cudaSuccess);  // its own point: fine
    CHECK(cudaEventSynchronize(ev) == cudaErrorStreamCaptureUnsupported);
    end_invalidated(st.s);
    CHECK(cudaEventQuery(ev) == cudaErrorCapturedEvent);
    CHECK(cudaEventRecord(ev, st.s) == cudaSuccess);  // an ordinary record again
    CHECK(cudaEventSynchronize(ev) == cudaSuccess);
    CHECK(cudaEventDestroy(ev) == cudaSuccess);
    // Graph calls validate their handles and flags.
    cudaGraphExec_t ex = nullptr;
    CHECK(cudaGraphInstantiate(&ex, nullptr, 0) == cudaErrorInvalidValue);
    CHECK(cudaGraphLaunch(nullptr, st.s) == cudaErrorInvalidValue);
    CHECK(cudaGraphDestroy(nullptr) == cudaErrorInvalidValue);
    CHECK(cudaGraphExecDestroy(nullptr) == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);  // an empty graph is fine
    CHECK(cudaGraphInstantiate(&ex, g, cudaGraphInstantiateFlagDeviceLaunch) == cudaErrorNotSupported);
    CHECK(cudaGetLastError() == cudaErrorNotSupported);
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(cudaGraphExecDestroy(ex) == cudaSuccess);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);
    // A stream destroyed while capturing drops its capture.
    cudaStream_t s2 = nullptr;
    REQUIRE(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(s2, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaStreamDestroy(s2) == cudaSuccess);
    const unsigned long long l0 = emu::launches();
    RIR_LAUNCH(add_one_kernel, 1, 16, 0, st.s, x, 16);  // no capture left: runs
    CHECK(emu::launches() == l0 + 1);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaFree(x) == cudaSuccess);
    CHECK(emu::live_graphs() == 0 && emu::live_graph_execs() == 0);
}

TEST_CASE(injected_errors_reach_the_graph_calls_and_replays) {
    emu::reset();
    Stream st;
    float *x = dev_alloc<float>(32);
    // Each graph call takes an injected error like any API call.
    emu::inject_error(cudaErrorNotSupported);
    CHECK(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaErrorNotSupported);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusNone);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, st.s, x, 32);
    emu::inject_error(cudaErrorInvalidValue);
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(st.s, &g) == cudaErrorInvalidValue);  // the capture still ends
    CHECK(g == nullptr);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusNone);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, st.s, x, 32);
    RIR_LAUNCH(add_one_kernel, 1, 32, 0, st.s, x, 32);
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    cudaGraphExec_t ex = nullptr;
    emu::inject_error(cudaErrorMemoryAllocation);
    CHECK(cudaGraphInstantiate(&ex, g, 0) == cudaErrorMemoryAllocation);
    CHECK(ex == nullptr);
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    emu::inject_error(cudaErrorInvalidValue);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorInvalidValue);
    CHECK(cudaMemset(x, 0, 32 * sizeof(float)) == cudaSuccess);
    // A fault placed on the device's launches hits a replayed kernel: the second kernel of the first replay.
    REQUIRE(emu::inject_error(0, cudaErrorIllegalAddress, 1));
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorIllegalAddress);
    CHECK(emu::sticky_error(0) == cudaErrorIllegalAddress);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorIllegalAddress);  // a dead context answers every call
    // The release calls still release (and report the sticky error).
    CHECK(cudaGraphExecDestroy(ex) == cudaErrorIllegalAddress);
    CHECK(cudaGraphDestroy(g) == cudaErrorIllegalAddress);
    CHECK(emu::live_graphs() == 0 && emu::live_graph_execs() == 0);
    emu::reset();
    const std::vector<float> back = from_dev(x, 32);
    CHECK(back[0] == 1.0f);  // the first kernel of the faulted replay ran, the second did not
    CHECK(cudaFree(x) == cudaSuccess);
}

TEST_CASE(errors_injected_into_one_graph_call_wait_for_it) {
    emu::reset();
    Stream st;
    CHECK(!emu::inject_graph_error("cudaMalloc", cudaErrorInvalidValue));
    CHECK(!emu::inject_graph_error("cudaGraphLaunch", cudaSuccess));
    REQUIRE(emu::inject_graph_error("cudaStreamBeginCapture", cudaErrorNotSupported));
    REQUIRE(emu::inject_graph_error("cudaStreamEndCapture", cudaErrorInvalidValue));
    REQUIRE(emu::inject_graph_error("cudaGraphInstantiate", cudaErrorMemoryAllocation));
    REQUIRE(emu::inject_graph_error("cudaGraphLaunch", cudaErrorLaunchOutOfResources));
    float *x = dev_alloc<float>(8);  // other calls do not consume them
    CHECK(cudaStreamSynchronize(st.s) == cudaSuccess);
    CHECK(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaErrorNotSupported);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(st.s, &g) == cudaErrorInvalidValue);
    CHECK(g == nullptr);
    CHECK(status_of(st.s) == cudaStreamCaptureStatusNone);  // ended all the same
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    RIR_LAUNCH(add_one_kernel, 1, 8, 0, st.s, x, 8);
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    cudaGraphExec_t ex = nullptr;
    CHECK(cudaGraphInstantiate(&ex, g, 0) == cudaErrorMemoryAllocation);
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorLaunchOutOfResources);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    // A sticky one poisons the device.
    REQUIRE(emu::inject_graph_error("cudaGraphLaunch", cudaErrorIllegalAddress));
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorIllegalAddress);
    CHECK(emu::sticky_error(0) == cudaErrorIllegalAddress);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    emu::reset();
    // reset() disarms pending ones, and drops a running capture.
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    REQUIRE(emu::inject_graph_error("cudaStreamBeginCapture", cudaErrorNotSupported));
    emu::reset();
    CHECK(status_of(st.s) == cudaStreamCaptureStatusNone);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    CHECK(cudaGraphDestroy(g) == cudaSuccess);
    CHECK(cudaFree(x) == cudaSuccess);
    CHECK(emu::live_graphs() == 0 && emu::live_graph_execs() == 0);
}

TEST_CASE(a_replay_into_freed_memory_faults) {
    emu::reset();
    Stream st;
    float *x = dev_alloc<float>(32);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaMemsetAsync(x, 0, 32 * sizeof(float), st.s) == cudaSuccess);
    cudaGraph_t g = nullptr;
    cudaGraphExec_t ex = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    CHECK(cudaFree(x) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaErrorIllegalAddress);
    CHECK(emu::sticky_error(0) == cudaErrorIllegalAddress);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    emu::reset();
}

TEST_CASE(graph_launch_on_another_device_is_refused) {
    emu::reset();
    emu::set_device_count(2);
    Stream st;  // device 0
    cudaGraph_t g = nullptr;
    cudaGraphExec_t ex = nullptr;
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    REQUIRE(cudaStreamEndCapture(st.s, &g) == cudaSuccess);
    REQUIRE(cudaGraphInstantiate(&ex, g, 0) == cudaSuccess);
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    cudaStream_t s1 = nullptr;
    REQUIRE(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, s1) == cudaErrorInvalidValue);
    CHECK(cudaStreamDestroy(s1) == cudaSuccess);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaGraphLaunch(ex, st.s) == cudaSuccess);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    emu::reset();
}

}  // namespace
