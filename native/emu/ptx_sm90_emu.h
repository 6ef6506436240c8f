// ptx_sm90_emu.h: CPU versions of the Hopper (sm_90a) instructions behind native/src/cuda/ptx_sm90.cuh
// (REASONIR_CUDA_EMU). See README.md, "Hopper instructions", for the model; in short:
// - warpgroup instructions (wgmma.fence / mma_async / commit_group / wait_group, setmaxnreg) are rendezvous of the
//   128 threads of a warpgroup (emu::detail::warpgroup_collective): the four warps must issue the same sequence with
//   the same descriptors, and every one of the 128 threads must be present;
// - wgmma.mma_async is asynchronous: at issue the operation is recorded (the register A fragment and, unless it
//   chains on a pending operation on the same accumulators, the accumulator input are copied), and the accumulators
//   are overwritten with NaN; shared memory is read and the product computed only when a wait_group retires the
//   group. A missing wait shows as NaN, shared memory overwritten before the wait changes the result, a missing
//   wgmma.fence before the first mma_async after a wait (or at the start) stops the run;
// - mbarriers live in a side table per running block keyed by their shared-memory address (the 8 bytes hold a
//   marker that detects use before init and overwrites); a wait blocks the thread (the scheduler runs the others and
//   reports a deadlock when every live thread is blocked);
// - TMA loads (cp.async.bulk.tensor 2D) poison their destination (0xff) at issue and land, with swizzle and zero
//   fill, when a thread waits on their mbarrier; only then are their bytes delivered to the barrier;
// - named barriers (bar.sync / bar.arrive id, n) count threads and block in the scheduler.
// Descriptors and TMA destinations must point into the launch's dynamic shared memory (RIR_DYNAMIC_SMEM), which the
// emulator aligns to 1024 bytes: their "shared address" is the offset in it, and swizzles are computed on it.
// Implementation: ptx_sm90_emu.cpp (warpgroup instructions, descriptors), tma_emu.cpp (tensor maps, TMA, mbarriers,
// named barriers).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda_emu.h"

namespace emu {
namespace sm90 {

// Offset of `p` in the running block's dynamic shared memory (stops the run if it is not inside it).
uint32_t smem_offset(const void *p);

// wgmma.fence / commit_group / wait_group n: warpgroup collectives.
void wgmma_fence();
void wgmma_commit_group();
void wgmma_wait_group(int n);
// wgmma.mma_async.sync.aligned.m64n{n}k16.f32.bf16.bf16: d (n/2 floats, the D fragment), a (4 registers, the A
// fragment) or null with desc_a (A in shared memory), desc_b; trans_a / trans_b: 1 = MN-major operand.
void wgmma(int n, float *d, const uint32_t *a, uint64_t desc_a, uint64_t desc_b, bool accumulate, int trans_a,
           int trans_b);
// setmaxnreg.{inc,dec}: a warpgroup collective that checks 24 <= n <= 256, n % 8 == 0 and that all 128 threads ask
// for the same; no other effect.
void setmaxnreg(int n, bool inc);
// elect.sync 0xffffffff: true in the lowest lane of the warp that takes part (a warp collective).
bool elect_one();

// mbarrier.init (arrive_count 1 .. 2^20-1), mbarrier.arrive[.expect_tx] (tx_bytes 0: plain arrive).
void mbarrier_init(uint64_t *bar, uint32_t arrive_count);
void mbarrier_arrive(uint64_t *bar, uint32_t tx_bytes);
// mbarrier.try_wait.parity / the wait loop: lands the TMA copies attached to the barrier, then returns true once
// the phase of parity `parity` has completed. Both block the thread until then (try_wait may suspend the thread
// "until the phase completes or a time limit": the emulator always waits, so a spin on try_wait cannot livelock it).
bool mbarrier_wait(uint64_t *bar, uint32_t parity, bool is_try);
// cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.
void tma_load_2d(void *smem_dst, const CUtensorMap *map, int32_t c0, int32_t c1, uint64_t *bar);
// bar.sync (wait = true) / bar.arrive id, nthreads.
void named_barrier(int id, int nthreads, bool wait);
// Why the last cuTensorMapEncodeTiled call of this host thread returned CUDA_ERROR_INVALID_VALUE ("" after a
// success): the driver gives no reason, the emulator does, and tma.cu adds it to its error message.
const char *last_tensor_map_error();

// The swizzle the hardware applies to a shared-memory byte address for the descriptor / tensor-map swizzle modes
// (CuTe's Swizzle<B,4,3>: bits 7..7+B-1 of the address are XORed into bits 4..4+B-1, B = 3 for 128B, 2 for 64B, 1 for
// 32B): inside each 8-row atom of `span`-byte rows, 16-byte chunk c of row r is stored at chunk c ^ (r % (span/16))
// for 128B, c ^ (r/2 % 4) for 64B, c ^ (r/4 % 2) for 32B. mode: 0 none, 1 = 128B, 2 = 64B, 3 = 32B (descriptor
// values).
inline uint32_t swizzle_offset(uint32_t offset, uint32_t mode) {
    const uint32_t mask = mode == 1 ? 7u : mode == 2 ? 3u : mode == 3 ? 1u : 0u;
    return offset ^ (((offset >> 7) & mask) << 4);
}

}  // namespace sm90

namespace detail {
// Scheduler services for the sm90 emulation (emu_scheduler.cpp).
unsigned current_thread();   // linear index of the running thread in its block
unsigned block_threads();    // threads in the running block
size_t dynamic_smem_bytes();  // dynamic shared memory of the running launch
// Suspends the running thread until wake_thread(its index); `what`, `obj` and `arg` describe the wait in a deadlock
// report.
void block_current(const char *what, const void *obj, unsigned arg);
void wake_thread(unsigned thread);
// Warpgroup collective: like warp_collective for the 128 threads of the caller's warpgroup (warp / 4). When every
// thread of the warpgroup that has not returned has arrived, `op` runs once with in[i] / out[i] of thread i of the
// warpgroup (null for threads absent or returned; `arrived` counts the others); threads of one warpgroup in different
// collectives at the same time stop the run, naming both.
typedef void (*GroupOp)(const void *const in[128], void *const out[128], unsigned arrived, unsigned warpgroup);
void warpgroup_collective(GroupOp op, const char *name, const void *in, void *out);
// Called by the scheduler around each block (ptx_sm90_emu.cpp): resets the per-block sm90 state, and at the end
// reports work still in flight (wgmma groups never waited for, TMA copies never landed).
void sm90_block_begin(unsigned nthreads);
void sm90_block_end();
void tma_block_begin();  // tma_emu.cpp: mbarrier table, named barriers
void tma_block_end();
void tma_deadlock_report();  // the state of the mbarriers and named barriers threads wait on (stderr)
}  // namespace detail
}  // namespace emu
