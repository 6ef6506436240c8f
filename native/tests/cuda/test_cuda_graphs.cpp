// test_cuda_graphs.cpp: CUDA graphs in the CUDA backend (cuda_graphs ON): a batch of at most
// RIR_CUDA_GRAPH_MAX_TOKENS tokens runs as a graph captured once per shape and replayed after; the embeddings are
// bit-identical to plain launches; the cache is bounded; a failed capture falls back to plain launches; graphs are
// destroyed at close. Built for a GPU and for the emulator (_emu); the cases that inject errors run on the emulator
// only.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "cpu/cpu_backend.h"
#include "cuda_test.h"
#include "reasonir.h"

using namespace cudatest;

namespace {

std::string fixture_dir(const std::string &name) { return check::env_or_die("REASONIR_GENERATED") + "/" + name; }

// A batch of random token ids: one sequence per length, pooled from pool_start (0 when not given).
struct Batch {
    std::vector<int32_t> ids, cu{0}, pool;
    Batch(const std::vector<int> &lens, const std::vector<int> &pool_start, int vocab, unsigned seed) {
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
        for (size_t i = 0; i < lens.size(); ++i) {
            for (int t = 0; t < lens[i]; ++t) ids.push_back(tok(rng));
            cu.push_back(cu.back() + lens[i]);
            pool.push_back(i < pool_start.size() ? pool_start[i] : 0);
        }
    }
    rir::PackedBatch view() const {
        rir::PackedBatch b;
        b.token_ids = ids.data();
        b.cu_seqlens = cu.data();
        b.pool_start = pool.data();
        b.n_seqs = static_cast<int>(pool.size());
        return b;
    }
};

struct Pair {
    std::unique_ptr<rir::Checkpoint> ck;
    std::unique_ptr<rir::Backend> graphs, plain;
    int hidden = 0, vocab = 0;
};

std::unique_ptr<rir::Backend> open_backend(const rir::Checkpoint &ck, rir_cuda_graphs mode, int cache = 0) {
    rir::cuda::CudaOptions o;
    o.max_batch_tokens = 1024;
    o.cuda_graphs = mode;
    o.cuda_graph_cache = cache;
    return rir::cuda::make_cuda_backend(ck.config(), ck.weights(), o);
}

Pair open_pair(const std::string &fixture, int cache = 0) {
    Pair p;
    p.ck = rir::Checkpoint::open(fixture_dir(fixture));
    p.graphs = open_backend(*p.ck, RIR_CUDA_GRAPHS_ON, cache);
    p.plain = open_backend(*p.ck, RIR_CUDA_GRAPHS_OFF);
    p.hidden = p.ck->config().hidden;
    p.vocab = p.ck->config().vocab;
    return p;
}

std::vector<float> embed(rir::Backend &b, const Batch &x, bool normalize, int hidden) {
    std::vector<float> out(x.pool.size() * static_cast<size_t>(hidden));
    b.embed(x.view(), normalize, out.data());
    return out;
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

rir::cuda::CudaGraphStats stats(const rir::Backend &b) { return rir::cuda::cuda_graph_stats(b); }

struct Shape {
    std::vector<int> lens, pool_start;
    bool normalize;
};

// Several shapes, each new one captured; each again with other token ids: replayed (no capture), with the bits of
// plain launches both times (the replay must read the new ids, positions and plans uploaded before it).
void check_shapes(const std::string &fixture, const std::vector<Shape> &shapes) {
    Pair p = open_pair(fixture);
    CHECK(stats(*p.graphs).enabled);
    CHECK(!stats(*p.plain).enabled);
    CHECK(p.graphs->device().find("cuda graphs") != std::string::npos);
    unsigned seed = 1;
    int64_t captures = 0, replays = 0;
    for (const Shape &s : shapes) {
        for (int round = 0; round < 2; ++round) {
            const Batch x(s.lens, s.pool_start, p.vocab, seed++);
            const std::vector<float> g = embed(*p.graphs, x, s.normalize, p.hidden);
            const std::vector<float> r = embed(*p.plain, x, s.normalize, p.hidden);
            const rir::cuda::CudaGraphStats st = stats(*p.graphs);
            if (round == 0) ++captures;
            ++replays;
            CHECK_MSG(same_bits(g, r), fixture << ": " << x.ids.size() << " tokens in " << s.lens.size()
                                               << " sequences, round " << round << ": graph and plain differ");
            CHECK_MSG(st.captures == captures && st.replays == replays,
                      fixture << ": " << x.ids.size() << " tokens, round " << round << ": captures " << st.captures
                              << " (expected " << captures << "), replays " << st.replays << " (expected "
                              << replays << ")");
            CHECK(st.plain == 0);
            CHECK(st.failures == 0);
        }
    }
    CHECK(stats(*p.graphs).cached == static_cast<int64_t>(shapes.size()));
    const rir::cuda::CudaGraphStats off = stats(*p.plain);
    CHECK(off.captures == 0 && off.replays == 0 && off.cached == 0);
    CHECK(off.plain == static_cast<int64_t>(2 * shapes.size()));
}

TEST_CASE(graphs_give_the_bits_of_plain_launches_and_replay_a_known_shape) {
    check_shapes("plain_mha", {{{1}, {}, true},
                               {{7}, {}, true},
                               {{32}, {}, true},
                               {{100}, {}, true},
                               {{7}, {}, false},            // normalize is part of the shape
                               {{5, 17, 3}, {}, true},      // packed sequences
                               {{40, 24}, {}, true},        // the same 64 tokens, other tiles and chunks
                               {{20, 9, 30}, {3, 0, 29}, true}});  // pool_start: only the last tokens pooled
}

TEST_CASE(graphs_with_grouped_query_attention) {
    check_shapes("llama3_gqa", {{{13}, {}, true}, {{6, 11}, {1, 0}, true}});
}

TEST_CASE(a_batch_above_the_graph_limit_runs_plain) {
    Pair p = open_pair("plain_mha");
    const Batch at({RIR_CUDA_GRAPH_MAX_TOKENS}, {}, p.vocab, 5);
    const Batch above({RIR_CUDA_GRAPH_MAX_TOKENS - 10, 11}, {}, p.vocab, 6);
    CHECK(same_bits(embed(*p.graphs, at, true, p.hidden), embed(*p.plain, at, true, p.hidden)));
    rir::cuda::CudaGraphStats st = stats(*p.graphs);
    CHECK(st.captures == 1 && st.replays == 1 && st.plain == 0);
    CHECK(same_bits(embed(*p.graphs, above, true, p.hidden), embed(*p.plain, above, true, p.hidden)));
    st = stats(*p.graphs);
    CHECK(st.captures == 1 && st.replays == 1 && st.plain == 1);
    CHECK(st.enabled);  // a large batch does not turn graphs off
    CHECK(st.cached == 1);
}

TEST_CASE(the_graph_cache_keeps_its_bound_least_recently_used_out) {
    Pair p = open_pair("plain_mha", /*cache=*/3);
    auto run = [&](int tokens) {
        const Batch x({tokens}, {}, p.vocab, static_cast<unsigned>(100 + tokens));
        CHECK(same_bits(embed(*p.graphs, x, true, p.hidden), embed(*p.plain, x, true, p.hidden)));
    };
    for (int t = 1; t <= 5; ++t) run(t);
    rir::cuda::CudaGraphStats st = stats(*p.graphs);
    CHECK(st.cached == 3 && st.captures == 5 && st.evictions == 2);
    run(5);  // kept: replayed
    st = stats(*p.graphs);
    CHECK(st.captures == 5 && st.replays == 6);
    run(3);  // the least recently used of 3, 4, 5, now the most recent
    run(1);  // evicted before: captured again, which evicts 4
    st = stats(*p.graphs);
    CHECK(st.captures == 6 && st.evictions == 3 && st.cached == 3);
    run(3);
    run(5);
    CHECK(stats(*p.graphs).captures == 6);
    run(4);
    CHECK(stats(*p.graphs).captures == 7);
    CHECK(stats(*p.graphs).cached == 3);
}

TEST_CASE(the_default_cache_bound_is_kMaxCudaGraphs) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    auto g = open_backend(*ck, RIR_CUDA_GRAPHS_ON);
    const int vocab = ck->config().vocab, H = ck->config().hidden;
    for (int t = 1; t <= rir::cuda::kMaxCudaGraphs + 2; ++t) {
        const Batch x({t}, {}, vocab, static_cast<unsigned>(t));
        embed(*g, x, true, H);
    }
    const rir::cuda::CudaGraphStats st = stats(*g);
    CHECK(st.cached == rir::cuda::kMaxCudaGraphs);
    CHECK(st.captures == rir::cuda::kMaxCudaGraphs + 2);
    CHECK(st.evictions == 2);
}

TEST_CASE(graphs_off_by_default_and_stats_of_another_backend_are_refused) {
    auto ck = rir::Checkpoint::open(fixture_dir("plain_mha"));
    rir::cuda::CudaOptions o;
    auto g = rir::cuda::make_cuda_backend(ck->config(), ck->weights(), o);  // AUTO
    CHECK(stats(*g).enabled == rir::cuda::kAutoCudaGraphs);
    o.cuda_graph_cache = -1;
    o.cuda_graphs = RIR_CUDA_GRAPHS_ON;
    CHECK_THROWS(rir::cuda::make_cuda_backend(ck->config(), ck->weights(), o), RIR_ERR_INVALID_ARGUMENT,
                 "cuda_graph_cache");
    rir::CpuOptions c;
    c.precision = RIR_PRECISION_BF16;
    auto cpu = rir::make_cpu_backend(ck->config(), ck->weights(), c);
    CHECK_THROWS(stats(*cpu), RIR_ERR_INVALID_ARGUMENT, "cuda_graph_stats");
}

// Through the C API: cuda_graphs ON and OFF give the same vectors.
TEST_CASE(c_api_cuda_graphs_on_and_off_agree) {
    const std::string dir = fixture_dir("h256_l4");
    const int32_t ids[] = {128000, 5, 6, 7, 9, 11}, cu[] = {0, 4, 6}, pool[] = {1, 0};
    std::vector<float> on, off;
    for (rir_cuda_graphs mode : {RIR_CUDA_GRAPHS_ON, RIR_CUDA_GRAPHS_OFF}) {
        rir_open_options o;
        rir_open_options_init(&o);
        o.model_dir = dir.c_str();
        o.device = "cuda";
        o.cuda_graphs = mode;
        rir_model *m = nullptr;
        char err[512];
        REQUIRE(rir_open(&o, &m, err, sizeof err) == RIR_OK);
        std::vector<float> out(2 * static_cast<size_t>(rir_hidden_size(m)));
        for (int i = 0; i < 2; ++i)  // the second call replays
            CHECK(rir_embed(m, ids, cu, pool, 2, 1, out.data(), static_cast<int64_t>(out.size())) == RIR_OK);
        (mode == RIR_CUDA_GRAPHS_ON ? on : off) = out;
        rir_close(m);
    }
    CHECK(same_bits(on, off));
}

#if defined(REASONIR_CUDA_EMU)
// Graphs are destroyed at close (and no capture leaves a graph behind).
TEST_CASE(no_graph_outlives_its_backend) {
    const int graphs0 = emu::live_graphs(), execs0 = emu::live_graph_execs();
    {
        Pair p = open_pair("plain_mha");
        for (int t : {3, 9, 3, 17}) embed(*p.graphs, Batch({t}, {}, p.vocab, 7), true, p.hidden);
        CHECK(stats(*p.graphs).cached == 3);
        CHECK(emu::live_graph_execs() == execs0 + 3);
        CHECK(emu::live_graphs() == graphs0);  // the captured graph goes once instantiated
    }
    CHECK(emu::live_graph_execs() == execs0);
    CHECK(emu::live_graphs() == graphs0);
}

// A capture or instantiation that fails (not sticky) turns graphs off for the backend, silently, clears the error
// and runs the batch with plain launches: the same bits, and later batches run plain too.
TEST_CASE(a_failed_capture_falls_back_to_plain_launches) {
    struct Case {
        const char *call;
        cudaError_t error;
    };
    for (const Case &k : {Case{"cudaStreamBeginCapture", cudaErrorNotSupported},
                          Case{"cudaStreamEndCapture", cudaErrorStreamCaptureInvalidated},
                          Case{"cudaGraphInstantiate", cudaErrorMemoryAllocation}}) {
        emu::reset();
        Pair p = open_pair("plain_mha");
        const int graphs0 = emu::live_graphs(), execs0 = emu::live_graph_execs();
        const Batch x({11, 4}, {}, p.vocab, 3);
        REQUIRE(emu::inject_graph_error(k.call, k.error));
        const std::vector<float> g = embed(*p.graphs, x, true, p.hidden);
        CHECK_MSG(same_bits(g, embed(*p.plain, x, true, p.hidden)), k.call);
        CHECK(cudaGetLastError() == cudaSuccess);  // cleared
        rir::cuda::CudaGraphStats st = stats(*p.graphs);
        CHECK_MSG(!st.enabled && st.failures == 1 && st.captures == 0 && st.replays == 0 && st.plain == 1, k.call);
        CHECK_MSG(st.last_failure.find(k.call) != std::string::npos, st.last_failure);
        CHECK(emu::live_graphs() == graphs0 && emu::live_graph_execs() == execs0);
        CHECK(same_bits(embed(*p.graphs, x, true, p.hidden), g));
        st = stats(*p.graphs);
        CHECK(st.plain == 2 && st.captures == 0 && st.failures == 1);
    }
    emu::reset();
}

// A sticky error is a device fault, not a capture problem: the backend is poisoned as after any fault, whether it
// hits the capture or a replay.
TEST_CASE(a_sticky_error_in_capture_or_replay_poisons_the_backend) {
    emu::reset();
    {
        Pair p = open_pair("plain_mha");
        const Batch x({6}, {}, p.vocab, 4);
        REQUIRE(emu::inject_graph_error("cudaStreamBeginCapture", cudaErrorIllegalAddress));
        CHECK_THROWS(embed(*p.graphs, x, true, p.hidden), RIR_ERR_DEVICE, "cudaErrorIllegalAddress");
        CHECK_THROWS(embed(*p.graphs, x, true, p.hidden), RIR_ERR_DEVICE, "unusable after an earlier CUDA error");
    }
    emu::reset();
    {
        Pair p = open_pair("plain_mha");
        const Batch x({6}, {}, p.vocab, 4);
        embed(*p.graphs, x, true, p.hidden);  // captured
        REQUIRE(emu::inject_error(0, cudaErrorIllegalAddress, 3));  // the replay's fourth kernel faults
        CHECK_THROWS(embed(*p.graphs, x, true, p.hidden), RIR_ERR_DEVICE, "cudaErrorIllegalAddress");
        CHECK(!emu::fault_pending(0));
        CHECK(stats(*p.graphs).replays == 1);  // the faulted launch is not counted
        CHECK_THROWS(embed(*p.graphs, x, true, p.hidden), RIR_ERR_DEVICE, "unusable after an earlier CUDA error");
    }
    emu::reset();
}
#endif

}  // namespace

int main() {
    require_gpu();
    return check::run_all();
}
