// test_cuda_ops.cpp: every CUDA kernel against its CPU twin (the CPU backend's BF16 mode), on random inputs and edge
// shapes. Ops whose twin rounds at the same points with the same fp32/double arithmetic must agree bit for bit
// (on a real GPU, double-precision cos/exp may differ from the host's libm in the last bit, which can flip a rounding
// once in a very long while: at most one element in 10^5 is allowed to differ there, by one bf16 step). Attention
// differs from its twin in the order of fp32 sums and the exp implementation: it is held to 2 bf16 steps of the
// output scale, and additionally to an exact float64 softmax attention.
#include <algorithm>
#include <climits>
#include <cmath>

#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/thread_pool.h"
#include "cuda/kernels.h"
#include "cuda/schedule.h"
#include "cuda_test.h"
#include "rope.h"

using namespace cudatest;
using rir::bf16_to_f32;
using rir::round_bf16;
namespace cu = rir::cuda;
namespace cpu = rir::cpu;

namespace {

size_t allowed_mismatches(size_t n) { return kEmulated ? 0 : n / 100000; }

cpu::ThreadPool &pool() {
    static cpu::ThreadPool p(2);
    return p;
}

TEST_CASE(embed_gather_is_a_bit_copy) {
    std::mt19937 rng(1);
    for (int hidden : {64, 40, 7}) {  // 16-byte path, and the 2-byte path for rows that are not 16-byte aligned
        const int vocab = 50, T = 33;
        auto table = random_bf16(static_cast<size_t>(vocab) * hidden, rng);
        std::vector<int32_t> ids(T);
        for (auto &i : ids) i = static_cast<int32_t>(rng() % vocab);
        DeviceBuffer<uint16_t> dt(table), dout(static_cast<size_t>(T) * hidden);
        DeviceBuffer<int32_t> dids(ids);
        cu::embed_gather(dids.p, T, reinterpret_cast<cu::bf16 *>(dt.p), hidden, reinterpret_cast<cu::bf16 *>(dout.p), 0);
        auto out = dout.download();
        for (int t = 0; t < T; ++t)
            CHECK_MSG(std::memcmp(&out[static_cast<size_t>(t) * hidden], &table[static_cast<size_t>(ids[t]) * hidden],
                                  hidden * 2) == 0, "hidden " << hidden << " row " << t);
    }
}

TEST_CASE(residual_rmsnorm_matches_twin) {
    std::mt19937 rng(2);
    for (int hidden : {128, 100, 4096}) {
        for (bool with_residual : {false, true}) {
            const int T = hidden == 4096 ? 5 : 17;
            const size_t n = static_cast<size_t>(T) * hidden;
            auto h = random_bf16(n, rng, 3.0f), d = random_bf16(n, rng, 3.0f), w = random_bf16(hidden, rng, 2.0f);
            DeviceBuffer<uint16_t> dh(h), dd(d), dw(w), dy(n);
            cu::residual_rmsnorm(reinterpret_cast<cu::bf16 *>(dh.p), with_residual ? reinterpret_cast<cu::bf16 *>(dd.p) : nullptr,
                                 T, hidden, reinterpret_cast<cu::bf16 *>(dw.p), 1e-5f, reinterpret_cast<cu::bf16 *>(dy.p), 0);
            std::vector<float> hc = widen(h), dc = widen(d), y(n);
            if (with_residual) cpu::residual_add(pool(), cpu::select_isa(), hc.data(), dc.data(), static_cast<int64_t>(n), true);
            cpu::rmsnorm(pool(), cpu::select_isa(), hc.data(), T, hidden, w.data(), 1e-5f, true, y.data());
            const Diff dy_diff = compare(dy.download(), y), dh_diff = compare(dh.download(), hc);
            CHECK_MSG(dy_diff.mismatches <= allowed_mismatches(n), "hidden " << hidden << ": " << dy_diff.mismatches
                      << " of " << n << " outputs differ, max " << dy_diff.max_abs);
            CHECK_MSG(dh_diff.mismatches == 0, "residual stream differs in " << dh_diff.mismatches << " elements");
        }
    }
}

TEST_CASE(rope_matches_twin_bit_for_bit) {
    std::mt19937 rng(3);
    rir::LlamaConfig c;
    c.head_dim = 128;
    c.rope_theta = 500000.0;
    c.rope_scaling.llama3 = true;
    for (bool llama3 : {true, false}) {
        c.rope_scaling.llama3 = llama3;
        const std::vector<float> inv = rir::rope_inv_freq(c);
        const int half = c.head_dim / 2, n_heads = 5;
        const std::vector<int32_t> cu_seqlens = {0, 1, 300, 301, 9000};  // positions up to 8698
        const int T = cu_seqlens.back();
        std::vector<int32_t> pos(T);
        cu::token_positions(cu_seqlens.data(), 4, pos.data());
        const int64_t ld = static_cast<int64_t>(n_heads + 1) * c.head_dim;  // a row holds one more head: untouched
        auto x = random_bf16(static_cast<size_t>(T) * ld, rng, 4.0f);
        DeviceBuffer<int32_t> dpos(pos);
        DeviceBuffer<float> dinv(inv);
        DeviceBuffer<float2> dcs(static_cast<size_t>(T) * half);
        DeviceBuffer<uint16_t> dx(x);
        cu::rope_table(dpos.p, T, dinv.p, half, dcs.p, 0);
        cu::rope_apply(reinterpret_cast<cu::bf16 *>(dx.p), ld, T, n_heads, c.head_dim, dcs.p, 0);
        const int max_pos = 8699;
        std::vector<float> cos_t(static_cast<size_t>(max_pos) * half), sin_t(cos_t.size());
        cpu::rope_tables(inv, max_pos, true, cos_t.data(), sin_t.data());
        std::vector<float> xc = widen(x), ref(xc);
        // the twin works on [T, n_heads * head_dim] rows: apply it to a compact copy
        std::vector<float> compact(static_cast<size_t>(T) * n_heads * c.head_dim);
        for (int t = 0; t < T; ++t)
            std::copy_n(&xc[static_cast<size_t>(t) * ld], n_heads * c.head_dim, &compact[static_cast<size_t>(t) * n_heads * c.head_dim]);
        cpu::rope_apply(pool(), cpu::select_isa(), compact.data(), int64_t(n_heads) * c.head_dim, T, n_heads, c.head_dim, pos.data(), cos_t.data(), sin_t.data(), true);
        for (int t = 0; t < T; ++t)
            std::copy_n(&compact[static_cast<size_t>(t) * n_heads * c.head_dim], n_heads * c.head_dim, &ref[static_cast<size_t>(t) * ld]);
        const Diff diff = compare(dx.download(), ref);
        CHECK_MSG(diff.mismatches <= allowed_mismatches(ref.size()), (llama3 ? "llama3" : "plain") << ": "
                  << diff.mismatches << " of " << ref.size() << " differ, max " << diff.max_abs);
        auto cs = dcs.download();
        size_t table_mismatch = 0;
        for (int t = 0; t < T; ++t)
            for (int i = 0; i < half; ++i) {
                const float2 g = cs[static_cast<size_t>(t) * half + i];
                if (g.x != cos_t[static_cast<size_t>(pos[t]) * half + i] || g.y != sin_t[static_cast<size_t>(pos[t]) * half + i]) ++table_mismatch;
            }
        CHECK_MSG(table_mismatch <= allowed_mismatches(cs.size()), table_mismatch << " table entries differ");
    }
}

TEST_CASE(swiglu_matches_twin) {
    std::mt19937 rng(4);
    for (int inter : {352, 7}) {
        const int T = 9;
        auto gu = random_bf16(static_cast<size_t>(T) * 2 * inter, rng, 6.0f);
        DeviceBuffer<uint16_t> dgu(gu), dout(static_cast<size_t>(T) * inter);
        cu::swiglu(reinterpret_cast<cu::bf16 *>(dgu.p), T, inter, reinterpret_cast<cu::bf16 *>(dout.p), 0);
        std::vector<float> g(static_cast<size_t>(T) * inter), u(g.size());
        for (int t = 0; t < T; ++t)
            for (int i = 0; i < inter; ++i) {
                g[static_cast<size_t>(t) * inter + i] = bf16_to_f32(gu[static_cast<size_t>(t) * 2 * inter + i]);
                u[static_cast<size_t>(t) * inter + i] = bf16_to_f32(gu[static_cast<size_t>(t) * 2 * inter + inter + i]);
            }
        cpu::swiglu(pool(), cpu::select_isa(), g.data(), u.data(), static_cast<int64_t>(g.size()), true);
        const Diff diff = compare(dout.download(), g);
        CHECK_MSG(diff.mismatches <= allowed_mismatches(g.size()), diff.mismatches << " differ, max " << diff.max_abs);
    }
}

// Which attention kernel a test runs: attention.cu (sm80, every device) or attention_sm90.cu (9.x devices only).
enum class AttnKernel { Sm80, Sm90 };

// The output [T, heads * head_dim] of one attention kernel on the fused QKV buffer `qkv` (row stride
// (heads + 2 kv_heads) * head_dim), with the tiles that kernel expects.
std::vector<uint16_t> run_attention(AttnKernel kernel, const std::vector<uint16_t> &qkv,
                                    const std::vector<int32_t> &cu_seqlens, int heads, int kv_heads, int head_dim) {
    const int n_seqs = static_cast<int>(cu_seqlens.size()) - 1, T = cu_seqlens.back();
    const int qd = heads * head_dim, kvd = kv_heads * head_dim;
    const auto tiles = cu::attention_tiles(cu_seqlens.data(), n_seqs,
                                           kernel == AttnKernel::Sm90 ? cu::kAttnSm90QueryTile : cu::kAttnQueryTile);
    DeviceBuffer<uint16_t> dqkv(qkv), dout(static_cast<size_t>(T) * qd);
    DeviceBuffer<cu::AttnTile> dtiles(tiles);
    cu::AttentionArgs a;
    a.q = reinterpret_cast<cu::bf16 *>(dqkv.p);
    a.k = a.q + qd;
    a.v = a.q + qd + kvd;
    a.ld_qkv = qd + 2 * kvd;
    a.out = reinterpret_cast<cu::bf16 *>(dout.p);
    a.ld_out = qd;
    a.tiles = dtiles.p;
    a.n_tiles = static_cast<int>(tiles.size());
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.head_dim = head_dim;
    a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    if (kernel == AttnKernel::Sm90) {
        cu::attention_sm90_prepare(head_dim);
        cu::attention_sm90(a, T, 0);
    } else {
        cu::attention_prepare(head_dim);
        cu::attention(a, 0);
    }
    rir::cuda::check(cudaGetLastError(), "attention launch");
    return dout.download();
}

// Whether the sm90 kernel can run here (its machine code exists for sm_90a only; the emulator reports 9.0).
bool have_sm90(const char *test) {
    int dev = 0, major = 0;
    rir::cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
    rir::cuda::check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), "compute capability");
    if (major == 9) return true;
    std::printf("%s: skipped, device %d has compute capability %d.x (the sm90 kernel needs 9.x)\n", test, dev, major);
    return false;
}

