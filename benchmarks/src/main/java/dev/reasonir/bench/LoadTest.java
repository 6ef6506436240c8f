package dev.reasonir.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A bounded loopback load test: starts an {@link EmbeddingServer} on a model, then for each concurrency level runs
 * that many clients, each sending {@code --requests} {@code POST /v1/embeddings} requests back to back, and prints
 * requests/s, inputs/s and p50/p99 latency as a table and as one JSON line (for scripts). Every response must be a
 * 200; the first failure is printed and counted. A last line gives the same requests sent serially through the
 * Java API (no HTTP, no batching) as the baseline.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.reasonir.bench.LoadTest --model DIR [--tokenizer DIR] [--device cpu]
 *      [--clients 1,8,64] [--requests 50] [--inputs 1] [--words 12] [--max-batch-tokens 16384] [--max-seconds 120]
 *      [--json]
 * </pre>
 *
 * {@code --json} adds a last line for the benchmark suite's orchestrator, the "server" suite object of
 * benchmarks/reasonir_bench/SCHEMA.md: {@code {"checkpoint": <model folder name>, "rows": [{clients, requests, req_per_s,
 * p50_ms, p99_ms, errors}]}} ({@code requests}: requests done; {@code errors}: responses other than 200 and failed
 * exchanges; a latency of a level without requests is null). {@code --help} prints the usage; bad arguments print one
 * line and exit with status 2.
 *
 * {@code --tokenizer DIR} combines a checkpoint folder without tokenizer files with a tokenizer folder (symlinks in a
 * temporary folder), as the tests do with the random-weight checkpoints. {@code --max-seconds} bounds each level: the
 * clients stop starting requests after it (the numbers then cover the requests done).
 *
 * <p><b>Flood scenario</b> ({@code --flood-clients N}, instead of the levels): what a 1-input query waits behind bulk
 * indexing. First one client sends {@code --requests} 1-input requests to an idle server (the reference), then
 * {@code N} clients send {@code --flood-inputs} (default 64) input requests back to back, and once each of them has
 * had an answer (the queue is full) one client sends {@code --requests} 1-input requests again; it prints the p50,
 * p99 and max latency of those, and the flood's throughput, as a table and a JSON line ({@code --json}: that line
 * last). It uses no server option newer than the fair batching, so the same class can measure a server jar from
 * before it (put that jar first on the class path).
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.reasonir.bench.LoadTest --model DIR --device cpu
 *      --flood-clients 64 [--flood-inputs 64] [--requests 100] [--max-batch-tokens N]
 * </pre>
 */
public final class LoadTest {
    private LoadTest() {}

    /** One concurrency level's outcome. */
    record Level(int clients, long requests, long failures, double seconds, double p50Ms, double p99Ms, int inputs,
                 double maxMs) {
        Level(int clients, long requests, long failures, double seconds, double p50Ms, double p99Ms, int inputs) {
            this(clients, requests, failures, seconds, p50Ms, p99Ms, inputs, Double.NaN);
        }

        double requestsPerSecond() {
            return requests / seconds;
        }
    }

    static final String USAGE = "usage: LoadTest --model DIR [--tokenizer DIR] [--device cpu] [--clients 1,8,64] "
            + "[--requests 50] [--inputs 1] [--words 12] [--max-batch-tokens N] [--max-seconds 120] "
            + "[--flood-clients N [--flood-inputs 64]] [--json]";

    /**
     * Command-line options; {@code tokenizer} is null when the model folder has the tokenizer files;
     * {@code floodClients} 0: the concurrency levels, else the flood scenario.
     */
    record Args(Path model, Path tokenizer, String device, int[] clients, int requests, int inputs, int words,
                int maxBatchTokens, double maxSeconds, boolean json, int floodClients, int floodInputs) {
        Args(Path model, Path tokenizer, String device, int[] clients, int requests, int inputs, int words,
             int maxBatchTokens, double maxSeconds, boolean json) {
            this(model, tokenizer, device, clients, requests, inputs, words, maxBatchTokens, maxSeconds, json, 0, 64);
        }
    }

