// ptx_emu.cpp: mma.m16n8k16 (bf16 -> fp32) and ldmatrix as warp collectives. Layouts: see ptx_emu.h.
#include "ptx_emu.h"

namespace emu {
namespace {

inline float lo_bf16(uint32_t r) { return bf16_to_f32(static_cast<unsigned short>(r & 0xffffu)); }
inline float hi_bf16(uint32_t r) { return bf16_to_f32(static_cast<unsigned short>(r >> 16)); }

struct MmaIn {
    uint32_t a[4];
    uint32_t b[2];
    float c[4];
};

void mma_op(const void *const in[32], void *const out[32], uint32_t participants) {
    if (participants != 0xffffffffu)
        detail::fatal("mma.sync executed by lanes 0x%08x only: all 32 lanes of the warp must execute it",
                      participants);
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; ++l) {
        const MmaIn &f = *static_cast<const MmaIn *>(in[l]);
        int g = l >> 2, t = l & 3;
        A[g][2 * t] = lo_bf16(f.a[0]);
        A[g][2 * t + 1] = hi_bf16(f.a[0]);
        A[g + 8][2 * t] = lo_bf16(f.a[1]);
        A[g + 8][2 * t + 1] = hi_bf16(f.a[1]);
        A[g][2 * t + 8] = lo_bf16(f.a[2]);
        A[g][2 * t + 9] = hi_bf16(f.a[2]);
        A[g + 8][2 * t + 8] = lo_bf16(f.a[3]);
        A[g + 8][2 * t + 9] = hi_bf16(f.a[3]);
        B[2 * t][g] = lo_bf16(f.b[0]);
        B[2 * t + 1][g] = hi_bf16(f.b[0]);
        B[2 * t + 8][g] = lo_bf16(f.b[1]);
        B[2 * t + 9][g] = hi_bf16(f.b[1]);
        C[g][2 * t] = f.c[0];
        C[g][2 * t + 1] = f.c[1];
        C[g + 8][2 * t] = f.c[2];
        C[g + 8][2 * t + 1] = f.c[3];
    }
    float D[16][8];
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 8; ++j) {
            float acc = C[i][j];
            for (int k = 0; k < 16; ++k) acc += A[i][k] * B[k][j];  // product exact: bf16 has 8 significant bits
            D[i][j] = acc;
        }
    for (int l = 0; l < 32; ++l) {
        float *d = static_cast<float *>(out[l]);
        int g = l >> 2, t = l & 3;
        d[0] = D[g][2 * t];
        d[1] = D[g][2 * t + 1];
        d[2] = D[g + 8][2 * t];
        d[3] = D[g + 8][2 * t + 1];
    }
}

struct LdmIn {
    const void *row;
    int count;
    bool trans;
};

void ldmatrix_op(const void *const in[32], void *const out[32], uint32_t participants) {
    if (participants != 0xffffffffu)
        detail::fatal("ldmatrix executed by lanes 0x%08x only: all 32 lanes of the warp must execute it",
                      participants);
    const LdmIn &first = *static_cast<const LdmIn *>(in[0]);
    const int count = first.count;
    const bool trans = first.trans;
    for (int l = 1; l < 32; ++l) {
        const LdmIn &f = *static_cast<const LdmIn *>(in[l]);
        if (f.count != count || f.trans != trans) detail::fatal("lanes of a warp executed different ldmatrix forms");
    }
    // M[j][r][c]: element c of row r of matrix j; row r of matrix j comes from lane 8j + r.
    uint16_t M[4][8][8];
    for (int j = 0; j < count; ++j)
        for (int r = 0; r < 8; ++r) {
            const void *row = static_cast<const LdmIn *>(in[8 * j + r])->row;
            if (reinterpret_cast<uintptr_t>(row) % 16 != 0)
                detail::fatal("ldmatrix row address %p (lane %d) is not 16-byte aligned", row, 8 * j + r);
            std::memcpy(M[j][r], row, 16);
        }
    for (int l = 0; l < 32; ++l) {
        uint32_t *reg = static_cast<uint32_t *>(out[l]);
        int q = l >> 2, p = 2 * (l & 3);
        for (int j = 0; j < count; ++j) {
            uint16_t e0 = trans ? M[j][p][q] : M[j][q][p];
            uint16_t e1 = trans ? M[j][p + 1][q] : M[j][q][p + 1];
            reg[j] = static_cast<uint32_t>(e0) | (static_cast<uint32_t>(e1) << 16);
        }
    }
}

}  // namespace

void mma_16816_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    MmaIn in;
    std::memcpy(in.a, a, sizeof(in.a));
    std::memcpy(in.b, b, sizeof(in.b));
    std::memcpy(in.c, c, sizeof(in.c));
    float out[4];  // d may alias c: written only after every lane's c has been read
    detail::warp_collective(&mma_op, 0xffffffffu, &in, out);
    std::memcpy(d, out, sizeof(out));
}

void ldmatrix(uint32_t *r, int count, bool trans, const void *row_addr) {
    if (count != 2 && count != 4) detail::fatal("ldmatrix with %d matrices: only .x2 and .x4 are emulated", count);
    LdmIn in{row_addr, count, trans};
    uint32_t out[4] = {0, 0, 0, 0};
    detail::warp_collective(&ldmatrix_op, 0xffffffffu, &in, out);
    std::memcpy(r, out, sizeof(uint32_t) * static_cast<size_t>(count));
}

}  // namespace emu
