// parallel.h: one-shot parallel loops for work that runs once per model load (the loader's NaN/Inf scan of a large
// tensor, cuda/device_weights.cu's copy of the mapping into pinned memory): memory bandwidth or the page-in of a mapped
// shard is the limit there, and one core reaches neither. Threads are started for the call and joined before it
// returns, so nothing lingers between loads and no pool has to exist before a backend does. The forward pass uses the
// CPU backend's persistent pool instead (cpu/thread_pool.h), where thread start-up would cost more than the work.
//
// Plain C++ behind a std::function (defined in parallel.cpp), so that nvcc and the CUDA emulator's g++ build of the
// .cu files only ever see this declaration.
#pragma once
#include <cstdint>
#include <functional>

namespace rir {

// std::thread::hardware_concurrency() clamped to [1, cap] (it may report 0 when unknown).
unsigned hardware_threads(unsigned cap);

// Splits [0, n) into `parts` contiguous ranges of ceil(n / parts) items (the last shorter, empty ones skipped) and
// calls fn(part, begin, end) for each, part 0 on the calling thread and every other part on a thread of its own.
// parts <= 1 (or n small enough for one range) runs everything on the calling thread, starting no thread. A thread
// that cannot be started (std::system_error) is no failure: its range runs on the calling thread instead. Returns
// once every range is done; if any fn threw, the exception of the lowest part is rethrown then (never while a thread
// still runs).
void parallel_for(uint64_t n, unsigned parts, const std::function<void(unsigned part, uint64_t begin, uint64_t end)> &fn);

}  // namespace rir