// Attention on one packed batch: GPU kernel vs the CPU twin and vs an exact float64 reference; the sm90 kernel also
// vs the sm80 kernel on the same input.
void check_attention(const std::vector<int32_t> &lens, int heads, int kv_heads, int head_dim, uint32_t seed,
                     AttnKernel kernel = AttnKernel::Sm80) {
    std::mt19937 rng(seed);
    std::vector<int32_t> cu_seqlens{0};
    for (int32_t l : lens) cu_seqlens.push_back(cu_seqlens.back() + l);
    const int n_seqs = static_cast<int>(lens.size()), T = cu_seqlens.back();
    const int qd = heads * head_dim, kvd = kv_heads * head_dim, ld = qd + 2 * kvd;
    auto qkv = random_bf16(static_cast<size_t>(T) * ld, rng, 1.0f);
    // Sharper scores than uniform noise: scale q up so that the softmax is far from flat.
    for (int t = 0; t < T; ++t)
        for (int j = 0; j < qd; ++j) {
            uint16_t &b = qkv[static_cast<size_t>(t) * ld + j];
            b = rir::f32_to_bf16(bf16_to_f32(b) * 6.0f);
        }
    const auto got = run_attention(kernel, qkv, cu_seqlens, heads, kv_heads, head_dim);

    // CPU twin (BF16 mode).
    std::vector<float> q(static_cast<size_t>(T) * qd), k(static_cast<size_t>(T) * kvd), v(k.size());
    for (int t = 0; t < T; ++t) {
        for (int j = 0; j < qd; ++j) q[static_cast<size_t>(t) * qd + j] = bf16_to_f32(qkv[static_cast<size_t>(t) * ld + j]);
        for (int j = 0; j < kvd; ++j) {
            k[static_cast<size_t>(t) * kvd + j] = bf16_to_f32(qkv[static_cast<size_t>(t) * ld + qd + j]);
            v[static_cast<size_t>(t) * kvd + j] = bf16_to_f32(qkv[static_cast<size_t>(t) * ld + qd + kvd + j]);
        }
    }
    std::vector<float> kv(cpu::attention_kv_floats(T, n_seqs, kv_heads, head_dim)),
        scratch(cpu::attention_thread_floats(heads, kv_heads, head_dim) * static_cast<size_t>(pool().size())),
        twin(static_cast<size_t>(T) * qd);
    cpu::attention(pool(), cpu::select_isa(), q.data(), qd, k.data(), v.data(), kvd, cu_seqlens.data(), n_seqs, heads,
                   kv_heads, head_dim, true, twin.data(), kv.data(), scratch.data());
    const Diff d_twin = compare(got, twin);

    // Exact reference: float64 softmax attention of the same bf16 inputs.
    double max_exact = 0;
    const int group = heads / kv_heads;
    std::vector<double> p;
    for (int s = 0; s < n_seqs; ++s)
        for (int h = 0; h < heads; ++h)
            for (int i = cu_seqlens[s]; i < cu_seqlens[s + 1]; ++i) {
                const int kvh = h / group;
                p.assign(static_cast<size_t>(lens[s]), 0.0);
                double mx = -INFINITY;
                for (int j = cu_seqlens[s]; j < cu_seqlens[s + 1]; ++j) {
                    double dot = 0;
                    for (int e = 0; e < head_dim; ++e)
                        dot += static_cast<double>(q[static_cast<size_t>(i) * qd + h * head_dim + e]) *
                               k[static_cast<size_t>(j) * kvd + kvh * head_dim + e];
                    p[static_cast<size_t>(j - cu_seqlens[s])] = dot / std::sqrt(static_cast<double>(head_dim));
                    mx = std::max(mx, p[static_cast<size_t>(j - cu_seqlens[s])]);
                }
                double sum = 0;
                for (double &x : p) sum += (x = std::exp(x - mx));
                for (int e = 0; e < head_dim; ++e) {
                    double o = 0;
                    for (int j = cu_seqlens[s]; j < cu_seqlens[s + 1]; ++j)
                        o += p[static_cast<size_t>(j - cu_seqlens[s])] * v[static_cast<size_t>(j) * kvd + kvh * head_dim + e];
                    o /= sum;
                    max_exact = std::max(max_exact, std::fabs(o - bf16_to_f32(got[static_cast<size_t>(i) * qd + h * head_dim + e])));
                }
            }
    const double step = 1.0 / 128;  // one bf16 step at magnitude 1 (values here are in [-1, 1])
    std::printf("attention %s heads %d/%d head_dim %d, %d tokens: vs twin %zu of %zu differ (max %.3g), vs float64 max %.3g\n",
                kernel == AttnKernel::Sm90 ? "sm90" : "sm80", heads, kv_heads, head_dim, T, d_twin.mismatches, got.size(), d_twin.max_abs, max_exact);
    CHECK_MSG(d_twin.max_abs <= 2 * step, "head_dim " << head_dim << ": max diff vs twin " << d_twin.max_abs);
    CHECK_MSG(max_exact <= 3 * step, "head_dim " << head_dim << ": max diff vs float64 " << max_exact);
    // Most elements agree exactly with the twin (same rounding points); a few P roundings flip.
    CHECK_MSG(d_twin.mismatches <= got.size() / 20, d_twin.mismatches << " of " << got.size() << " differ from the twin");
    if (kernel == AttnKernel::Sm90) {
        // Same rounding points as the sm80 kernel: on a GPU only the tensor cores' fp32 summation order differs (the
        // twin's tolerances); the emulator sums both kernels' products in the same order, so there they must agree
        // bit for bit, and any difference is an indexing or layout error.
        const Diff d_sm80 = compare(got, widen(run_attention(AttnKernel::Sm80, qkv, cu_seqlens, heads, kv_heads, head_dim)));
        std::printf("  sm90 vs sm80: %zu of %zu differ (max %.3g)\n", d_sm80.mismatches, got.size(), d_sm80.max_abs);
        CHECK_MSG(d_sm80.max_abs <= (kEmulated ? 0.0 : 2 * step), "max diff vs sm80 " << d_sm80.max_abs);
        CHECK_MSG(d_sm80.mismatches <= (kEmulated ? 0 : got.size() / 20), d_sm80.mismatches << " of " << got.size()
                  << " differ from the sm80 kernel");
    }
}

