// emu_scheduler.cpp: kernel execution in the CUDA emulator (see cuda_emu.h for the model, README.md for what it
// proves): one fiber per CUDA thread, a round-robin scheduler per block, barriers and warp collectives as rendezvous.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "cuda_emu.h"
#include "emu_state.h"
#include "ptx_sm90_emu.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {
using namespace state;
}  // namespace emu

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

// WarpGroup and Blocked: the sm90 additions (warpgroup collectives; mbarrier and named-barrier waits).
enum class State : uint8_t { Ready, Barrier, Warp, WarpGroup, Blocked, Done };

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
    // State::Blocked: what the thread waits for (block_current), for the deadlock report.
    const char *wait_what = nullptr;
    const void *wait_obj = nullptr;
    unsigned wait_arg = 0;
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

// sm90: a rendezvous of the 128 threads of a warpgroup (warpgroup_collective).
struct WarpGroupSync {
    unsigned arrived = 0;
    GroupOp op = nullptr;
    const char *name = nullptr;
    const void *in[128] = {};  // non-null: that thread of the warpgroup has arrived
    void *out[128] = {};
};

struct Scheduler {
    // Stacks: one mapping, a PROT_NONE guard page below each stack so an overflow faults instead of corrupting
    // the neighbour. Mapped lazily with MAP_NORESERVE and reused by every launch.
    char *region = nullptr;
    size_t region_bytes = 0, stack_bytes = 0, capacity = 0;

    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    std::vector<WarpGroupSync> groups;
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

// sm90: completes warpgroup g's pending collective once every thread of it that has not returned has arrived.
unsigned group_live(unsigned g) {
    unsigned n = 0;
    for (unsigned w = 4 * g; w < 4 * g + 4 && w < g_sched.warps.size(); ++w)
        n += static_cast<unsigned>(__builtin_popcount(g_sched.warps[w].live));
    return n;
}
bool try_complete_group(unsigned g, int self) {
    Scheduler &s = g_sched;
    if (g >= s.groups.size()) return false;
    WarpGroupSync &wg = s.groups[g];
    if (wg.arrived == 0 || wg.arrived < group_live(g)) return false;
    const void *in[128];
    void *out[128];
    for (int i = 0; i < 128; ++i) {
        in[i] = wg.in[i];
        out[i] = wg.out[i];
    }
    GroupOp op = wg.op;
    const unsigned arrived = wg.arrived;
    wg.arrived = 0;
    wg.op = nullptr;
    for (int i = 0; i < 128; ++i) {
        wg.in[i] = nullptr;
        wg.out[i] = nullptr;
    }
    op(in, out, arrived, g);
    for (int i = 0; i < 128; ++i) {
        const unsigned t = 128 * g + static_cast<unsigned>(i);
        if (!out[i] && !in[i]) continue;
        if (static_cast<int>(t) == self) continue;
        s.fibers[t].state = State::Ready;
        s.push(t);
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
    try_complete_group(f.warp / 4, -1);
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
        case State::WarpGroup: return "warpgroup collective";
        case State::Blocked: return "blocked";
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
    for (State st : {State::Barrier, State::Warp, State::WarpGroup, State::Blocked}) {
        int shown = 0;
        for (size_t i = 0; i < nthreads && shown < 4; ++i) {
            const Fiber &f = s.fibers[i];
            if (f.state != st) continue;
            if (st == State::Blocked)
                std::fprintf(stderr, "  thread (%u,%u,%u) warp %u lane %u: waiting in %s (%p, %u)\n", f.tid.x, f.tid.y,
                             f.tid.z, f.warp, f.lane, f.wait_what, f.wait_obj, f.wait_arg);
            else if (st == State::WarpGroup)
                std::fprintf(stderr, "  thread (%u,%u,%u) warp %u lane %u: waiting in warpgroup collective %s\n",
                             f.tid.x, f.tid.y, f.tid.z, f.warp, f.lane, s.groups[f.warp / 4].name);
            else
                std::fprintf(stderr, "  thread (%u,%u,%u) warp %u lane %u: waiting in %s\n", f.tid.x, f.tid.y,
                             f.tid.z, f.warp, f.lane, state_name(f.state));
            ++shown;
        }
    }
    for (size_t wi = 0; wi < s.warps.size(); ++wi) {
        const Warp &w = s.warps[wi];
        if (w.arrived)
            std::fprintf(stderr, "  warp %zu: collective mask 0x%08x, arrived 0x%08x, live 0x%08x\n", wi, w.mask,
                         w.arrived, w.live);
    }
    tma_deadlock_report();
    std::abort();
}

void run_block(const LaunchSpec &spec, size_t nthreads) {
    Scheduler &s = g_sched;
    unsigned bx = spec.block.x, by = spec.block.y;
    size_t nwarps = (nthreads + 31) / 32;
    s.warps.assign(nwarps, Warp());
    s.groups.assign((nwarps + 3) / 4, WarpGroupSync());
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
    sm90_block_begin(static_cast<unsigned>(nthreads));
    while (s.q_size) resume(s.pop());
    if (s.live) deadlock(nthreads);
    sm90_block_end();
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

// sm90 scheduler services (declared in ptx_sm90_emu.h).
unsigned current_thread() { return g_sched.current; }
unsigned block_threads() { return static_cast<unsigned>(g_sched.queue.size()); }
size_t dynamic_smem_bytes() { return g_sched.smem && g_sched.spec ? g_sched.spec->smem : 0; }

void block_current(const char *what, const void *obj, unsigned arg) {
    if (!g_in_kernel) fatal("%s called outside a kernel", what);
    Fiber &f = g_sched.fibers[g_sched.current];
    f.state = State::Blocked;
    f.wait_what = what;
    f.wait_obj = obj;
    f.wait_arg = arg;
    yield_to_scheduler();
}

void wake_thread(unsigned thread) {
    Fiber &f = g_sched.fibers[thread];
    if (f.state != State::Blocked) return;
    f.state = State::Ready;
    g_sched.push(thread);
}

void warpgroup_collective(GroupOp op, const char *name, const void *in, void *out) {
    if (!g_in_kernel) fatal("warpgroup instruction %s called outside a kernel", name);
    Scheduler &s = g_sched;
    Fiber &f = s.fibers[s.current];
    const unsigned g = f.warp / 4, i = s.current % 128;
    WarpGroupSync &wg = s.groups[g];
    if (wg.arrived == 0) {
        wg.op = op;
        wg.name = name;
    } else if (wg.op != op) {
        // The four warps of a warpgroup must issue the same sequence of warpgroup instructions.
        fatal("threads of warpgroup %u reached different warpgroup instructions at the same time (%s and %s): its "
              "4 warps must execute the same sequence", g, wg.name, name);
    }
    if (wg.in[i] || wg.out[i]) fatal("warpgroup collective %s entered twice by one thread", name);
    // Non-null markers even for instructions without inputs or outputs: they say who arrived.
    static const char present = 0;
    wg.in[i] = in ? in : &present;
    wg.out[i] = out ? out : const_cast<char *>(&present);
    ++wg.arrived;
    if (try_complete_group(g, static_cast<int>(s.current))) return;
    f.state = State::WarpGroup;
    yield_to_scheduler();
}

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
    // CUDA: "a kernel launch will fail if it is issued to a stream that is not associated to the current device".
    int device = -1;
    if (!stream_device(spec.stream, &device) || device != t_device) {
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

    // A fault injected on this device (emu::inject_error(device, e, n), EMU_FAULT): after its n launches, the next
    // valid launch fails with it instead of running; a sticky code then poisons this device's context only.
    {
        DeviceState &d = devices()[device];
        std::lock_guard<std::mutex> lock(d.fault_mu);
        if (d.fault_code != 0) {
            if (d.fault_after == 0) {
                const cudaError_t e = static_cast<cudaError_t>(d.fault_code);
                d.fault_code = 0;
                if (is_sticky(e)) d.sticky.store(e);
                record(e);
                return;
            }
            --d.fault_after;
        }
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
    // Dynamic shared memory: one buffer per launch, 1024-byte aligned (more than the 16 bytes CUDA promises): sm90
    // swizzles are computed on the offset in it, as the hardware computes them on the shared-memory address.
    void *smem = nullptr;
    if (spec.smem) {
        if (posix_memalign(&smem, 1024, (spec.smem + 1023) & ~size_t(1023)) != 0) fatal("out of host memory");
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
    devices()[device].launches.fetch_add(1);
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
