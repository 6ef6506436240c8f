// emu_graph.h: what the emulator's runtime (emu_runtime.cpp) asks of its stream-capture state (emu_graph.cpp).
// Internal to native/emu. Each function returns cudaSuccess when the call may go on as without capture; an error
// return has already been recorded as the thread's last error (and has invalidated the captures it breaks).
#pragma once
#include "cuda_emu.h"

namespace emu {
namespace graph {

// Implemented in emu_runtime.cpp: the device and flags of a created stream (false: not a created stream).
bool stream_info(cudaStream_t s, int *device, unsigned *flags);

// Work enqueued into `stream` (an async copy or memset): records it into the capture when the stream captures
// (*recorded = true; the caller must not run it), refuses it on an invalidated capture, and refuses the legacy
// stream while a blocking stream of its device captures (cudaErrorStreamCaptureImplicit). The copy must have passed
// the caller's checks already.
cudaError_t enqueue_copy(cudaStream_t stream, void *dst, const void *src, size_t count, cudaMemcpyKind kind,
                         bool *recorded);
cudaError_t enqueue_memset(cudaStream_t stream, void *ptr, int value, size_t count, bool *recorded);

// "Potentially unsafe" calls (cudaMalloc, cudaFree, the host allocations, the synchronous cudaMemcpy/cudaMemset):
// refused with cudaErrorStreamCaptureUnsupported by the calling thread's capture interaction mode
// (cudaThreadExchangeStreamCaptureMode), invalidating the captures that forbid them. They also use the legacy
// stream: see enqueue_copy.
cudaError_t unsafe_call();

// cudaStreamSynchronize / cudaStreamQuery of a capturing stream: cudaErrorStreamCaptureUnsupported, invalidates.
cudaError_t sync_stream(cudaStream_t stream);
// cudaDeviceSynchronize while a stream of the current device captures: the same for each of them.
cudaError_t sync_device(int device);

// Events. record_event: the event is now "captured" when `stream` captures (*captured = true: no timestamp), else
// it is an ordinary record again. sync_event (cudaEventSynchronize, cudaEventQuery, cudaEventElapsedTime): an event
// last recorded in a capture fails (cudaErrorStreamCaptureUnsupported while that capture runs, and invalidates it;
// cudaErrorCapturedEvent after it ended). wait_event: a capturing stream may wait for its own captured events; another
// stream waiting for one would join the capture, which is not emulated (cudaErrorNotSupported).
cudaError_t record_event(cudaEvent_t event, cudaStream_t stream, bool *captured);
cudaError_t sync_event(cudaEvent_t event);
cudaError_t wait_event(cudaStream_t stream, cudaEvent_t event);

// Handles going away: a destroyed stream's capture is dropped; a destroyed event is forgotten.
void forget_stream(cudaStream_t stream);
void forget_event(cudaEvent_t event);

// emu::reset(): disarms the errors of inject_graph_error and drops running captures.
void reset();

}  // namespace graph
}  // namespace emu
