// bench_embed.cpp: throughput of rir_embed through the public C API (reasonir.h); the config is read with the
// engine's own parser only to count FLOPs.
//
//   bench_embed --model DIR --seq-len S [--batch-tokens B] [--iters N] [--threads T]
//               [--precision default|fp32|bf16] [--device cpu|cuda|auto] [--warmup W] [--drift] [--json]
//   bench_embed --model DIR --lengths L1,L2,... [...]     one batch of sequences of these lengths (mixed lengths, as
//                                                         real documents come; the benchmark suite's padded-peer case)
//
// --json prints one JSON object last: tokens_per_s, tflops, seq_len, batch_tokens, n_seqs, mean_ms, p50_ms, p99_ms,
// load_s (rir_open wall time), load_gbps (checkpoint bytes / load_s), device, backend, precision, min_cos_vs_fp32.
// --drift (with a precision other than fp32): embeds the same batch once more with a second handle in FP32 on the
// same device kind and reports the smallest cosine between the two vectors of a sequence (min_cos_vs_fp32: what the
// precision costs in agreement); null without --drift.
//
// Each batch packs floor(B / S) sequences (at least one) of S random token ids (or, with --lengths, one sequence of
// each given length, S = the longest); W warm-up calls, then N timed calls.
// Prints tokens/s and the achieved GFLOP/s, counting the matrix products of model_cost.h (linear layers and
// attention over each token's own sequence; embedding gather, norms, RoPE, softmax are not counted). The config is
// read from DIR/config.json with the engine's own parser (rir::parse_config, same defaults as the loader).
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "config.h"
#include "json.h"
#include "model_cost.h"
#include "reasonir.h"

namespace {

[[noreturn]] void usage(const char *msg) {
    std::fprintf(stderr,
                 "error: %s\nusage: bench_embed --model DIR (--seq-len S [--batch-tokens B] | --lengths L1,L2,...) "
                 "[--iters N] [--threads T] [--precision default|fp32|bf16] [--device cpu|cuda|auto] [--warmup W] [--drift] "
                 "[--json]\n",
                 msg);
    std::exit(2);
}

int64_t parse_int(const char *flag, const char *v) {
    char *end = nullptr;
    long long x = std::strtoll(v, &end, 10);
    if (!*v || *end || x < 0) usage((std::string(flag) + " needs a non-negative integer").c_str());
    return x;
}

}  // namespace

