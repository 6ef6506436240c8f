package dev.reasonir.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The cost of crossing from Java to the native engine, per call: the cheapest public call,
 * {@link ReasonIR#embedTokens} of one sequence of {@code --tokens} ids (default 1) on a tiny model (the suite passes
 * a micro checkpoint, hidden 64 and one layer, so the forward pass itself costs little), on the CPU with one thread,
 * timed over {@code --calls} calls after {@code --warmup} untimed ones.
 *
 * <p>{@code native_us} is the same call made from C through the C API alone: {@code bench_embed --model DIR --seq-len
 * T --batch-tokens T --iters N --threads 1 --json} ({@code mean_ms}), either given as {@code --native-us} or run here
 * with {@code --bench-embed PATH}. Both sides use the same work: one sequence of T random ids (ids do not change the
 * cost), every position pooled (pool start 0), L2-normalized output, CPU, one engine thread, default precision, and a
 * token budget of exactly T (max batch tokens T). Both time each call with a monotonic clock around it and report
 * the loop's total time over the number of calls, so the clock reads are in both means.
 *
 * <p>{@code overhead_us = java_us - native_us} is then what the Java API adds to one call: argument checks (null,
 * vocabulary range, pool start), packing plan, taking the model's locks, marshalling the ids, sequence offsets and
 * pool starts into native buffers, the JNI transition through JavaCPP and back, copying the vector out into a new
 * {@code float[]}, building the result, plus any garbage collection those allocations cause (in the mean and p99).
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.reasonir.bench.JniBench --model /tmp/micro \
 *      [--bench-embed build/native/bench_embed | --native-us 38.0] [--calls 20000] [--tokens 1] [--json]
 * </pre>
 *
 * With {@code --json} the last line of stdout is the "jni" suite object of benchmarks/reasonir_bench/SCHEMA.md plus
 * {@code java_p50_us}, {@code java_p99_us}, {@code native_p50_us}, {@code native_p99_us} (null unless bench_embed
 * ran here) and {@code calls}; {@code native_us} and {@code overhead_us} are null when neither {@code --native-us}
 * nor {@code --bench-embed} is given. The means include the rare slow calls (a GC, the OS preempting the thread);
 * on a busy machine the medians compare the two sides more steadily.
 */
public final class JniBench {
    static final String USAGE = "usage: java -cp benchmarks.jar dev.reasonir.bench.JniBench --model DIR"
            + " [--calls 20000] [--tokens 1] [--warmup 2000] [--native-us X | --bench-embed PATH] [--seed 42] [--json]";

    /** Where the timed loop leaves its checksum of the results. */
    static volatile float blackhole;

    private JniBench() {}

    /** Timings of the calls on one side, in microseconds. */
    record Times(double meanUs, double p50Us, double p99Us) {}

    public static void main(String[] args) throws Exception {
        int rc = run(args, System.out, System.err);
        if (rc != 0) System.exit(rc);
    }

    /** The tool without {@code System.exit}: 0 on success, 1 if bench_embed fails, 2 for bad arguments. */
    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Config c;
        try {
            c = Config.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("JniBench: " + e.getMessage() + " (--help for usage)");
            return 2;
        }
        if (c == null) {
            out.println(USAGE);
            return 0;
        }