    /**
     * The flood scenario's outcome: 1-input latencies idle and under the flood ({@code probe}), and the flood's
     * requests, failures and duration.
     */
    record Flood(int floodClients, int floodInputs, Level idle, Level probe, double probeMaxMs, long floodRequests,
                 long floodFailures, double floodSeconds) {
        double floodInputsPerSecond() {
            return floodRequests * (double) floodInputs / floodSeconds;
        }
    }

    public static void main(String[] args) throws Exception {
        Args a;
        try {
            a = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("LoadTest: " + e.getMessage() + " (--help for usage)");
            System.exit(2);
            return;
        }
        if (a == null) {
            System.out.println(USAGE);
            return;
        }
        Path model = a.model();
        int[] levels = a.clients();
        int requests = a.requests();
        int inputs = a.inputs();
        int words = a.words();
        double maxSeconds = a.maxSeconds();
        Path dir = a.tokenizer() != null ? combine(model, a.tokenizer()) : model;
        Options options = Options.defaults().withDevice(a.device());
        ServerConfig config = ServerConfig.builder().port(0).modelName(model.toAbsolutePath().normalize()
                        .getFileName().toString())
                .maxBatchTokens(a.maxBatchTokens()).build();
        try (ReasonIR m = ReasonIR.open(dir, options); EmbeddingServer server = EmbeddingServer.start(m, config)) {
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/embeddings");
            if (a.floodClients() > 0) {
                System.out.printf(Locale.ROOT, "model %s on %s, %d cores, max batch tokens %d; %d flood clients x %d "
                                + "inputs of ~%d words, %d 1-input probe requests%n", server.config().modelName(),
                        m.device(), Runtime.getRuntime().availableProcessors(), server.config().maxBatchTokens(),
                        a.floodClients(), a.floodInputs(), words, requests);
                run(uri, 1, Math.min(requests, 20), 1, words, maxSeconds);  // warm-up: JIT, connections
                Flood f = flood(uri, a.floodClients(), a.floodInputs(), requests, words, maxSeconds);
                System.out.println("1-input requests     requests  failures  p50 ms  p99 ms  max ms");
                System.out.printf(Locale.ROOT, "idle server          %8d  %8d  %6.1f  %6.1f%n", f.idle().requests(),
                        f.idle().failures(), f.idle().p50Ms(), f.idle().p99Ms());
                System.out.printf(Locale.ROOT, "under the flood      %8d  %8d  %6.1f  %6.1f  %6.1f%n",
                        f.probe().requests(), f.probe().failures(), f.probe().p50Ms(), f.probe().p99Ms(),
                        f.probeMaxMs());
                System.out.printf(Locale.ROOT, "flood: %d requests of %d inputs in %.1f s (%.0f inputs/s), %d "
                                + "failures%n", f.floodRequests(), f.floodInputs(), f.floodSeconds(),
                        f.floodInputsPerSecond(), f.floodFailures());
                System.out.println(floodJson(server.config().modelName(), m.device(), server.config().maxBatchTokens(),
                        words, f));
                return;
            }
            System.out.printf(Locale.ROOT, "model %s on %s, %d cores; %d requests per client, %d input(s) of ~%d "
                            + "words per request%n", server.config().modelName(), m.device(),
                    Runtime.getRuntime().availableProcessors(), requests, inputs, words);
            run(uri, 1, Math.min(requests, 20), inputs, words, maxSeconds);  // warm-up: JIT, connections
            List<Level> results = new ArrayList<>();
            System.out.println("clients  requests  failures   req/s  inputs/s  p50 ms  p99 ms");
            for (int c : levels) {
                Level l = run(uri, c, requests, inputs, words, maxSeconds);
                results.add(l);
                System.out.printf(Locale.ROOT, "%7d  %8d  %8d  %6.1f  %8.1f  %6.2f  %6.2f%n", l.clients(),
                        l.requests(), l.failures(), l.requestsPerSecond(), l.requestsPerSecond() * inputs,
                        l.p50Ms(), l.p99Ms());
            }
            // Baseline: the same requests through the Java API, one after another, no HTTP and no batching.
            long[] direct = new long[requests];
            String instruction = server.config().prompts().get(server.config().defaultPromptName());
            long d0 = System.nanoTime();
            for (int r = 0; r < requests; r++) {
                long s = System.nanoTime();
                m.embed(texts(0, r, inputs, words), instruction);
                direct[r] = System.nanoTime() - s;
            }
            double directSeconds = (System.nanoTime() - d0) / 1e9;
            Arrays.sort(direct);
            Level api = new Level(0, requests, 0, directSeconds, percentile(direct, 0.5) / 1e6,
                    percentile(direct, 0.99) / 1e6, inputs);
            System.out.printf(Locale.ROOT, "java API, serial, no HTTP: %.1f req/s, p50 %.2f ms, p99 %.2f ms%n",
                    api.requestsPerSecond(), api.p50Ms(), api.p99Ms());
            System.out.println(json(server.config().modelName(), m.device(), inputs, words, results, api));
            if (a.json()) System.out.println(suiteJson(server.config().modelName(), results));
        }
    }