TEST_CASE(attention_edge_lengths_gqa_head_dim_128) { check_attention({1, 7, 64, 65, 130}, 4, 2, 128, 5); }
TEST_CASE(attention_mha_head_dim_64) { check_attention({2, 63, 129}, 2, 2, 64, 6); }
TEST_CASE(attention_unaligned_head_dim) { check_attention({5, 70}, 2, 1, 36, 7); }  // 36 % 8 != 0: element loads
TEST_CASE(attention_head_dim_256) { check_attention({3, 80}, 2, 1, 256, 8); }
TEST_CASE(attention_long_sequence) {
    // 8192 tokens on the GPU; under the emulator (8192 x 8192 scores per head would take minutes there) one head of
    // 1024 tokens, which still walks 16 key tiles per query tile.
    if (kEmulated) check_attention({1024}, 1, 1, 128, 9);
    else check_attention({8192}, 2, 1, 128, 9);
}

// The sm90 kernel (TMA + wgmma, 128-row query tiles) on the shapes above: lengths that are not multiples of the
// 64-key step or the 128-row tile, 1-token sequences, GQA, key steps reading the next sequence's rows and past the
// end of the buffer (zero fill), and a sequence long enough for the 4-slot K/V ring to wrap several times.
TEST_CASE(attention_sm90_edge_lengths_gqa_head_dim_128) {
    if (have_sm90("attention_sm90_edge_lengths_gqa_head_dim_128"))
        check_attention({1, 7, 64, 65, 130}, 4, 2, 128, 5, AttnKernel::Sm90);
}
TEST_CASE(attention_sm90_mha_head_dim_64) {
    if (have_sm90("attention_sm90_mha_head_dim_64")) check_attention({2, 63, 129, 1}, 2, 2, 64, 6, AttnKernel::Sm90);
}
TEST_CASE(attention_sm90_gqa_group_of_4) {
    // ReasonIR-8B's ratio (32 query heads over 8 kv heads), lengths that are whole 128-row tiles (no row of the last
    // tile is past the buffer) and one that is not.
    if (have_sm90("attention_sm90_gqa_group_of_4")) check_attention({128, 256, 3}, 8, 2, 128, 12, AttnKernel::Sm90);
}
TEST_CASE(attention_sm90_long_sequence) {
    if (!have_sm90("attention_sm90_long_sequence")) return;
    // Emulated: 600 tokens = 10 key steps (each ring slot is filled 2 or 3 times: the mbarrier phases flip) and 5
    // query tiles; GPU: as attention_long_sequence.
    if (kEmulated) check_attention({600}, 2, 1, 128, 9, AttnKernel::Sm90);
    else check_attention({8192}, 2, 1, 128, 9, AttnKernel::Sm90);
}
TEST_CASE(attention_sm90_refuses_what_it_does_not_support) {
    for (int d : {0, 32, 36, 96, 256}) {
        CHECK_MSG(!cu::attention_sm90_supports(d), "head_dim " << d);
        CHECK(cu::attention_sm90_smem_bytes(d) == 0);
        CHECK_THROWS(cu::attention_sm90_prepare(d), RIR_ERR_INVALID_ARGUMENT, "not supported");
    }
    for (int d : {64, 128}) {
        CHECK_MSG(cu::attention_sm90_supports(d), "head_dim " << d);
        CHECK(cu::attention_sm90_smem_bytes(d) > 0);
    }
    // Arguments it cannot serve throw before anything is launched (no device memory is touched: the pointers are
    // only checked, never dereferenced).
    DeviceBuffer<uint16_t> buf(4096);
    DeviceBuffer<cu::AttnTile> tiles(1);
    cu::AttentionArgs a;
    a.q = reinterpret_cast<cu::bf16 *>(buf.p);
    a.heads = 2;
    a.kv_heads = 1;
    a.head_dim = 64;
    a.k = a.q + 128;
    a.v = a.k + 64;
    a.ld_qkv = 256;
    a.out = reinterpret_cast<cu::bf16 *>(buf.p);
    a.ld_out = 128;
    a.tiles = tiles.p;
    a.n_tiles = 1;
    a.scale = 0.125f;
#if defined(REASONIR_CUDA_EMU)
    const unsigned long long launches = emu::launches();
#endif
    cu::AttentionArgs b = a;
    b.head_dim = 256;
    CHECK_THROWS(cu::attention_sm90(b, 8, 0), RIR_ERR_INVALID_ARGUMENT, "head_dim 256 is not supported");
    b = a;
    b.ld_qkv = 260;  // rows not 16-byte aligned: TMA cannot address them
    CHECK_THROWS(cu::attention_sm90(b, 8, 0), RIR_ERR_INVALID_ARGUMENT, "16-byte aligned");
    b = a;
    b.q = a.q + 1;
    CHECK_THROWS(cu::attention_sm90(b, 8, 0), RIR_ERR_INVALID_ARGUMENT, "16-byte aligned");
    b = a;
    b.v = a.k;  // v overlapping k
    CHECK_THROWS(cu::attention_sm90(b, 8, 0), RIR_ERR_INVALID_ARGUMENT, "consecutive column ranges");
    b = a;
    b.heads = 3;
    b.kv_heads = 2;
    CHECK_THROWS(cu::attention_sm90(b, 8, 0), RIR_ERR_INVALID_ARGUMENT, "multiple of kv_heads");
    CHECK_THROWS(cu::attention_sm90(a, 0, 0), RIR_ERR_INVALID_ARGUMENT, "total_tokens");
#if defined(REASONIR_CUDA_EMU)
    CHECK(emu::launches() == launches);
#endif
}

