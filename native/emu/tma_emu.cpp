// tma_emu.cpp: the asynchronous-copy side of the Hopper emulation (ptx_sm90_emu.h): tensor maps
// (cuTensorMapEncodeTiled, reached through cudaGetDriverEntryPoint[ByVersion]), cp.async.bulk.tensor 2D loads,
// mbarriers and named barriers.
//
// mbarrier state machine (PTX ISA, "Parallel Synchronization and Communication Instructions: mbarrier"): an object
// has an expected arrival count, a pending arrival count, a transaction count (tx-count) and a current phase. arrive
// decrements the pending count; expect_tx(b) adds b to the tx-count; complete_tx(b) (a TMA transfer landing)
// subtracts b. When the pending count is 0 and the tx-count is 0 the current phase completes: the phase number
// increments (its parity flips), the pending count is reset to the expected count. try_wait.parity(p) is true when
// the phase of parity p has completed, i.e. the current phase's parity is not p (so right after init, parity 1
// reads as completed: producers waiting for "empty" slots start with parity 1).
//
// The state is kept in a side table per running block keyed by the mbarrier's address, not in its 8 bytes: the
// emulator needs more than 64 bits per barrier (the TMA copies attached to it, the threads waiting). The 8 bytes
// hold a marker instead, checked at every use, so a barrier used before mbarrier.init, or overwritten by the kernel
// (shared memory reused while the barrier is live), stops the run.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu_state.h"
#include "ptx_sm90_emu.h"

