package dev.reasonir.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.TextTokenizer;
import dev.reasonir.TokenizedInput;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Throughput of the tokenizer the engine uses, against the engine itself: can text be tokenized as fast as the model
 * embeds it? The texts are generated English-like documents (fixed word list, deterministic seed, 50 to 2000 words,
 * log-normally spread like a corpus), each prepared exactly as {@link ReasonIR#embedDocuments} prepares it:
 * {@link TextTokenizer#prepare} of {@link Instructions#DOCUMENT} + text (one string, BOS added, untruncated).
 *
 * <p>For each thread count of {@code --threads} (default 1 and all cores) that many Java threads tokenize the texts,
 * one text per call, for {@code --seconds}; texts/s and tokens/s count every text finished. (One text is tokenized on
 * the calling thread, so the thread count is exactly the parallelism; the engine's own path tokenizes a window with
 * one batch call that parallelizes over all cores itself, which is what the all-cores row stands for.) Then, unless
 * {@code --engine-seconds 0}, the engine embeds the same prepared inputs through {@link ReasonIR#embedTokens} in
 * batches of about {@code --batch-tokens} tokens for that long (untruncated by default, so both count the same
 * tokens), and {@code starves} says whether the tokenizer on all cores is slower than the engine. A warm-up
 * ({@code --warmup} seconds on all threads, one small engine call) precedes the timings.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.reasonir.bench.TokenizerBench --model build/generated/h256_l4 \
 *      --tokenizer .cache/tokenizer/llama3_1 [--docs 2000] [--seconds 5] [--threads 1,2] [--engine-seconds 10] [--json]
 * </pre>
 *
 * With {@code --json} the last line of stdout is the "tokenizer" suite object of benchmarks/reasonir_bench/SCHEMA.md
 * ({@code pipeline} is null: the orchestrator fills it from an index build).
 */
public final class TokenizerBench {
    static final String USAGE = "usage: java -cp benchmarks.jar dev.reasonir.bench.TokenizerBench --model DIR"
            + " [--tokenizer DIR (default: the model folder)] [--docs 2000] [--seconds 5] [--threads 1,N (default 1"
            + " and all cores)] [--warmup 2] [--engine-seconds 10 (0 = skip the engine)] [--engine-threads 0 (all)]"
            + " [--device cpu] [--batch-tokens 8192] [--max-length 0 (0 = longest document, no truncation)]"
            + " [--seed 42] [--json]";

    private TokenizerBench() {}

    /** One thread count's outcome; {@code cpuSeconds}: the process's CPU time meanwhile (NaN if unknown). */
    record Row(int threads, long texts, long tokens, double seconds, double cpuSeconds) {
        double textsPerSecond() {
            return texts / seconds;
        }

        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    public static void main(String[] args) throws Exception {
        int rc = run(args, System.out, System.err);
        if (rc != 0) System.exit(rc);
    }

    /** The tool without {@code System.exit}: 0 on success, 2 for bad arguments (tests call this). */
    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Config c;
        try {
            c = Config.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("TokenizerBench: " + e.getMessage() + " (--help for usage)");
            return 2;
        }
        if (c == null) {
            out.println(USAGE);
            return 0;
        }

        List<String> texts = documents(c.docs, c.seed);
        long words = texts.stream().mapToLong(t -> t.split("\\s+").length).sum();
        List<Row> rows = new ArrayList<>();
        TokenizedInput[] prepared;
        try (TextTokenizer tok = TextTokenizer.load(c.tokenizer)) {
            // Every text once, on all threads: the token counts for the engine, and the first part of the warm-up.
            prepared = tokenizeAll(tok, texts, Math.max(1, Arrays.stream(c.threads).max().getAsInt()));
            long tokens = Arrays.stream(prepared).mapToLong(TokenizedInput::length).sum();
            out.printf(Locale.ROOT, "%d documents, %d words, %d tokens (%.2f tokens per word), %d cores%n",
                    texts.size(), words, tokens, (double) tokens / words, Runtime.getRuntime().availableProcessors());
            if (c.warmupSeconds > 0) measure(tok, texts, Arrays.stream(c.threads).max().getAsInt(), c.warmupSeconds);
            for (int t : c.threads) {
                Row r = measure(tok, texts, t, c.seconds);
                rows.add(r);
                out.printf(Locale.ROOT, "tokenizer, %d thread(s): %.1f texts/s, %.0f tokens/s (%d texts in %.2f s, "
                                + "process CPU %.2f cores)%n", t, r.textsPerSecond(), r.tokensPerSecond(), r.texts(),
                        r.seconds(), r.cpuSeconds() / r.seconds());
            }
        }

        Double engineTokensPerSecond = null;
        if (c.engineSeconds > 0) {
            engineTokensPerSecond = engine(c, prepared, out);
        }
        // "All cores": the row with the most threads.
        Row widest = rows.stream().max((a, b) -> Integer.compare(a.threads(), b.threads())).orElseThrow();
        Boolean starves = engineTokensPerSecond == null ? null : widest.tokensPerSecond() < engineTokensPerSecond;
        if (starves != null) {
            out.printf(Locale.ROOT, "tokenizer on %d threads %s the engine (%.0f vs %.0f tokens/s)%n",
                    widest.threads(), starves ? "is SLOWER than" : "keeps up with", widest.tokensPerSecond(),
                    engineTokensPerSecond);
        }
        if (c.json) out.println(json(rows, engineTokensPerSecond, starves));
        return 0;
    }

    /** Prepares every text once with {@code threads} threads. */
    private static TokenizedInput[] tokenizeAll(TextTokenizer tok, List<String> texts, int threads) throws Exception {
        TokenizedInput[] out = new TokenizedInput[texts.size()];
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                int first = w;
                futures.add(pool.submit(() -> {
                    for (int i = first; i < out.length; i += threads) out[i] = prepare(tok, texts.get(i));
                }));
            }
            for (Future<?> f : futures) f.get();
        } finally {
            pool.shutdown();
        }
        return out;
    }

    /** What ReasonIR's text path feeds the engine for a document (untruncated: truncation is not tokenizing). */
    private static TokenizedInput prepare(TextTokenizer tok, String text) {
        return tok.prepare(Instructions.DOCUMENT, text, Integer.MAX_VALUE);
    }

    /**
     * {@code threads} threads tokenize texts one at a time until {@code seconds} have passed; each starts at its own
     * offset and cycles through the texts. The time runs until the last thread finishes its last text.
     */
    static Row measure(TextTokenizer tok, List<String> texts, int threads, double seconds) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            long cpu0 = processCpuNanos();
            long t0 = System.nanoTime();
            long deadline = t0 + (long) (seconds * 1e9);
            List<Future<long[]>> futures = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                int start = (int) ((long) w * texts.size() / threads);
                futures.add(pool.submit(() -> {
                    long n = 0, tokens = 0;
                    for (int i = start; n == 0 || System.nanoTime() < deadline; i = (i + 1) % texts.size()) {
                        tokens += prepare(tok, texts.get(i)).length();
                        n++;
                    }
                    return new long[] {n, tokens};
                }));
            }
            long done = 0, tokens = 0;
            for (Future<long[]> f : futures) {
                long[] r = f.get();
                done += r[0];
                tokens += r[1];
            }
            double elapsed = (System.nanoTime() - t0) / 1e9;
            double cpu = cpu0 < 0 ? Double.NaN : (processCpuNanos() - cpu0) / 1e9;
            return new Row(threads, done, tokens, elapsed, cpu);
        } finally {
            pool.shutdown();
        }
    }

    /**
     * CPU time of the whole process so far (all threads, native ones included), or -1 where the JVM does not say: the
     * human-readable lines show how many cores a row kept busy (another process on the machine shows up there).
     */
    private static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    /**
     * The engine's tokens/s on the prepared inputs: consecutive slices of about {@code --batch-tokens} tokens through
     * {@link ReasonIR#embedTokens} (packing, JNI, forward, pooling; no tokenizing) until {@code --engine-seconds}
     * have passed, at least one slice.
     */
    private static double engine(Config c, TokenizedInput[] prepared, PrintStream out) {
        int longest = Arrays.stream(prepared).mapToInt(TokenizedInput::length).max().orElse(1);
        int maxLength = c.maxLength > 0 ? c.maxLength : longest;
        Options options = Options.defaults().withDevice(c.device).withThreads(c.engineThreads)
                .withMaxLength(maxLength).withBatchTokens(c.batchTokens);
        try (ReasonIR model = ReasonIR.open(c.model, options)) {
            model.embedTokens(List.of(prepared[0]));  // warm-up: first-call allocations, page faults
            long tokens = 0;
            int calls = 0;
            long t0 = System.nanoTime();
            long deadline = t0 + (long) (c.engineSeconds * 1e9);
            int next = 0;
            while (calls == 0 || System.nanoTime() < deadline) {
                List<TokenizedInput> slice = new ArrayList<>();
                long sliceTokens = 0;
                while (slice.isEmpty() || sliceTokens + prepared[next].length() <= c.batchTokens) {
                    slice.add(prepared[next]);
                    sliceTokens += prepared[next].length();
                    next = (next + 1) % prepared.length;
                    if (next == 0) break;  // one pass wraps around: start the next slice at the first document
                }
                EmbeddingResult r = model.embedTokens(slice);
                tokens += r.totalTokens();  // tokens the model was fed (after any --max-length truncation)
                calls++;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            double rate = tokens / seconds;
            out.printf(Locale.ROOT, "engine on %s (max length %d): %.0f tokens/s (%d tokens in %d calls, %.2f s)%n",
                    model.device(), model.maxLength(), rate, tokens, calls, seconds);
            return rate;
        }
    }

    static String json(List<Row> rows, Double engineTokensPerSecond, Boolean starves) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        ArrayNode a = root.putArray("rows");
        for (Row r : rows) {
            a.addObject().put("threads", r.threads()).put("texts_per_s", round(r.textsPerSecond(), 2))
                    .put("tokens_per_s", round(r.tokensPerSecond(), 1));
        }
        root.put("engine_tokens_per_s", engineTokensPerSecond == null ? null : round(engineTokensPerSecond, 1));
        root.put("starves", starves);
        root.putNull("pipeline");
        return mapper.writeValueAsString(root);
    }

    private static double round(double x, int decimals) {
        double f = Math.pow(10, decimals);
        return Math.round(x * f) / f;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Generated documents

    /**
     * Common English words, most frequent first (sampled with a skew towards the front), then a few
     * hundred content words of the kind retrieval corpora (science, code, forum posts) are made of.
     */
    private static final String[] WORDS = ("the of and to a in is that for it as was with be by on not he this are or "
            + "his from at which but have an they you were her she there been one all we their has would when if so "
            + "no will what can more about up out them into only other some could time these two may then do first "
            + "any like now my such our over man me even most made after also did many before must through years "
            + "where much your way well down should because each just those people how too little state good very "
            + "make world still own see men work long get here between both life being under never day same another "
            + "know while last might us great old year off come since against go came right used take three "
            + "however although therefore example result results method methods data value values function system "
            + "model models energy light water cell cells protein gene genes enzyme molecule reaction temperature "
            + "pressure surface structure process rate level number group growth signal response effect effects "
            + "study analysis evidence question answer problem solution theory equation variable parameter "
            + "algorithm complexity memory thread server request client database query index vector matrix "
            + "gradient probability distribution sample mean variance error measurement experiment observation "
            + "plant root leaf stem soil nitrogen carbon oxygen atmosphere climate ocean river species population "
            + "hormone receptor membrane tissue liver brain neuron blood pressure dose patient treatment clinical "
            + "market price cost policy government law court contract economy trade capital interest inflation "
            + "wavelength scattering frequency spectrum gravity orbit planet star galaxy particle electron photon "
            + "compiler runtime library interface exception pointer buffer integer string array loop recursion")
            .split(" ");

    /** Syllables of made-up rare words (names, jargon): they miss the tokenizer's word cache like a real corpus. */
    private static final String[] SYLLABLES = ("ka lo mi ther zy pro tra neu gen ox ide ase ine ol an cyt phos "
            + "glu cor vex qua rin dal mor sti bel hap tun").split(" ");

    /**
     * {@code n} documents, deterministic for a seed: word counts log-normal around 300 (clipped to 50..2000),
     * sentences of 6 to 28 words, a capital letter and a full stop per sentence, commas, paragraphs, and now and then
     * a number or a made-up rare word.
     */
    static List<String> documents(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<String> out = new ArrayList<>(n);
        for (int d = 0; d < n; d++) {
            long logNormal = Math.round(Math.exp(Math.log(300) + 0.8 * r.nextGaussian()));
            int words = (int) Math.max(50, Math.min(2000, logNormal));
            StringBuilder b = new StringBuilder(words * 7);
            int sentence = 0, inSentence = 0, sentences = 0;
            for (int w = 0; w < words; w++) {
                if (inSentence == 0) {
                    sentence = 6 + r.nextInt(23);
                    if (w > 0) b.append(sentences % 5 == 0 ? "\n\n" : " ");
                } else {
                    b.append(' ');
                }
                String word = word(r);
                b.append(inSentence == 0 ? Character.toUpperCase(word.charAt(0)) + word.substring(1) : word);
                inSentence++;
                if (inSentence == sentence || w == words - 1) {
                    b.append('.');
                    inSentence = 0;
                    sentences++;
                } else if (r.nextInt(12) == 0) {
                    b.append(',');
                }
            }
            out.add(b.toString());
        }
        return out;
    }

    private static String word(SplittableRandom r) {
        int kind = r.nextInt(100);
        if (kind < 2) {  // a number: a year, a count or a decimal
            return switch (r.nextInt(3)) {
                case 0 -> String.valueOf(1900 + r.nextInt(130));
                case 1 -> String.valueOf(r.nextInt(1000));
                default -> String.format(Locale.ROOT, "%.2f", r.nextDouble() * 100);
            };
        }
        if (kind < 5) {  // a made-up rare word of 2 to 4 syllables
            StringBuilder b = new StringBuilder();
            for (int s = 2 + r.nextInt(3); s > 0; s--) b.append(SYLLABLES[r.nextInt(SYLLABLES.length)]);
            return b.toString();
        }
        double u = r.nextDouble();
        // u^2: word i comes with probability ~ 1 / sqrt(i), the front of the list by far the most often ("the" about
        // 5%, as in English text).
        return WORDS[(int) (WORDS.length * u * u)];
    }

    // ---------------------------------------------------------------------------------------------------------------

    /** Command-line options. */
    static final class Config {
        Path model;
        Path tokenizer;
        int docs = 2000;
        double seconds = 5;
        int[] threads;
        double warmupSeconds = 2;
        double engineSeconds = 10;
        int engineThreads = 0;
        String device = "cpu";
        int batchTokens = 8192;
        int maxLength = 0;
        long seed = 42;
        boolean json;

        /** The options, or null for --help. */
        static Config parse(String[] args) {
            Config c = new Config();
            boolean run = ToolArgs.parse(args, Set.of("--json"), a -> c.json = true, (a, v) -> {
                switch (a) {
                    case "--model": c.model = Path.of(v); break;
                    case "--tokenizer": c.tokenizer = Path.of(v); break;
                    case "--docs": c.docs = Integer.parseInt(v); break;
                    case "--seconds": c.seconds = Double.parseDouble(v); break;
                    case "--threads": c.threads = threadList(v); break;
                    case "--warmup": c.warmupSeconds = Double.parseDouble(v); break;
                    case "--engine-seconds": c.engineSeconds = Double.parseDouble(v); break;
                    case "--engine-threads": c.engineThreads = Integer.parseInt(v); break;
                    case "--device": c.device = v; break;
                    case "--batch-tokens": c.batchTokens = Integer.parseInt(v); break;
                    case "--max-length": c.maxLength = Integer.parseInt(v); break;
                    case "--seed": c.seed = Long.parseLong(v); break;
                    default: throw new IllegalArgumentException("unknown option " + a);
                }
            });
            if (!run) return null;
            if (c.model == null) throw new IllegalArgumentException("--model DIR is required");
            if (c.tokenizer == null) c.tokenizer = c.model;
            if (!Files.isRegularFile(c.tokenizer.resolve("tokenizer.json"))) {
                throw new IllegalArgumentException("no tokenizer.json in " + c.tokenizer + " (give --tokenizer DIR)");
            }
            if (c.engineSeconds > 0 && !Files.isRegularFile(c.model.resolve("config.json"))) {
                throw new IllegalArgumentException("no config.json in " + c.model + " (or give --engine-seconds 0)");
            }
            if (c.docs < 1) throw new IllegalArgumentException("--docs must be >= 1");
            if (!(c.seconds > 0)) throw new IllegalArgumentException("--seconds must be > 0");
            if (!(c.warmupSeconds >= 0) || !(c.engineSeconds >= 0)) {
                throw new IllegalArgumentException("--warmup and --engine-seconds must be >= 0");
            }
            if (c.engineThreads < 0 || c.batchTokens < 1 || c.maxLength < 0) {
                throw new IllegalArgumentException("--engine-threads and --max-length must be >= 0, --batch-tokens"
                        + " >= 1");
            }
            if (c.threads == null) {
                int cores = Runtime.getRuntime().availableProcessors();
                c.threads = cores > 1 ? new int[] {1, cores} : new int[] {1};
            }
            return c;
        }

        /** "1,2,4": distinct positive counts in the order given. */
        static int[] threadList(String v) {
            int[] t = Arrays.stream(v.split(",")).map(String::trim).mapToInt(Integer::parseInt).distinct().toArray();
            if (t.length == 0 || Arrays.stream(t).anyMatch(x -> x < 1)) {
                throw new IllegalArgumentException("--threads expects a list of counts >= 1, got '" + v + "'");
            }
            return t;
        }
    }
}