int main(int argc, char **argv) {
    std::string model_dir, device = "cpu", precision = "default";
    bool json = false, drift = false;
    int64_t seq_len = 0, batch_tokens = 0, iters = 5, threads = 0, warmup = 1;
    std::vector<int64_t> lengths;  // --lengths: one sequence of each
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::printf("usage: bench_embed --model DIR (--seq-len S [--batch-tokens B] | --lengths L1,L2,...) "
                        "[--iters N] [--threads T] [--precision default|fp32|bf16] [--device cpu|cuda|auto] "
                        "[--warmup W] [--drift] [--json]\n");
            return 0;
        }
        if (a == "--json") {
            json = true;
            continue;
        }
        if (a == "--drift") {
            drift = true;
            continue;
        }
        if (i + 1 >= argc) usage(("missing value after " + a).c_str());
        const char *v = argv[++i];
        if (a == "--model") model_dir = v;
        else if (a == "--seq-len") seq_len = parse_int("--seq-len", v);
        else if (a == "--batch-tokens") batch_tokens = parse_int("--batch-tokens", v);
        else if (a == "--iters") iters = parse_int("--iters", v);
        else if (a == "--threads") threads = parse_int("--threads", v);
        else if (a == "--warmup") warmup = parse_int("--warmup", v);
        else if (a == "--precision") precision = v;
        else if (a == "--device") device = v;
        else if (a == "--lengths") {
            std::string list = v;
            for (size_t pos = 0; pos <= list.size();) {
                size_t comma = list.find(',', pos);
                if (comma == std::string::npos) comma = list.size();
                int64_t len = parse_int("--lengths", list.substr(pos, comma - pos).c_str());
                if (len <= 0) usage("--lengths needs positive integers");
                lengths.push_back(len);
                pos = comma + 1;
            }
        } else usage(("unknown flag " + a).c_str());
    }
    if (!lengths.empty()) {
        if (seq_len > 0 || batch_tokens > 0) usage("--lengths replaces --seq-len and --batch-tokens");
        seq_len = *std::max_element(lengths.begin(), lengths.end());
        batch_tokens = 0;
        for (int64_t l : lengths) batch_tokens += l;
    }
    if (model_dir.empty() || seq_len <= 0) usage("--model and --seq-len (or --lengths) are required");
    if (precision != "default" && precision != "fp32" && precision != "bf16")
        usage("--precision must be default, fp32 or bf16");
    if (iters <= 0) usage("--iters must be > 0");

    rir_open_options opt;
    rir_open_options_init(&opt);
    opt.model_dir = model_dir.c_str();
    opt.device = device.c_str();
    opt.num_threads = static_cast<int32_t>(threads);
    opt.precision = precision == "bf16" ? RIR_PRECISION_BF16 : precision == "fp32" ? RIR_PRECISION_FP32
                                                                                  : RIR_PRECISION_DEFAULT;
    if (batch_tokens < seq_len) batch_tokens = seq_len;
    opt.max_batch_tokens = batch_tokens;
    rir_model *model = nullptr;
    char err[1024];
    const auto open0 = std::chrono::steady_clock::now();
    if (rir_open(&opt, &model, err, sizeof err) != RIR_OK) {
        std::fprintf(stderr, "rir_open failed: %s\n", err);
        return 1;
    }
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - open0).count();

    // The config as the engine itself reads it (rir_open has validated it already).
    const std::string config_path = model_dir + "/config.json";
    const rir::LlamaConfig cfg = rir::parse_config(rir::json::read_file(config_path), config_path);
    const double hidden = cfg.hidden, layers = cfg.layers, heads = cfg.heads, inter = cfg.intermediate;
    const double kv_heads = cfg.kv_heads, head_dim = cfg.head_dim;
    const double qd = heads * head_dim, kvd = kv_heads * head_dim;
    if (lengths.empty()) lengths.assign(std::max<int64_t>(1, batch_tokens / seq_len), seq_len);
    const int64_t n_seqs = static_cast<int64_t>(lengths.size());
    int64_t total = 0;
    for (int64_t l : lengths) total += l;
    // FLOPs per token, averaged over the batch's tokens (model_cost.h).
    const rir::bench::ModelCost cost(cfg, lengths);
    const double linear_flop = cost.linear_flops() / static_cast<double>(total);
    const double attn_flop = cost.attention_flops() / static_cast<double>(total);
    std::vector<int32_t> ids(total), cu(n_seqs + 1);
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int32_t> dist(0, rir_vocab_size(model) - 1);
    for (auto &t : ids) t = dist(rng);
    cu[0] = 0;
    for (int64_t s = 0; s < n_seqs; ++s) cu[s + 1] = static_cast<int32_t>(cu[s] + lengths[s]);
    std::vector<float> out(n_seqs * static_cast<int64_t>(hidden));

    auto call = [&] {
        rir_status st = rir_embed(model, ids.data(), cu.data(), nullptr, static_cast<int32_t>(n_seqs), 0, out.data(),
                                  static_cast<int64_t>(out.size()));
        if (st != RIR_OK) {
            std::fprintf(stderr, "rir_embed failed (%d): %s\n", st, rir_last_error(model));
            std::exit(1);
        }
    };
    for (int64_t i = 0; i < warmup; ++i) call();
    std::vector<double> lat_ms;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) {
        const auto c0 = std::chrono::steady_clock::now();
        call();
        lat_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0).count());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::sort(lat_ms.begin(), lat_ms.end());

    double min_cos = NAN;  // --drift: the same batch in FP32, cosine per sequence (outputs are unit vectors)
    if (drift && rir_precision_of(model) != RIR_PRECISION_FP32) {
        rir_open_options o32 = opt;
        o32.precision = RIR_PRECISION_FP32;
        rir_model *m32 = nullptr;
        if (rir_open(&o32, &m32, err, sizeof err) != RIR_OK) {
            std::fprintf(stderr, "rir_open (fp32, for --drift) failed: %s\n", err);
            return 1;
        }
        std::vector<float> ref(out.size());
        if (rir_embed(m32, ids.data(), cu.data(), nullptr, static_cast<int32_t>(n_seqs), 0, ref.data(),
                      static_cast<int64_t>(ref.size())) != RIR_OK) {
            std::fprintf(stderr, "rir_embed (fp32, for --drift) failed: %s\n", rir_last_error(m32));
            return 1;
        }
        rir_close(m32);
        min_cos = 1.0;
        const int64_t H = static_cast<int64_t>(hidden);
        for (int64_t s = 0; s < n_seqs; ++s) {
            double dot = 0;
            for (int64_t i = 0; i < H; ++i) dot += static_cast<double>(out[s * H + i]) * ref[s * H + i];
            min_cos = std::min(min_cos, dot);
        }
        std::printf("drift       min cosine vs FP32 over %" PRId64 " sequences: %.7f\n", n_seqs, min_cos);
    }
    auto pct = [&](double q) { return lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(q * lat_ms.size()))]; };

    const double tokens_per_s = static_cast<double>(total) * iters / secs;
    std::printf("device      %s (%s, precision %s)\n", rir_device(model), rir_backend(model),
                rir_precision_of(model) == RIR_PRECISION_BF16 ? "bf16" : "fp32");
    std::printf("model       hidden %.0f, layers %.0f, heads %.0f/%.0f kv, head_dim %.0f, intermediate %.0f\n",
                hidden, layers, heads, kv_heads, head_dim, inter);
    std::printf("batch       %" PRId64 " sequences of up to %" PRId64 " tokens = %" PRId64 " tokens, %" PRId64
                " timed calls (%" PRId64 " warm-up)\n", n_seqs, seq_len, total, iters, warmup);
    std::printf("time        %.3f ms per call\n", secs / iters * 1e3);
    std::printf("throughput  %.1f tokens/s, %.1f GFLOP/s (%.3f GFLOP per token: linear %.3f + attention %.3f)\n",
                tokens_per_s, tokens_per_s * (linear_flop + attn_flop) / 1e9, (linear_flop + attn_flop) / 1e9,
                linear_flop / 1e9, attn_flop / 1e9);
    std::printf("latency     mean %.3f ms, p50 %.3f ms, p99 %.3f ms; open %.2f s\n", secs / iters * 1e3, pct(0.5),
                pct(0.99), load_s);
    if (json) {
        // Bytes of the checkpoint's weights: bf16 parameters of the config (what the load moved).
        const double params = static_cast<double>(rir_vocab_size(model)) * hidden + hidden +
                              layers * (2 * hidden + hidden * (qd + 2 * kvd) + qd * hidden + 3 * hidden * inter);
        std::printf("{\"tokens_per_s\": %.3f, \"tflops\": %.6f, \"seq_len\": %" PRId64 ", \"batch_tokens\": %" PRId64
                    ", \"n_seqs\": %" PRId64 ", \"mean_ms\": %.4f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, \"load_s\": %.3f"
                    ", \"load_gbps\": %.3f, \"device\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\""
                    ", \"min_cos_vs_fp32\": %s}\n",
                    tokens_per_s, tokens_per_s * (linear_flop + attn_flop) / 1e12, seq_len, total, n_seqs,
                    secs / iters * 1e3, pct(0.5), pct(0.99), load_s, params * 2 / 1e9 / load_s, rir_device(model),
                    rir_backend(model), rir_precision_of(model) == RIR_PRECISION_BF16 ? "bf16" : "fp32",
                    std::isnan(min_cos) ? "null" : std::to_string(min_cos).c_str());
    }
    rir_close(model);
    return 0;
}