        Times java;
        try {
            java = measureJava(c, out);
        } catch (IllegalArgumentException e) {  // --tokens longer than the model takes
            err.println("JniBench: " + e.getMessage());
            return 2;
        }
        Double nativeUs = c.nativeUs;
        Times nativeTimes = null;  // only when bench_embed runs here: --native-us is a mean alone
        if (c.benchEmbed != null) {
            try {
                nativeTimes = runBenchEmbed(c);
            } catch (IOException e) {
                err.println("JniBench: " + e.getMessage());
                return 1;
            }
            nativeUs = nativeTimes.meanUs();
        }
        Double overheadUs = nativeUs == null ? null : java.meanUs() - nativeUs;
        out.printf(Locale.ROOT, "java API: %.3f us per call (p50 %.3f, p99 %.3f) over %d calls of %d token(s)%n",
                java.meanUs(), java.p50Us(), java.p99Us(), c.calls, c.tokens);
        if (nativeTimes != null) {
            out.printf(Locale.ROOT, "C API:    %.3f us per call (p50 %.3f, p99 %.3f), bench_embed%n",
                    nativeTimes.meanUs(), nativeTimes.p50Us(), nativeTimes.p99Us());
        } else if (nativeUs != null) {
            out.printf(Locale.ROOT, "C API:    %.3f us per call (--native-us)%n", nativeUs);
        }
        if (overheadUs != null) {
            out.printf(Locale.ROOT, "Java adds %.3f us per call (mean)%s%n", overheadUs, nativeTimes == null ? ""
                    : String.format(Locale.ROOT, ", %.3f us at the median", java.p50Us() - nativeTimes.p50Us()));
        }
        if (c.json) {
            out.println(json(checkpointName(c.model), c.tokens, c.calls, java, nativeUs, overheadUs, nativeTimes));
        }
        return 0;
    }

    /** Opens the model as bench_embed does (CPU, 1 thread, token budget = tokens) and times the calls. */
    static Times measureJava(Config c, PrintStream out) {
        Options options = Options.defaults().withDevice("cpu").withThreads(1).withMaxLength(c.tokens)
                .withBatchTokens(c.tokens);
        try (ReasonIR model = ReasonIR.open(c.model, options)) {
            if (model.maxLength() < c.tokens) {
                throw new IllegalArgumentException("--tokens " + c.tokens + " exceeds the model's max length "
                        + model.maxLength());
            }
            SplittableRandom r = new SplittableRandom(c.seed);
            int[] ids = new int[c.tokens];
            for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(model.vocabSize());
            List<TokenizedInput> input = List.of(TokenizedInput.of(ids, 0));  // pool start 0: like bench_embed's NULL
            out.printf(Locale.ROOT, "%s on %s, dimension %d%n", c.model, model.device(), model.dimension());

            float sink = 0;  // uses every result, so that no part of a call can be optimized away
            for (int i = 0; i < c.warmup; i++) sink += model.embedTokens(input, true).vectors()[0][0];
            long[] nanos = new long[c.calls];
            long t0 = System.nanoTime();
            for (int i = 0; i < c.calls; i++) {
                long s = System.nanoTime();
                EmbeddingResult res = model.embedTokens(input, true);
                nanos[i] = System.nanoTime() - s;
                sink += res.vectors()[0][0];
            }
            double totalUs = (System.nanoTime() - t0) / 1e3;
            blackhole = sink;
            Arrays.sort(nanos);
            return new Times(totalUs / c.calls, percentile(nanos, 0.50) / 1e3, percentile(nanos, 0.99) / 1e3);
        }
    }

    /** Runs bench_embed on the same model and work; its {@code mean_ms}, {@code p50_ms}, {@code p99_ms} in us. */
    static Times runBenchEmbed(Config c) throws IOException, InterruptedException {
        List<String> cmd = List.of(c.benchEmbed.toString(), "--model", c.model.toString(), "--seq-len",
                String.valueOf(c.tokens), "--batch-tokens", String.valueOf(c.tokens), "--iters",
                String.valueOf(c.calls), "--warmup", String.valueOf(c.warmup), "--threads", "1", "--device", "cpu",
                "--json");
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        List<String> lines = new ArrayList<>(stdout.lines().filter(l -> !l.isBlank()).toList());
        if (rc != 0 || lines.isEmpty()) {
            throw new IOException(String.join(" ", cmd) + " failed with exit status " + rc);
        }
        JsonNode result = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        if (result == null || !result.hasNonNull("mean_ms") || !result.hasNonNull("p50_ms")
                || !result.hasNonNull("p99_ms")) {
            throw new IOException("no mean_ms, p50_ms, p99_ms in the last line of " + c.benchEmbed + ": "
                    + lines.get(lines.size() - 1));
        }
        return new Times(result.get("mean_ms").asDouble() * 1e3, result.get("p50_ms").asDouble() * 1e3,
                result.get("p99_ms").asDouble() * 1e3);
    }

    static double percentile(long[] sorted, double p) {
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    /** The checkpoint's name: its folder's name. */
    static String checkpointName(Path model) {
        Path name = model.toAbsolutePath().normalize().getFileName();
        return name == null ? model.toString() : name.toString();
    }

    static String json(String checkpoint, int tokens, int calls, Times java, Double nativeUs, Double overheadUs,
                       Times nativeTimes) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode o = mapper.createObjectNode();
        o.put("checkpoint", checkpoint).put("tokens", tokens);
        o.put("java_us", round3(java.meanUs()));
        o.put("native_us", nativeUs == null ? null : round3(nativeUs));
        o.put("overhead_us", overheadUs == null ? null : round3(overheadUs));
        o.put("java_p50_us", round3(java.p50Us())).put("java_p99_us", round3(java.p99Us()));
        o.put("native_p50_us", nativeTimes == null ? null : round3(nativeTimes.p50Us()));
        o.put("native_p99_us", nativeTimes == null ? null : round3(nativeTimes.p99Us()));
        o.put("calls", calls);
        return mapper.writeValueAsString(o);
    }

    private static double round3(double x) {
        return Math.round(x * 1e3) / 1e3;
    }

    /** Command-line options. */
    static final class Config {
        Path model;
        int calls = 20000;
        int tokens = 1;
        int warmup = 2000;
        Double nativeUs;
        Path benchEmbed;
        long seed = 42;
        boolean json;

        /** The options, or null for --help. */
        static Config parse(String[] args) {
            Config c = new Config();
            boolean run = ToolArgs.parse(args, Set.of("--json"), a -> c.json = true, (a, v) -> {
                switch (a) {
                    case "--model": c.model = Path.of(v); break;
                    case "--calls": c.calls = Integer.parseInt(v); break;
                    case "--tokens": c.tokens = Integer.parseInt(v); break;
                    case "--warmup": c.warmup = Integer.parseInt(v); break;
                    case "--native-us": c.nativeUs = Double.parseDouble(v); break;
                    case "--bench-embed": c.benchEmbed = Path.of(v); break;
                    case "--seed": c.seed = Long.parseLong(v); break;
                    default: throw new IllegalArgumentException("unknown option " + a);
                }
            });
            if (!run) return null;
            if (c.model == null) throw new IllegalArgumentException("--model DIR is required");
            if (!Files.isRegularFile(c.model.resolve("config.json"))) {
                throw new IllegalArgumentException("no config.json in " + c.model);
            }
            if (c.calls < 1 || c.tokens < 1 || c.warmup < 0) {
                throw new IllegalArgumentException("--calls and --tokens must be >= 1, --warmup >= 0");
            }
            if (c.nativeUs != null && c.benchEmbed != null) {
                throw new IllegalArgumentException("give --native-us or --bench-embed, not both");
            }
            if (c.nativeUs != null && !(c.nativeUs > 0 && Double.isFinite(c.nativeUs))) {
                throw new IllegalArgumentException("--native-us must be a positive number");
            }
            if (c.benchEmbed != null && !Files.isExecutable(c.benchEmbed)) {
                throw new IllegalArgumentException(c.benchEmbed + " is not an executable (--bench-embed)");
            }
            return c;
        }
    }
}
