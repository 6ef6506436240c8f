// gemm_amx.cpp: the AMX-BF16 GEMM kernel (Intel Sapphire Rapids and later), for the BF16 mode's projections (see
// gemm.h). One microkernel call computes a 32 x 32 block of Y over one K block with eight tile registers: C00..C11
// (4 fp32 tiles of 16 x 16), A0/A1 (16 rows x 32 bf16 of X each), B0/B1 (16 pairs x 16 columns of the packed panel,
// which is the tiles' own "VNNI" layout: row p of B holds (W[n][2p], W[n][2p+1]) for 16 columns n). Each tdpbf16ps is
// 16 x 16 x 32 products summed into fp32, exact products of bf16 values. X is read in place from the driver's bf16
// copy (rows padded to 32 and K to 32 with zeros); the panel's K is padded to whole 16-pair steps with zeros, so the
// padded products add exact zeros. Each element of C sums its K pairs in one fixed order whatever the other rows.
#include <cstdint>
#include <cstring>
#include <utility>

#include "cpu/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define RIR_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace rir {
namespace cpu {
namespace {

constexpr int kAmxMr = 32, kAmxNr = 32, kAmxKc = 1024;
constexpr int kPairsPerStep = 16;  // K pairs per tile step (a tile row is 64 bytes: 32 bf16 of X, 16 pairs of W)

// The 64-byte tile configuration (palette 1): all eight tiles 16 rows x 64 bytes.
struct alignas(64) TileConfig {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

}  // namespace

RIR_AMX void amx_begin() {
    static const TileConfig cfg = [] {
        TileConfig c;
        std::memset(&c, 0, sizeof c);
        c.palette = 1;
        for (int t = 0; t < 8; ++t) {
            c.colsb[t] = 64;
            c.rows[t] = 16;
        }
        return c;
    }();
    _tile_loadconfig(&cfg);
}

RIR_AMX void amx_end() { _tile_release(); }

namespace {

template <bool TwoRowTiles>
RIR_AMX void ukr_amx_impl(int kcb, const void *xv, int64_t ldx, const void *pv, float *y, int64_t ldy, int m,
                          int ncols, bool accumulate) {
    const bf16_t *x = static_cast<const bf16_t *>(xv);
    const uint32_t *p = static_cast<const uint32_t *>(pv);
    const int steps = ((kcb + 1) / 2 + kPairsPerStep - 1) / kPairsPerStep;
    const int64_t xstride = ldx * static_cast<int64_t>(sizeof(bf16_t));
    constexpr int64_t kPanelStride = kAmxNr * sizeof(uint32_t);  // bytes between pair rows of the panel
    _tile_zero(0);
    _tile_zero(1);
    if (TwoRowTiles) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int s = 0; s < steps; ++s) {
        _tile_loadd(4, x + s * 2 * kPairsPerStep, xstride);
        if (TwoRowTiles) _tile_loadd(5, x + 16 * ldx + s * 2 * kPairsPerStep, xstride);
        _tile_loadd(6, p + s * kPairsPerStep * kAmxNr, kPanelStride);
        _tile_loadd(7, p + s * kPairsPerStep * kAmxNr + 16, kPanelStride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (TwoRowTiles) {
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    alignas(64) float c[kAmxMr][kAmxNr];
    _tile_stored(0, c[0], kPanelStride);
    _tile_stored(1, c[0] + 16, kPanelStride);
    if (TwoRowTiles) {
        _tile_stored(2, c[16], kPanelStride);
        _tile_stored(3, c[16] + 16, kPanelStride);
    }
    const __mmask16 m0 = ncols >= 16 ? __mmask16(0xffff) : __mmask16((1u << ncols) - 1);
    const __mmask16 m1 = ncols >= 32 ? __mmask16(0xffff) : ncols > 16 ? __mmask16((1u << (ncols - 16)) - 1) : 0;
    for (int i = 0; i < m; ++i) {
        float *yi = y + i * ldy;
        __m512 a0 = _mm512_load_ps(c[i]), a1 = _mm512_load_ps(c[i] + 16);
        if (accumulate) {
            a0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yi), a0);
            a1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yi + 16), a1);
        }
        _mm512_mask_storeu_ps(yi, m0, a0);
        _mm512_mask_storeu_ps(yi + 16, m1, a1);
    }
}

template <int M>
RIR_AMX void ukr_amx(int kcb, const void *x, int64_t ldx, const void *panel, float *y, int64_t ldy, int ncols,
                     bool accumulate) {
    ukr_amx_impl<(M > 16)>(kcb, x, ldx, panel, y, ldy, M, ncols, accumulate);
}

template <int... I>
GemmKernels make_amx(std::integer_sequence<int, I...>) {
    GemmKernels g{"amx", kAmxMr, kAmxNr, kAmxKc, true, nullptr, {nullptr, &ukr_amx<I + 1>...}};
    g.k_align = kPairsPerStep;
    g.direct_x = true;
    g.begin = amx_begin;
    g.end = amx_end;
    g.round_rows = gemm_kernels_avx512bf16().round_rows;
    return g;
}

}  // namespace

const GemmKernels &gemm_kernels_amx() {
    static const GemmKernels k = make_amx(std::make_integer_sequence<int, kAmxMr>());
    return k;
}

}  // namespace cpu
}  // namespace rir
#endif  // __x86_64__ (elsewhere gemm_x86.cpp maps every x86 kernel set to the scalar one)