TEST_CASE(final_norm_pool_matches_twin_bit_for_bit) {
    std::mt19937 rng(10);
    const int H = 96;
    // pool_start 0, > 0 and len - 1; a sequence of one pooled token; sequences of several pooling chunks.
    const std::vector<int32_t> lens = {1, 5, 64, 65, 200, 3}, starts = {0, 2, 0, 64, 7, 2};
    std::vector<int32_t> cu_seqlens{0};
    for (int32_t l : lens) cu_seqlens.push_back(cu_seqlens.back() + l);
    const int n = static_cast<int>(lens.size()), T = cu_seqlens.back();
    auto h = random_bf16(static_cast<size_t>(T) * H, rng, 2.0f), d = random_bf16(h.size(), rng, 2.0f),
         w = random_bf16(H, rng, 1.5f);
    const cu::PoolPlan plan = cu::pool_plan(cu_seqlens.data(), starts.data(), n);
    for (bool normalize : {true, false}) {
        DeviceBuffer<uint16_t> dh(h), dd(d), dw(w);
        DeviceBuffer<cu::PoolChunk> dchunks(plan.chunks);
        DeviceBuffer<cu::PoolSeq> dseqs(plan.seqs);
        DeviceBuffer<double> dpartial(static_cast<size_t>(std::max(plan.n_partials, 1)) * H);
        DeviceBuffer<float> dout(static_cast<size_t>(n) * H);
        cu::PoolArgs a;
        a.h = reinterpret_cast<cu::bf16 *>(dh.p);
        a.d = reinterpret_cast<cu::bf16 *>(dd.p);
        a.hidden = H;
        a.w = reinterpret_cast<cu::bf16 *>(dw.p);
        a.eps = 1e-5f;
        a.chunks = dchunks.p;
        a.n_chunks = static_cast<int>(plan.chunks.size());
        a.seqs = dseqs.p;
        a.n_seqs = n;
        a.partial = dpartial.p;
        a.out = dout.p;
        a.normalize = normalize;
        cu::final_norm_pool_prepare(H);
        cu::final_norm_pool(a, 0);
        const auto got = dout.download();
        std::vector<float> hc = widen(h), dc = widen(d), y(hc.size()), ref(static_cast<size_t>(n) * H);
        cpu::residual_add(pool(), cpu::select_isa(), hc.data(), dc.data(), static_cast<int64_t>(hc.size()), true);
        cpu::rmsnorm(pool(), cpu::select_isa(), hc.data(), T, H, w.data(), 1e-5f, true, y.data());
        rir::PackedBatch b;
        b.cu_seqlens = cu_seqlens.data();
        b.pool_start = starts.data();
        b.n_seqs = n;
        cpu::mean_pool(pool(), y.data(), H, b, normalize, ref.data());
        size_t mismatches = 0;
        double max_abs = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            mismatches += got[i] != ref[i];
            max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[i]) - ref[i]));
        }
        CHECK_MSG(mismatches <= allowed_mismatches(ref.size()) && max_abs <= (kEmulated ? 0.0 : 1e-6),
                  (normalize ? "normalized" : "pooled") << ": " << mismatches << " differ, max " << max_abs);
    }
}