    /** {@code clients} threads, each sending {@code requests} requests back to back. */
    static Level run(URI uri, int clients, int requests, int inputs, int words, double maxSeconds)
            throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        long[][] latencies = new long[clients][];
        AtomicLong failures = new AtomicLong();
        long deadline = System.nanoTime() + (long) (maxSeconds * 1e9);
        long t0 = System.nanoTime();
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                futures.add(pool.submit(() -> {
                    long[] lat = new long[requests];
                    int done = 0;
                    for (int r = 0; r < requests && System.nanoTime() < deadline; r++) {
                        HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(body(client, r, inputs, words))).build();
                        long s = System.nanoTime();
                        try {
                            HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
                            if (resp.statusCode() != 200 && failures.getAndIncrement() == 0) {
                                System.err.println("first failure: " + resp.statusCode() + " " + resp.body());
                            }
                        } catch (IOException e) {
                            if (failures.getAndIncrement() == 0) System.err.println("first failure: " + e);
                        }
                        lat[done++] = System.nanoTime() - s;
                    }
                    latencies[client] = Arrays.copyOf(lat, done);
                    return null;
                }));
            }
            for (Future<?> f : futures) f.get();
        } finally {
            pool.shutdown();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long[] all = Arrays.stream(latencies).flatMapToLong(Arrays::stream).sorted().toArray();
        return new Level(clients, all.length, failures.get(), seconds, percentile(all, 0.50) / 1e6,
                percentile(all, 0.99) / 1e6, inputs, percentile(all, 1.0) / 1e6);
    }

    /**
     * The flood scenario (see the class comment): the idle reference, then {@code floodClients} clients sending
     * {@code floodInputs}-input requests back to back, and, once each has had an answer, one client sending
     * {@code probes} 1-input requests; the flood stops when the probe is done (or at {@code maxSeconds}).
     */
    static Flood flood(URI uri, int floodClients, int floodInputs, int probes, int words, double maxSeconds)
            throws Exception {
        Level idle = run(uri, 1, probes, 1, words, maxSeconds);
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        ExecutorService pool = Executors.newFixedThreadPool(floodClients);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        AtomicLong floodDone = new AtomicLong(), floodFailures = new AtomicLong();
        java.util.concurrent.CountDownLatch everyoneAnswered = new java.util.concurrent.CountDownLatch(floodClients);
        long deadline = System.nanoTime() + (long) (maxSeconds * 1e9);
        long t0 = System.nanoTime();
        List<Future<?>> futures = new ArrayList<>();
        Level probe;
        try {
            for (int c = 0; c < floodClients; c++) {
                int client = 1000 + c;  // texts distinct from the probe's
                futures.add(pool.submit(() -> {
                    for (int r = 0; !stop.get() && System.nanoTime() < deadline; r++) {
                        HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(body(client, r, floodInputs, words))).build();
                        try {
                            HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
                            if (resp.statusCode() != 200 && floodFailures.getAndIncrement() == 0) {
                                System.err.println("first flood failure: " + resp.statusCode() + " " + resp.body());
                            }
                        } catch (IOException e) {
                            if (floodFailures.getAndIncrement() == 0) System.err.println("first flood failure: " + e);
                        }
                        floodDone.incrementAndGet();
                        if (r == 0) everyoneAnswered.countDown();
                    }
                    return null;
                }));
            }
            // Every flood client has had one answer and sent its next request: the queue is as full as it gets.
            everyoneAnswered.await((long) maxSeconds, java.util.concurrent.TimeUnit.SECONDS);
            probe = run(uri, 1, probes, 1, words, Math.max(1, (deadline - System.nanoTime()) / 1e9));
        } finally {
            stop.set(true);
            for (Future<?> f : futures) f.get();
            pool.shutdown();
        }
        double floodSeconds = (System.nanoTime() - t0) / 1e9;
        return new Flood(floodClients, floodInputs, idle, probe, probe.maxMs(), floodDone.get(), floodFailures.get(),
                floodSeconds);
    }

    /** The flood scenario as one JSON line (latencies rounded to 0.01 ms, null when no request was done). */
    static String floodJson(String model, String device, int maxBatchTokens, int words, Flood f) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode().put("model", model).put("device", device)
                .put("cores", Runtime.getRuntime().availableProcessors()).put("max_batch_tokens", maxBatchTokens)
                .put("words_per_input", words);
        root.putObject("flood").put("clients", f.floodClients()).put("inputs_per_request", f.floodInputs())
                .put("requests", f.floodRequests()).put("failures", f.floodFailures())
                .put("seconds", round(f.floodSeconds(), 3)).put("inputs_per_s", round(f.floodInputsPerSecond(), 1));
        root.putObject("one_input_idle").put("requests", f.idle().requests()).put("failures", f.idle().failures())
                .put("p50_ms", round(f.idle().p50Ms(), 2)).put("p99_ms", round(f.idle().p99Ms(), 2));
        root.putObject("one_input_under_flood").put("requests", f.probe().requests())
                .put("failures", f.probe().failures()).put("p50_ms", round(f.probe().p50Ms(), 2))
                .put("p99_ms", round(f.probe().p99Ms(), 2)).put("max_ms", round(f.probeMaxMs(), 2));
        return mapper.writeValueAsString(root);
    }

    /**
     * A request of {@code inputs} texts. No {@code model}: the server's default prompt; a name would have to be one the
     * server serves (any other is a 404), and the served name is the model folder's.
     */
    private static String body(int client, int request, int inputs, int words) {
        StringBuilder sb = new StringBuilder("{\"input\":[");
        List<String> texts = texts(client, request, inputs, words);
        for (int i = 0; i < texts.size(); i++) sb.append(i > 0 ? ",\"" : "\"").append(texts.get(i)).append('"');
        return sb.append("]}").toString();
    }

    /** Distinct short texts per client and request (plain words: no JSON escaping needed). */
    private static List<String> texts(int client, int request, int inputs, int words) {
        List<String> out = new ArrayList<>(inputs);
        for (int i = 0; i < inputs; i++) {
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < words; w++) {
                sb.append(WORDS[(client * 31 + request * 7 + i * 3 + w) % WORDS.length]).append(' ');
            }
            out.add(sb.append("client ").append(client).append(" request ").append(request).toString());
        }
        return out;
    }

    private static final String[] WORDS = ("the quick brown fox jumps over a lazy dog while scattered light makes "
            + "the sky blue because shorter wavelengths scatter more strongly than longer ones in the atmosphere")
            .split(" ");

    static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) return Double.NaN;
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    private static String json(String model, String device, int inputs, int words, List<Level> levels,
                               Level javaApi) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"model\":\"").append(model.replace("\"", "'")).append("\",\"device\":\"")
                .append(device.replace("\"", "'")).append("\",\"cores\":")
                .append(Runtime.getRuntime().availableProcessors()).append(",\"inputs_per_request\":").append(inputs)
                .append(",\"words_per_input\":").append(words).append(",\"levels\":[");
        for (int i = 0; i < levels.size(); i++) {
            Level l = levels.get(i);
            if (i > 0) sb.append(',');
            sb.append(String.format(Locale.ROOT, "{\"clients\":%d,\"requests\":%d,\"failures\":%d,\"seconds\":%.3f,"
                            + "\"requests_per_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}", l.clients(), l.requests(),
                    l.failures(), l.seconds(), l.requestsPerSecond(), l.p50Ms(), l.p99Ms()));
        }
        sb.append(String.format(Locale.ROOT, "],\"java_api_serial\":{\"requests\":%d,\"requests_per_s\":%.1f,"
                        + "\"p50_ms\":%.2f,\"p99_ms\":%.2f}", javaApi.requests(), javaApi.requestsPerSecond(),
                javaApi.p50Ms(), javaApi.p99Ms()));
        return sb.append("}").toString();
    }

    /** The "server" suite object of benchmarks/reasonir_bench/SCHEMA.md, on one line (null for a latency that is NaN). */
    static String suiteJson(String checkpoint, List<Level> levels) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode().put("checkpoint", checkpoint);
        ArrayNode rows = root.putArray("rows");
        for (Level l : levels) {
            rows.addObject().put("clients", l.clients()).put("requests", l.requests())
                    .put("req_per_s", round(l.requestsPerSecond(), 2)).put("p50_ms", round(l.p50Ms(), 3))
                    .put("p99_ms", round(l.p99Ms(), 3)).put("errors", l.failures());
        }
        return mapper.writeValueAsString(root);
    }

    /** {@code x} rounded to {@code decimals} places; null when not finite (JSON has no NaN). */
    private static Double round(double x, int decimals) {
        if (!Double.isFinite(x)) return null;
        double f = Math.pow(10, decimals);
        return Math.round(x * f) / f;
    }

    /** A temporary folder with links to every file of the checkpoint and of the tokenizer folder (where both hold a file
     *  of the same name, the checkpoint's). */
    private static Path combine(Path checkpoint, Path tokenizer) throws IOException {
        Path dst = Files.createTempDirectory("reasonir-loadtest-");
        dst.toFile().deleteOnExit();
        for (Path d : List.of(checkpoint, tokenizer)) {
            try (var files = Files.list(d)) {
                for (Path f : files.toList()) {
                    Path link = dst.resolve(f.getFileName());
                    if (Files.exists(link, LinkOption.NOFOLLOW_LINKS)) continue;  // the checkpoint's own file wins
                    Files.createSymbolicLink(link, f.toAbsolutePath());
                    link.toFile().deleteOnExit();
                }
            }
        }
        return dst;
    }

    /** The options, or null for --help; a bad argument throws {@link IllegalArgumentException} (one line). */
    static Args parse(String[] args) {
        Path model = null, tokenizer = null;
        String device = "auto";
        int[] clients = {1, 8, 64};
        int requests = 50, inputs = 1, words = 12, maxBatchTokens = ServerConfig.DEFAULT_MAX_BATCH_TOKENS;
        double maxSeconds = 120;
        boolean json = false;
        int floodClients = 0, floodInputs = 64;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) return null;
            if (a.equals("--json")) {
                json = true;
                continue;
            }
            if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
            String v = args[++i];
            try {
                switch (a) {
                    case "--model" -> model = Path.of(v);
                    case "--tokenizer" -> tokenizer = Path.of(v);
                    case "--device" -> device = v;
                    case "--clients" -> clients = Arrays.stream(v.split(",")).map(String::trim)
                            .mapToInt(Integer::parseInt).toArray();
                    case "--requests" -> requests = Integer.parseInt(v);
                    case "--inputs" -> inputs = Integer.parseInt(v);
                    case "--words" -> words = Integer.parseInt(v);
                    case "--max-batch-tokens" -> maxBatchTokens = Integer.parseInt(v);
                    case "--max-seconds" -> maxSeconds = Double.parseDouble(v);
                    case "--flood-clients" -> floodClients = Integer.parseInt(v);
                    case "--flood-inputs" -> floodInputs = Integer.parseInt(v);
                    default -> throw new IllegalArgumentException("unknown option " + a);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(a + " expects a number" + (a.equals("--clients") ? " list" : "")
                        + ", got '" + v + "'");
            }
        }
        if (model == null) throw new IllegalArgumentException("--model DIR is required");
        if (clients.length == 0 || Arrays.stream(clients).anyMatch(c -> c < 1)) {
            throw new IllegalArgumentException("--clients expects counts >= 1");
        }
        if (requests < 1 || inputs < 1 || words < 1 || maxBatchTokens < 1 || !(maxSeconds > 0)) {
            throw new IllegalArgumentException("--requests, --inputs, --words, --max-batch-tokens and --max-seconds "
                    + "must be positive");
        }
        if (floodClients < 0 || floodInputs < 1) {
            throw new IllegalArgumentException("--flood-clients must be >= 0 and --flood-inputs positive");
        }
        return new Args(model, tokenizer, device, clients, requests, inputs, words, maxBatchTokens, maxSeconds, json,
                floodClients, floodInputs);
    }
}