namespace emu {
namespace sm90 {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Tensor maps: the parameters of cuTensorMapEncodeTiled, stored in the map's 128 bytes.
constexpr uint32_t kMapMagic = 0x544d4150u;  // "TMAP"
struct MapData {
    uint32_t magic, dtype, rank, esize;
    uint64_t addr;
    uint64_t dim[5];
    uint64_t stride[4];  // bytes, dimensions 1..rank-1
    uint32_t box[5];
    uint8_t estride[5], interleave, swizzle, l2, oob;
};
static_assert(sizeof(MapData) <= sizeof(CUtensorMap), "tensor map parameters must fit in 128 bytes");

thread_local std::string t_map_error;

CUresult map_fail(std::string why) {
    t_map_error = std::move(why);
    return CUDA_ERROR_INVALID_VALUE;
}

uint32_t element_size(int t) {
    switch (t) {
        case CU_TENSOR_MAP_DATA_TYPE_UINT8: return 1;
        case CU_TENSOR_MAP_DATA_TYPE_UINT16: case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
        case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16: return 2;
        case CU_TENSOR_MAP_DATA_TYPE_UINT32: case CU_TENSOR_MAP_DATA_TYPE_INT32: case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
        case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ: case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
        case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ: return 4;
        case CU_TENSOR_MAP_DATA_TYPE_UINT64: case CU_TENSOR_MAP_DATA_TYPE_INT64: case CU_TENSOR_MAP_DATA_TYPE_FLOAT64:
            return 8;
    }
    return 0;
}

// CUtensorMapSwizzle -> descriptor swizzle mode (1 = 128B, 2 = 64B, 3 = 32B) and span in bytes.
uint32_t map_mode(uint32_t sw) {
    return sw == CU_TENSOR_MAP_SWIZZLE_128B ? 1u : sw == CU_TENSOR_MAP_SWIZZLE_64B ? 2u
                                              : sw == CU_TENSOR_MAP_SWIZZLE_32B ? 3u : 0u;
}
uint32_t map_span(uint32_t sw) {
    return sw == CU_TENSOR_MAP_SWIZZLE_128B ? 128u : sw == CU_TENSOR_MAP_SWIZZLE_64B ? 64u
                                                : sw == CU_TENSOR_MAP_SWIZZLE_32B ? 32u : 0u;
}

// ---------------------------------------------------------------------------------------------------------------
// mbarriers and the TMA copies attached to them.
constexpr uint64_t kBarMarker = 0x6d62617272696572ull;  // "mbarrier": the 8 bytes of an initialized barrier

struct Copy {
    MapData map;
    uint32_t dst;  // shared-memory offset
    int32_t c0, c1;
    uint32_t bytes;
};

struct MBar {
    uint32_t expected = 0, pending = 0;
    int64_t tx = 0;
    uint32_t phase = 0;
    std::vector<Copy> copies;
    std::vector<unsigned> waiters;
};

std::unordered_map<const void *, MBar> g_bars;

struct NamedBarrier {
    int expected = 0, count = 0;
    std::vector<unsigned> waiters;
};
NamedBarrier g_named[16];

MBar &bar_of(const uint64_t *bar, const char *what) {
    if (reinterpret_cast<uintptr_t>(bar) % 8 != 0) detail::fatal("%s: mbarrier %p is not 8-byte aligned", what, bar);
    auto it = g_bars.find(bar);
    if (it == g_bars.end() || *bar != kBarMarker)
        detail::fatal("%s on %p: %s", what, static_cast<const void *>(bar),
                      it == g_bars.end() ? "not an mbarrier initialized in this block (mbarrier.init missing)"
                                         : "the mbarrier's 8 bytes were overwritten while it is in use");
    return it->second;
}

void complete_if_done(MBar &b) {
    if (b.pending != 0 || b.tx != 0) return;
    ++b.phase;
    b.pending = b.expected;
    std::vector<unsigned> w;
    w.swap(b.waiters);
    for (unsigned t : w) detail::wake_thread(t);
}

// The copy lands: every box element, zero outside the tensor, at its swizzled position.
void land(const Copy &c) {
    const MapData &m = c.map;
    char *smem = static_cast<char *>(dynamic_smem());
    const uint32_t mode = map_mode(m.swizzle), row_bytes = m.box[0] * m.esize;
    for (uint32_t r = 0; r < m.box[1]; ++r) {
        const int64_t gr = static_cast<int64_t>(c.c1) + r;
        const bool row_in = gr >= 0 && static_cast<uint64_t>(gr) < m.dim[1];
        // The part of the row inside the tensor must be readable device memory.
        if (row_in) {
            const int64_t lo = c.c0 < 0 ? 0 : c.c0;
            const int64_t hi = std::min<int64_t>(static_cast<int64_t>(c.c0) + m.box[0], static_cast<int64_t>(m.dim[0]));
            if (hi > lo) {
                const char *p = reinterpret_cast<const char *>(m.addr) + gr * m.stride[0] + lo * m.esize;
                if (!state::in_device(p, static_cast<size_t>(hi - lo) * m.esize))
                    detail::fatal("TMA load reads %p (%lld bytes, row %lld of the tensor map), outside any live device "
                                  "allocation", static_cast<const void *>(p),
                                  static_cast<long long>((hi - lo) * m.esize), static_cast<long long>(gr));
            }
        }
        for (uint32_t e = 0; e < m.box[0]; ++e) {
            const int64_t gc = static_cast<int64_t>(c.c0) + e;
            const uint32_t off = swizzle_offset(c.dst + r * row_bytes + e * m.esize, mode);
            if (row_in && gc >= 0 && static_cast<uint64_t>(gc) < m.dim[0])
                std::memcpy(smem + off, reinterpret_cast<const char *>(m.addr) + gr * m.stride[0] + gc * m.esize,
                            m.esize);
            else
                std::memset(smem + off, 0, m.esize);
        }
    }
}

}  // namespace

const char *last_tensor_map_error() { return t_map_error.c_str(); }

void mbarrier_init(uint64_t *bar, uint32_t arrive_count) {
    if (arrive_count < 1 || arrive_count > (1u << 20) - 1)
        detail::fatal("mbarrier.init %p with count %u: must be 1 .. 2^20-1", static_cast<void *>(bar), arrive_count);
    if (reinterpret_cast<uintptr_t>(bar) % 8 != 0) detail::fatal("mbarrier.init: %p is not 8-byte aligned", bar);
    auto it = g_bars.find(bar);
    if (it != g_bars.end() && (!it->second.copies.empty() || !it->second.waiters.empty()))
        detail::fatal("mbarrier.init on %p while TMA copies or waiting threads still use it", static_cast<void *>(bar));
    MBar b;
    b.expected = b.pending = arrive_count;
    g_bars[bar] = std::move(b);
    *bar = kBarMarker;
}

void mbarrier_arrive(uint64_t *bar, uint32_t tx_bytes) {
    MBar &b = bar_of(bar, tx_bytes ? "mbarrier.arrive.expect_tx" : "mbarrier.arrive");
    if (tx_bytes > (1u << 20) - 1) detail::fatal("mbarrier.arrive.expect_tx %u bytes: at most 2^20-1", tx_bytes);
    b.tx += tx_bytes;
    --b.pending;  // never 0 here: a phase that reaches 0 pending arrivals with tx 0 completes at once
    complete_if_done(b);
}

bool mbarrier_wait(uint64_t *bar, uint32_t parity, bool is_try) {
    const char *what = is_try ? "mbarrier.try_wait.parity" : "mbarrier wait";
    if (parity > 1) detail::fatal("%s with parity %u: 0 or 1", what, parity);
    for (;;) {
        MBar &b = bar_of(bar, what);
        // The copies land when someone looks: as late as the hardware could make them, so that reads of the
        // destination before the wait see the poison.
        if (!b.copies.empty()) {
            std::vector<Copy> copies;
            copies.swap(b.copies);
            for (const Copy &c : copies) {
                land(c);
                b.tx -= c.bytes;
            }
            complete_if_done(b);
        }
        if ((b.phase & 1u) != parity) return true;
        b.waiters.push_back(detail::current_thread());
        detail::block_current(what, bar, parity);
    }
}

void tma_load_2d(void *smem_dst, const CUtensorMap *map, int32_t c0, int32_t c1, uint64_t *bar) {
    MapData m;
    std::memcpy(&m, map, sizeof(m));
    if (m.magic != kMapMagic)
        detail::fatal("cp.async.bulk.tensor: %p is not a tensor map made by cuTensorMapEncodeTiled",
                      static_cast<const void *>(map));
    if (m.rank != 2) detail::fatal("cp.async.bulk.tensor.2d with a tensor map of rank %u", m.rank);
    if (m.interleave != CU_TENSOR_MAP_INTERLEAVE_NONE || m.estride[1] != 1 ||
        m.oob != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE)
        detail::fatal("cp.async.bulk.tensor: interleaved layouts, element strides and NaN out-of-bounds fill are not "
                      "emulated");
    // A swizzled box narrower than the swizzle span is valid for the driver, but where its rows land (at the box
    // pitch or at the span) is not documented clearly enough to emulate: refused rather than guessed.
    if (m.swizzle != CU_TENSOR_MAP_SWIZZLE_NONE && m.box[0] * m.esize != map_span(m.swizzle))
        detail::fatal("cp.async.bulk.tensor with a %u-byte box row under a %u-byte swizzle: the emulator only "
                      "models boxes whose inner dimension is exactly the swizzle span", m.box[0] * m.esize,
                      map_span(m.swizzle));
    const uint32_t dst = smem_offset(smem_dst);
    const uint32_t align = m.swizzle == CU_TENSOR_MAP_SWIZZLE_128B ? 1024u : 128u;
    if (dst % align != 0)
        detail::fatal("cp.async.bulk.tensor destination at shared offset %u is not %u-byte aligned", dst, align);
    const uint32_t bytes = m.box[0] * m.box[1] * m.esize;
    if (static_cast<size_t>(dst) + bytes > detail::dynamic_smem_bytes())
        detail::fatal("cp.async.bulk.tensor writes %u bytes at shared offset %u, past the %zu bytes of dynamic shared "
                      "memory", bytes, dst, detail::dynamic_smem_bytes());
    MBar &b = bar_of(bar, "cp.async.bulk.tensor (its mbarrier)");
    // Until the copy lands, the destination holds the poison (NaN as bf16/fp32), as a read before the wait might.
    std::memset(static_cast<char *>(smem_dst), 0xff, bytes);
    b.copies.push_back(Copy{m, dst, c0, c1, bytes});
    // Threads already waiting on the barrier observe it again (and land the copy) when they next run.
    std::vector<unsigned> w;
    w.swap(b.waiters);
    for (unsigned t : w) detail::wake_thread(t);
}

void named_barrier(int id, int nthreads, bool wait) {
    const char *what = wait ? "bar.sync" : "bar.arrive";
    if (id < 1 || id > 15) detail::fatal("%s %d: named barrier ids are 1..15 (0 is __syncthreads)", what, id);
    const unsigned block = (detail::block_threads() + 31) / 32 * 32;
    if (nthreads <= 0 || nthreads % 32 != 0 || static_cast<unsigned>(nthreads) > block)
        detail::fatal("%s %d, %d: the thread count must be a positive multiple of 32, at most the block's %u threads",
                      what, id, nthreads, detail::block_threads());
    NamedBarrier &nb = g_named[id];
    if (nb.count == 0)
        nb.expected = nthreads;
    else if (nb.expected != nthreads)
        detail::fatal("%s %d with %d threads while other threads use it with %d", what, id, nthreads, nb.expected);
    if (++nb.count == nb.expected) {
        nb.count = 0;
        std::vector<unsigned> w;
        w.swap(nb.waiters);
        for (unsigned t : w) detail::wake_thread(t);
        return;
    }
    if (!wait) return;
    nb.waiters.push_back(detail::current_thread());
    detail::block_current("named barrier (bar.sync id, nthreads)",
                          reinterpret_cast<const void *>(static_cast<uintptr_t>(id)), static_cast<unsigned>(nthreads));
}

}  // namespace sm90