TEST_CASE(find_nonfinite_reports_the_first_bad_element) {
    std::mt19937 rng(11);
    auto data = random_bf16(100000, rng);
    for (int64_t bad : {-1L, 0L, 77777L, 99999L}) {
        auto copy = data;
        if (bad >= 0) {
            copy[static_cast<size_t>(bad)] = 0x7fc0;                         // NaN
            if (bad + 10 < 100000) copy[static_cast<size_t>(bad) + 10] = 0xff80;  // -Inf later: the first one wins
        }
        DeviceBuffer<uint16_t> dd(copy);
        DeviceBuffer<unsigned long long> res(1);
        rir::cuda::check(cudaMemset(res.p, 0xff, sizeof(unsigned long long)), "memset");
        cu::find_nonfinite(reinterpret_cast<cu::bf16 *>(dd.p), static_cast<int64_t>(copy.size()), res.p, 0);
        const unsigned long long got = res.download()[0];
        CHECK_MSG(got == (bad < 0 ? ULLONG_MAX : static_cast<unsigned long long>(bad)), "planted at " << bad << ", found " << got);
    }
}

}  // namespace

// `test_cuda_ops [NAME_PART]`: only the cases whose name contains NAME_PART (gpu-check.sh runs racecheck on
// `attention`).
int main(int argc, char **argv) {
    require_gpu();
    return check::run_all(argc > 1 ? argv[1] : nullptr);
}
