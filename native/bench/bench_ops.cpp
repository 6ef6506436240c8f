// bench_ops.cpp: where the CPU forward pass spends its time, op by op (the benchmark suite's per-op table).
//
//   bench_ops --model DIR (--seq-len S [--batch-tokens B] | --lengths L1,L2,...) [--precision fp32|bf16]
//             [--iters N] [--warmup W] [--threads T] [--json]
//
// Builds the CPU backend on the checkpoint (the kernels of REASONIR_CPU_ISA, as the engine would pick them), runs W
// warm-up and N timed forward passes of one batch of random token ids (floor(B / S) sequences of S tokens, or one
// sequence of each given length) with the backend's per-op timer installed (cpu/profile.h), and prints for each op
// the milliseconds per forward pass, its share of the total, and what it achieved: GFLOP/s for the matrix products,
// GB/s of activations for the memory-bound ops (model_cost.h says what is counted).
// --json prints one JSON object last: {"isa", "precision", "threads", "seq_len", "batch_tokens", "n_seqs",
// "total_ms", "tokens_per_s", "gflops", "ops": [{"op", "ms", "share", "gflops"|null, "gbps"|null}]}.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "cpu/cpu_backend.h"
#include "error.h"
#include "model_cost.h"

namespace {

const char *kUsage =
    "usage: bench_ops --model DIR (--seq-len S [--batch-tokens B] | --lengths L1,L2,...) [--precision fp32|bf16] "
    "[--iters N] [--warmup W] [--threads T] [--json]\n";

[[noreturn]] void usage(const std::string &msg) {
    std::fprintf(stderr, "error: %s\n%s", msg.c_str(), kUsage);
    std::exit(2);
}

int64_t parse_int(const std::string &flag, const std::string &v) {
    char *end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || x < 0) usage(flag + " needs a non-negative integer");
    return x;
}

}  // namespace