namespace detail {
void tma_block_begin() {
    sm90::g_bars.clear();
    for (auto &nb : sm90::g_named) nb = sm90::NamedBarrier();
}
void tma_deadlock_report() {
    for (const auto &kv : sm90::g_bars) {
        const sm90::MBar &b = kv.second;
        if (b.waiters.empty()) continue;
        std::fprintf(stderr,
                     "  mbarrier %p: phase %u (parity %u), %u of %u arrivals pending, tx-count %lld, %zu TMA copies "
                     "attached, %zu threads waiting\n",
                     kv.first, b.phase, b.phase & 1u, b.pending, b.expected, static_cast<long long>(b.tx),
                     b.copies.size(), b.waiters.size());
    }
    for (int id = 1; id < 16; ++id)
        if (!sm90::g_named[id].waiters.empty())
            std::fprintf(stderr, "  named barrier %d: %d of %d threads arrived, %zu waiting\n", id,
                         sm90::g_named[id].count, sm90::g_named[id].expected, sm90::g_named[id].waiters.size());
}

void tma_block_end() {
    for (const auto &kv : sm90::g_bars)
        if (!kv.second.copies.empty())
            fatal("block finished with %zu TMA copies into shared memory (the first at offset %u) never landed: no "
                  "thread waited on their mbarrier %p", kv.second.copies.size(), kv.second.copies.front().dst,
                  kv.first);
}
}  // namespace detail
}  // namespace emu

