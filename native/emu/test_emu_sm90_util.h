// test_emu_sm90_util.h: what the Hopper emulation tests (test_emu_sm90.cpp, test_emu_sm90_sync.cpp: one executable)
// share: the layout tables written from the PTX ISA, the D-fragment positions, a reference product, and a helper
// that runs code in a forked child and expects the emulator to stop it with a given message. Internal linkage: each
// file gets its own copy.
//
// The layouts here are written independently of ptx_sm90_emu.cpp, from the PTX ISA text: element positions of the
// D and A register fragments (figures "WGMMA .m64nNk16 register fragment layout for accumulator matrix D / matrix
// A"), and the canonical shared-memory layouts ("Shared Memory Matrix Layout": 8 x 16-byte core matrices without
// swizzle; 8-row atoms of 32/64/128-byte rows with swizzle, whose 16-byte chunks are permuted by the XOR tables
// kXor32/kXor64/kXor128 below, the patterns of the ISA's / CUDA guide's swizzle figures), and they place data with
// those tables, not with the emulator's bit formula.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/cuda_compat.h"
#include "cuda/ptx_sm90.cuh"
#include "cuda/tma.h"
#include "error.h"
#include "test_emu_util.h"

using rir::cuda::sm90::Swizzle;
namespace sm90 = rir::cuda::sm90;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Layout tables, written from the ISA (see the file comment). xor[r]: the chunk permutation of row r of an 8-row atom.
const uint32_t kXor128[8] = {0, 1, 2, 3, 4, 5, 6, 7};
const uint32_t kXor64[8] = {0, 0, 1, 1, 2, 2, 3, 3};
const uint32_t kXor32[8] = {0, 0, 0, 0, 1, 1, 1, 1};

inline uint32_t span_of(Swizzle sw) {
    return sw == Swizzle::B128 ? 128 : sw == Swizzle::B64 ? 64 : sw == Swizzle::B32 ? 32 : 16;
}

// Byte position of byte `b` (0..span-1) of row r of an atom with swizzle sw (the atom starts at a multiple of its
// size).
inline uint32_t in_atom(Swizzle sw, uint32_t r, uint32_t b) {
    const uint32_t *x = sw == Swizzle::B128 ? kXor128 : sw == Swizzle::B64 ? kXor64 : kXor32;
    const uint32_t chunk = b / 16, chunks = span_of(sw) / 16;
    return r * span_of(sw) + ((chunk ^ (x[r % 8] % chunks)) * 16) + b % 16;
}

// An operand in shared memory: swizzle, major-ness, LBO, SBO (bytes, as written in the descriptor), the byte offset
// of k-step kk, and the position of element (mn, k) for the whole K extent.
struct Operand {
    Swizzle sw;
    bool mn_major;
    uint32_t lbo, sbo;
    uint32_t offset(uint32_t mn, uint32_t k) const {
        const uint32_t kk = k / 16, kr = k % 16;
        if (sw == Swizzle::None) {
            // Core matrix: 8 rows x 16 bytes; K-major rows are M/N, MN-major rows are K. LBO steps along K, SBO along
            // M/N (ISA: "leading dimension byte offset ... K dimension" for K-major; for MN-major no-swizzle layouts
            // likewise LBO along K, SBO along M/N, as CuTe's ((1,n),(8,k)):((X,SBO),(1,LBO)) reads).
            if (!mn_major) return kstep(kk) + (mn / 8) * sbo + (kr / 8) * lbo + (mn % 8) * 16 + (kr % 8) * 2;
            return kstep(kk) + (mn / 8) * sbo + (kr / 8) * lbo + (kr % 8) * 16 + (mn % 8) * 2;
        }
        const uint32_t span = span_of(sw);
        if (!mn_major) {
            // Rows are M/N, of `span` bytes of K; the K-steps sit side by side in the row (start + 32 * kk).
            return (mn / 8) * sbo + in_atom(sw, mn % 8, k * 2);
        }
        // Rows are K, of `span` bytes of M/N; blocks of span/2 M/N elements LBO apart, groups of 8 K rows SBO apart.
        const uint32_t w = span / 2;
        return kstep(kk) + (mn / w) * lbo + (kr / 8) * sbo + in_atom(sw, kr % 8, (mn % w) * 2);
    }
    uint32_t kstep(uint32_t kk) const {
        if (sw == Swizzle::None) return kk * 2 * lbo;
        if (!mn_major) return kk * 32;
        return kk * 2 * sbo;
    }
};

// D fragment (ISA figure for .m64nNk16 D): register i of thread thr of the warpgroup.
inline void d_position(int thr, int i, int *row, int *col) {
    const int warp = thr / 32, lane = thr % 32, g = lane / 4, t = lane % 4;
    *row = 16 * warp + g + ((i % 4) >= 2 ? 8 : 0);
    *col = 8 * (i / 4) + 2 * t + (i % 2);
}

inline uint16_t bf(float f) { return emu::f32_to_bf16_rn(f); }
inline float fb(uint16_t h) { return emu::bf16_to_f32(h); }

// Runs `f` in a forked child and expects the emulator to stop it (SIGABRT) with `needle` in its stderr, which is
// passed on to the test log.
inline bool dies_with(const std::function<void()> &f, const char *needle) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        f();
        _exit(0);
    }
    close(fds[1]);
    std::string err;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) err.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::fprintf(stderr, "  (child stderr) %s", err.c_str());
    const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    CHECK_MSG(aborted, "child was not stopped by the emulator; stderr: " << err);
    CHECK_MSG(err.find(needle) != std::string::npos, "stderr lacks '" << needle << "': " << err);
    return aborted && err.find(needle) != std::string::npos;
}

// Reference: D = C + A*B, exact bf16 products summed in fp32 in k order (the emulator's documented numerics).
inline std::vector<float> reference(int N, int K, const std::vector<float> &A, const std::vector<float> &B,
                             const std::vector<float> &C, bool accumulate) {
    std::vector<float> out(128 * N / 2);
    for (int thr = 0; thr < 128; ++thr)
        for (int i = 0; i < N / 2; ++i) {
            int r, c;
            d_position(thr, i, &r, &c);
            float acc = accumulate ? C[thr * (N / 2) + i] : 0.0f;
            for (int k = 0; k < K; ++k) acc += A[r * K + k] * B[k * N + c];
            out[thr * (N / 2) + i] = acc;
        }
    return out;
}

inline std::vector<float> random_bf16(size_t n, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> v(n);
    for (float &x : v) x = fb(bf(u(rng)));
    return v;
}

// A rows x cols bf16 tensor whose element (r, c) is the bf16 of (r * cols + c) % 251 + 1 (never 0: zero fill shows).
inline float tensor_value(int r, int c, int cols) { return static_cast<float>((r * cols + c) % 251 + 1); }

}  // namespace