int main(int argc, char **argv) {
    std::string model_dir, precision = "fp32";
    int64_t seq_len = 0, batch_tokens = 0, iters = 3, warmup = 1, threads = 0;
    std::vector<int64_t> lengths;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::printf("%sTimes each op of the CPU forward pass (see the header of native/bench/bench_ops.cpp).\n",
                        kUsage);
            return 0;
        }
        if (a == "--json") {
            json = true;
            continue;
        }
        if (i + 1 >= argc) usage("missing value after " + a);
        const std::string v = argv[++i];
        if (a == "--model") model_dir = v;
        else if (a == "--seq-len") seq_len = parse_int(a, v);
        else if (a == "--batch-tokens") batch_tokens = parse_int(a, v);
        else if (a == "--iters") iters = parse_int(a, v);
        else if (a == "--warmup") warmup = parse_int(a, v);
        else if (a == "--threads") threads = parse_int(a, v);
        else if (a == "--precision") precision = v;
        else if (a == "--lengths") {
            for (size_t pos = 0; pos <= v.size();) {
                size_t comma = v.find(',', pos);
                if (comma == std::string::npos) comma = v.size();
                const int64_t len = parse_int(a, v.substr(pos, comma - pos));
                if (len <= 0) usage("--lengths needs positive integers");
                lengths.push_back(len);
                pos = comma + 1;
            }
        } else usage("unknown flag " + a);
    }
    if (model_dir.empty() || (seq_len <= 0 && lengths.empty())) usage("--model and --seq-len (or --lengths) are required");
    if (!lengths.empty() && (seq_len > 0 || batch_tokens > 0)) usage("--lengths replaces --seq-len and --batch-tokens");
    if (precision != "fp32" && precision != "bf16") usage("--precision must be fp32 or bf16");
    if (iters <= 0) usage("--iters must be > 0");
    if (lengths.empty()) lengths.assign(std::max<int64_t>(1, batch_tokens / seq_len), seq_len);
    seq_len = *std::max_element(lengths.begin(), lengths.end());

    try {
        auto ck = rir::Checkpoint::open(model_dir);
        const rir::LlamaConfig &cfg = ck->config();
        int64_t total = 0;
        for (int64_t l : lengths) total += l;
        rir::CpuOptions o;
        o.num_threads = static_cast<int>(threads);
        o.precision = precision == "bf16" ? RIR_PRECISION_BF16 : RIR_PRECISION_FP32;
        o.max_batch_tokens = total;
        rir::cpu::CpuBackend be(cfg, ck->weights(), o);

        std::vector<int32_t> ids(total), cu(lengths.size() + 1, 0), pool_start(lengths.size(), 0);
        std::mt19937 rng(12345);
        std::uniform_int_distribution<int32_t> dist(0, cfg.vocab - 1);
        for (auto &t : ids) t = dist(rng);
        for (size_t s = 0; s < lengths.size(); ++s) cu[s + 1] = static_cast<int32_t>(cu[s] + lengths[s]);
        rir::PackedBatch batch;
        batch.token_ids = ids.data();
        batch.cu_seqlens = cu.data();
        batch.pool_start = pool_start.data();
        batch.n_seqs = static_cast<int32_t>(lengths.size());
        std::vector<float> out(lengths.size() * static_cast<size_t>(cfg.hidden));

        for (int64_t i = 0; i < warmup; ++i) be.embed(batch, true, out.data());
        rir::cpu::OpProfile prof;
        be.set_profile(&prof);
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < iters; ++i) be.embed(batch, true, out.data());
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
        be.set_profile(nullptr);

        const rir::bench::ModelCost cost(cfg, lengths);
        std::printf("%s, %s, %d threads; %zu sequences of up to %" PRId64 " tokens = %" PRId64 " tokens; %" PRId64
                    " timed forward passes\n",
                    be.device().c_str(), precision.c_str(), be.num_threads(), lengths.size(), seq_len, total, iters);
        std::printf("%-11s %10s %7s %12s\n", "op", "ms", "share", "achieved");
        std::string ops_json;
        double sum = 0;
        for (int i = 0; i < static_cast<int>(rir::cpu::Op::kCount); ++i) sum += prof.seconds[i];
        for (int i = 0; i < static_cast<int>(rir::cpu::Op::kCount); ++i) {
            const double s = prof.seconds[i] / iters;
            if (prof.seconds[i] == 0) continue;
            const std::string name = rir::cpu::op_name(static_cast<rir::cpu::Op>(i));
            const double fl = cost.flops(name), by = cost.bytes(name);
            char rate[64] = "";
            if (fl > 0) std::snprintf(rate, sizeof rate, "%8.1f GFLOP/s", fl / s / 1e9);
            else if (by > 0) std::snprintf(rate, sizeof rate, "%8.2f GB/s", by / s / 1e9);
            std::printf("%-11s %10.3f %6.1f%% %s\n", name.c_str(), s * 1e3, 100 * prof.seconds[i] / sum, rate);
            char buf[256];
            std::snprintf(buf, sizeof buf, "%s{\"op\": \"%s\", \"ms\": %.4f, \"share\": %.5f, \"gflops\": %s, \"gbps\": %s}",
                          ops_json.empty() ? "" : ", ", name.c_str(), s * 1e3, prof.seconds[i] / sum,
                          fl > 0 ? std::to_string(fl / s / 1e9).c_str() : "null",
                          by > 0 ? std::to_string(by / s / 1e9).c_str() : "null");
            ops_json += buf;
        }
        const double tps = static_cast<double>(total) / wall;
        std::printf("total       %10.3f ms per forward (%.3f ms timed by ops), %.1f tokens/s, %.1f GFLOP/s\n",
                    wall * 1e3, sum / iters * 1e3, tps, cost.total_flops() / wall / 1e9);
        if (json)
            std::printf("{\"isa\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"seq_len\": %" PRId64
                        ", \"batch_tokens\": %" PRId64 ", \"n_seqs\": %zu, \"total_ms\": %.4f, \"tokens_per_s\": %.3f"
                        ", \"gflops\": %.3f, \"ops\": [%s]}\n",
                        rir::cpu::isa_name(be.isa()), precision.c_str(), be.num_threads(), seq_len, total,
                        lengths.size(), wall * 1e3, tps, cost.total_flops() / wall / 1e9, ops_json.c_str());
    } catch (const rir::Error &e) {
        std::fprintf(stderr, "bench_ops: %s\n", e.what());
        return 1;
    }
    return 0;
}