// ---------------------------------------------------------------------------------------------------------------
// Driver API: the tensor map encoder, validating like cuTensorMapEncodeTiled's documentation (CUDA 13 cuda.h).
CUresult cuTensorMapEncodeTiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank,
                                void *globalAddress, const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                                const cuuint32_t *boxDim, const cuuint32_t *elementStrides,
                                CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
                                CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill) {
    using emu::sm90::map_fail;
    using std::to_string;
    if (!tensorMap || reinterpret_cast<uintptr_t>(tensorMap) % 64 != 0)
        return map_fail("tensorMap is null or not 64-byte aligned");
    const uint32_t esize = emu::sm90::element_size(tensorDataType);
    if (esize == 0) return map_fail("unknown tensorDataType " + to_string(tensorDataType));
    if (tensorRank < 1 || tensorRank > 5) return map_fail("tensorRank " + to_string(tensorRank) + " not in 1..5");
    if (interleave < CU_TENSOR_MAP_INTERLEAVE_NONE || interleave > CU_TENSOR_MAP_INTERLEAVE_32B)
        return map_fail("unknown interleave");
    if (interleave != CU_TENSOR_MAP_INTERLEAVE_NONE && tensorRank < 3)
        return map_fail("an interleaved layout needs tensorRank >= 3");
    if (swizzle < CU_TENSOR_MAP_SWIZZLE_NONE || swizzle > CU_TENSOR_MAP_SWIZZLE_128B)
        return map_fail("unknown or unemulated swizzle " + to_string(swizzle));
    if (l2Promotion < CU_TENSOR_MAP_L2_PROMOTION_NONE || l2Promotion > CU_TENSOR_MAP_L2_PROMOTION_L2_256B)
        return map_fail("unknown l2Promotion");
    if (oobFill < CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE || oobFill > CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA)
        return map_fail("unknown oobFill");
    const uintptr_t addr = reinterpret_cast<uintptr_t>(globalAddress);
    if (!globalAddress || addr % (interleave == CU_TENSOR_MAP_INTERLEAVE_32B ? 32 : 16) != 0)
        return map_fail("globalAddress is null or not 16-byte aligned (32 with 32B interleave)");
    if (!globalDim || !boxDim || !elementStrides || (tensorRank > 1 && !globalStrides))
        return map_fail("a null array argument");
    emu::sm90::MapData m;
    std::memset(&m, 0, sizeof(m));
    for (uint32_t i = 0; i < tensorRank; ++i) {
        if (globalDim[i] == 0 || globalDim[i] > (uint64_t(1) << 32))
            return map_fail("globalDim[" + to_string(i) + "] = " + to_string(globalDim[i]) + " not in 1..2^32");
        if (boxDim[i] == 0 || boxDim[i] > 256)
            return map_fail("boxDim[" + to_string(i) + "] = " + to_string(boxDim[i]) + " not in 1..256");
        if (elementStrides[i] == 0 || elementStrides[i] > 8)
            return map_fail("elementStrides[" + to_string(i) + "] not in 1..8");
        m.dim[i] = globalDim[i];
        m.box[i] = boxDim[i];
        m.estride[i] = static_cast<uint8_t>(elementStrides[i]);
    }
    for (uint32_t i = 0; i + 1 < tensorRank; ++i) {
        const uint64_t s = globalStrides[i];
        if (s % (interleave == CU_TENSOR_MAP_INTERLEAVE_32B ? 32 : 16) != 0 || s >= (uint64_t(1) << 40))
            return map_fail("globalStrides[" + to_string(i) + "] = " + to_string(s) +
                            " is not a multiple of 16 below 2^40");
        m.stride[i] = s;
    }
    const uint32_t inner = boxDim[0] * esize;
    if (interleave == CU_TENSOR_MAP_INTERLEAVE_NONE) {
        if (inner % 16 != 0)
            return map_fail("boxDim[0] * element size = " + to_string(inner) + " bytes is not a multiple of 16");
        const uint32_t span = emu::sm90::map_span(swizzle);
        if (span && inner > span)
            return map_fail("the box's inner dimension (" + to_string(inner) + " bytes) exceeds the swizzle span (" +
                            to_string(span) + " bytes)");
    }
    if (interleave == CU_TENSOR_MAP_INTERLEAVE_32B && swizzle != CU_TENSOR_MAP_SWIZZLE_32B)
        return map_fail("32B interleave requires 32B swizzle");
    m.magic = emu::sm90::kMapMagic;
    m.dtype = static_cast<uint32_t>(tensorDataType);
    m.rank = tensorRank;
    m.esize = esize;
    m.addr = addr;
    m.interleave = static_cast<uint8_t>(interleave);
    m.swizzle = static_cast<uint8_t>(swizzle);
    m.l2 = static_cast<uint8_t>(l2Promotion);
    m.oob = static_cast<uint8_t>(oobFill);
    std::memset(tensorMap, 0, sizeof(*tensorMap));
    std::memcpy(tensorMap, &m, sizeof(m));
    emu::sm90::t_map_error.clear();
    return CUDA_SUCCESS;
}

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                             unsigned long long flags,
                                             cudaDriverEntryPointQueryResult *driverStatus) {
    using namespace emu::state;
    EMU_ENTER(false);
    if (!symbol || !funcPtr || flags > 2) return record(cudaErrorInvalidValue);
    *funcPtr = nullptr;
    cudaDriverEntryPointQueryResult st = cudaDriverEntryPointSymbolNotFound;
    if (std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0) {
        // Introduced in CUDA 12.0: an older version asked for is "not sufficient".
        if (cudaVersion >= 12000) {
            *funcPtr = reinterpret_cast<void *>(&cuTensorMapEncodeTiled);
            st = cudaDriverEntryPointSuccess;
        } else {
            st = cudaDriverEntryPointVersionNotSufficent;
        }
    }
    if (driverStatus) *driverStatus = st;
    return cudaSuccess;
}

cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                    cudaDriverEntryPointQueryResult *driverStatus) {
    return cudaGetDriverEntryPointByVersion(symbol, funcPtr, static_cast<unsigned>(emu::state::kRuntimeVersion), flags,
                                            driverStatus);
}
