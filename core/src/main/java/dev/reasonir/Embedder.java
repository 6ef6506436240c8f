package dev.reasonir;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The embedding calls of one model, on the Java side of the native seam: input validation, the overflow policy
 * ({@link Options.Overflow}), packing into batches ({@link BatchPlanner}), the tokenize-ahead of text calls and the
 * result (vectors in input order, truncations, timings). The batches go to a {@link DevicePool}: one
 * {@link BatchEngine} (the native model) per device, which runs them on the caller's thread when there is one engine
 * and deals them to the engines as they become free when there are several. The batches are the same either way, so
 * the vectors do not depend on the number of devices. Nothing here knows about native memory.
 *
 * <p>Thread-safe: calls may run concurrently (each has its own state; the pool and the engines serialize what must
 * be). The caller (the {@link ReasonIR} facade) guarantees that {@link #close()} does not race with a call.
 */
final class Embedder implements AutoCloseable {
    /** Inputs sorted together when packing (see {@link BatchPlanner}); also the unit of tokenize-ahead. */
    static final int PACKING_WINDOW = 4096;
    /** Name prefix of the tokenize-ahead threads (tests look for leaked ones by it). */
    static final String TOKENIZER_THREAD_PREFIX = "reasonir-tokenizer-";
    private static final AtomicInteger TOKENIZER_THREADS = new AtomicInteger();
    /** The facade's logger: users and the CLI set the engine's log level by this name. */
    private static final System.Logger LOG = System.getLogger(ReasonIR.class.getName());

    /**
     * Embeds one packed batch: the inputs {@code inputs[idx[0]], inputs[idx[1]], ...} (validated, in packing order,
     * {@code tokens} tokens together), writing each vector to {@code vectors[idx[s]]}; a failure names the caller's
     * input where it concerns one.
     */
    @FunctionalInterface
    interface BatchEngine {
        void embedBatch(TokenizedInput[] inputs, int[] idx, int tokens, boolean normalize, float[][] vectors);
    }

    private final Options options;
    private final int maxLength;
    private final int vocab;
    private final DevicePool pool;
    private final Supplier<TextTokenizer> tokenizer;
    private ExecutorService tokenizerPool;  // created on the first call with more than one window; guarded by this

    /**
     * @param maxLength the effective max length (the option capped by the model's max position)
     * @param vocab     the model's vocabulary size: token ids must lie in [0, vocab)
     * @param tokenizer the model's tokenizer, loaded on first use (asked for only when a text call has texts)
     */
    Embedder(Options options, int maxLength, int vocab, BatchEngine engine, Supplier<TextTokenizer> tokenizer) {
        this(options, maxLength, vocab, DevicePool.of(engine), tokenizer);
    }

    /** As above, with the engines of a device pool; {@link #close()} closes the pool (not its engines). */
    Embedder(Options options, int maxLength, int vocab, DevicePool pool, Supplier<TextTokenizer> tokenizer) {
        this.options = options;
        this.maxLength = maxLength;
        this.vocab = vocab;
        this.pool = pool;
        this.tokenizer = tokenizer;
    }

    /** What each engine of the pool is and has done. */
    List<DeviceInfo> devices() {
        return pool.devices();
    }

    /** Refuses null and empty texts, naming the first one (before anything else happens, even on a closed model). */
    static void checkTexts(List<String> texts) {
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null) throw new InvalidInputException(i, "text is null");
            if (texts.get(i).isEmpty()) throw new InvalidInputException(i, "text is empty");
        }
    }

    /** Refuses null inputs, naming the first one (the rest is checked by {@link #embedTokens}). */
    static void checkInputs(List<TokenizedInput> inputs) {
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i) == null) throw new InvalidInputException(i, "input is null");
        }
    }

    /** Pre-tokenized inputs (checked by {@link #checkInputs}), one packing window at a time. */
    EmbeddingResult embedTokens(List<TokenizedInput> inputs, boolean normalize) {
        Call call = new Call(inputs.size(), normalize);
        // Everything is at hand: refuse a bad input before spending any engine time.
        TokenizedInput[] all = inputs.toArray(new TokenizedInput[0]);
        call.prepare(all, 0);
        for (int from = 0; from < all.length; from += PACKING_WINDOW) {
            call.run(from, Math.min(all.length, from + PACKING_WINDOW));
        }
        return call.result();
    }

    /**
     * Text input (checked by {@link #checkTexts}), one packing window at a time: while the engine embeds window w,
     * the tokenizer works on window w+1 on the model's background thread, so (when tokenizing is faster than
     * embedding) the engine only ever waits for the first window. Batches are planned per window exactly as for
     * pre-tokenized input, so results do not depend on this overlap. A bad input is reported when its window is
     * reached (earlier windows have then been embedded for nothing, but the call still fails as a whole).
     */
    EmbeddingResult embedTexts(List<String> texts, String instruction) {
        int n = texts.size();
        Call call = new Call(n, true);
        if (n == 0) return call.result();  // no tokenizer needed: a model without one embeds an empty list
        TextTokenizer tok = tokenizer.get();  // loaded here, so that a load failure surfaces on the caller's thread
        AtomicLong tokenizeNanos = new AtomicLong();
        long start = System.nanoTime();
        TokenizedInput[] current = tokenizeWindow(tok, instruction, texts, 0, tokenizeNanos);
        call.tokenizerWaitNanos += System.nanoTime() - start;  // nothing to overlap the first window with
        Future<TokenizedInput[]> next = null;
        try {
            for (int from = 0; from < n; from += PACKING_WINDOW) {
                int nextFrom = from + PACKING_WINDOW;
                if (nextFrom < n) {
                    next = tokenizerPool().submit(() -> tokenizeWindow(tok, instruction, texts, nextFrom,
                            tokenizeNanos));
                }
                call.prepare(current, from);
                call.run(from, from + current.length);
                if (next != null) {
                    long waitStart = System.nanoTime();
                    current = await(next);
                    next = null;
                    call.tokenizerWaitNanos += System.nanoTime() - waitStart;
                }
            }
        } finally {
            // On failure the next window may still be tokenizing: it uses the tokenizer, which close() frees once
            // this call returns, so wait for it (the caller still holds the model open here).
            if (next != null) awaitQuietly(next);
        }
        call.tokenizeNanos = tokenizeNanos.get();
        return call.result();
    }

    /**
     * Ends the tokenize-ahead thread and the pool's workers, if any; the caller guarantees that no call is in
     * progress.
     */
    @Override
    public void close() {
        ExecutorService tokenizing;
        synchronized (this) {
            tokenizing = tokenizerPool;
            tokenizerPool = null;
        }
        try {
            if (tokenizing != null) {
                // Idle by now (every call waits for its own background work): this only lets its thread end.
                tokenizing.shutdown();
                try {
                    tokenizing.awaitTermination(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        } finally {
            pool.close();
        }
    }

    /**
     * The tokenize-ahead executor. One daemon thread is enough: a call embeds one window at a time (on every engine
     * of the pool), and the tokenizer parallelizes a window's texts itself. The thread ends when idle, so an open model that is not in use
     * holds none.
     */
    private synchronized ExecutorService tokenizerPool() {
        if (tokenizerPool == null) {
            ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                    r -> {
                        Thread t = new Thread(r, TOKENIZER_THREAD_PREFIX + TOKENIZER_THREADS.incrementAndGet());
                        t.setDaemon(true);  // never keeps the JVM alive
                        return t;
                    });
            pool.allowCoreThreadTimeOut(true);
            tokenizerPool = pool;
        }
        return tokenizerPool;
    }

    private static TokenizedInput[] tokenizeWindow(TextTokenizer tok, String instruction, List<String> texts, int from,
                                                   AtomicLong nanos) {
        long t0 = System.nanoTime();
        // No truncation here: Call.prepare truncates, reports truncations and applies the overflow policy.
        TokenizedInput[] out = tok.prepareAll(instruction,
                texts.subList(from, Math.min(texts.size(), from + PACKING_WINDOW)), Integer.MAX_VALUE);
        nanos.addAndGet(System.nanoTime() - t0);
        return out;
    }

    /** The result of a background task; its exception is rethrown as is (it already names the input). */
    private static <T> T await(Future<T> f) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true;  // the task uses this call's resources: finish waiting, keep the flag
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    if (c instanceof RuntimeException r) throw r;
                    if (c instanceof Error err) throw err;
                    throw new IllegalStateException(c);
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private static void awaitQuietly(Future<?> f) {
        try {
            await(f);
        } catch (RuntimeException | Error ignored) {
            // the call is already failing with its own exception
        }
    }

    /**
     * One embedding call: validated inputs, results in input order, truncations, timings. Windows are prepared and
     * run in input order, so truncations are listed in input order.
     */
    private final class Call {
        final boolean normalize;
        final TokenizedInput[] inputs;
        final int[] lengths;
        final float[][] vectors;
        final List<EmbeddingResult.Truncation> truncations = new ArrayList<>();
        long tokenizeNanos, engineNanos, tokenizerWaitNanos;

        Call(int n, boolean normalize) {
            this.normalize = normalize;
            this.inputs = new TokenizedInput[n];
            this.lengths = new int[n];
            this.vectors = new float[n][];
        }

        /** Applies the overflow policy and validates {@code raw}, which are the inputs from {@code offset} on. */
        void prepare(TokenizedInput[] raw, int offset) {
            for (int k = 0; k < raw.length; k++) {
                int i = offset + k;
                TokenizedInput in = raw[k];
                int[] ids = in.ids();
                if (ids.length == 0) throw new InvalidInputException(i, "has no tokens");
                int original = in.originalLength();
                if (ids.length > maxLength) ids = Arrays.copyOf(ids, maxLength);
                if (original > ids.length) {
                    if (options.overflow() == Options.Overflow.FAIL) {
                        throw new InvalidInputException(i, "has " + original + " tokens, more than maxLength "
                                + maxLength + " (Options.overflow is FAIL)");
                    }
                    truncations.add(new EmbeddingResult.Truncation(i, original, ids.length));
                }
                if (in.poolStart() < 0) throw new InvalidInputException(i, "poolStart " + in.poolStart() + " < 0");
                int poolStart = in.poolStart();
                if (poolStart >= ids.length) {
                    throw new InvalidInputException(i, "nothing left to pool: the instruction covers " + poolStart
                            + " tokens and the input has " + ids.length + " tokens"
                            + (original > ids.length ? " after truncation to maxLength " + maxLength : "")
                            + " (the official code would divide by zero here)");
                }
                for (int t = 0; t < ids.length; t++) {
                    if (ids[t] < 0 || ids[t] >= vocab) {
                        throw new InvalidInputException(i, "token " + t + " has id " + ids[t]
                                + ", outside the vocabulary [0, " + vocab + ")");
                    }
                }
                inputs[i] = new TokenizedInput(ids, poolStart, original);
                lengths[i] = ids.length;
            }
        }

        /**
         * Embeds the prepared inputs {@code [from, to)}, at most one packing window, and returns when the window is
         * done: its batches are planned here, as for one device, and run by the pool (on every engine at once when
         * there are several).
         */
        void run(int from, int to) {
            int[] windowLengths = Arrays.copyOfRange(lengths, from, to);
            long t0 = System.nanoTime();
            List<BatchPlanner.Batch> batches = new ArrayList<>();
            for (BatchPlanner.Batch b : BatchPlanner.plan(windowLengths, options.batchTokens(), PACKING_WINDOW)) {
                int[] idx = b.indices().clone();
                for (int s = 0; s < idx.length; s++) idx[s] += from;
                batches.add(new BatchPlanner.Batch(idx, b.tokens()));
            }
            pool.run(inputs, batches, normalize, vectors);
            engineNanos += System.nanoTime() - t0;
        }

        EmbeddingResult result() {
            if (!truncations.isEmpty()) {
                LOG.log(System.Logger.Level.DEBUG, "{0} of {1} inputs truncated to {2} tokens (first: input {3}, "
                        + "{4} tokens)", truncations.size(), inputs.length, maxLength, truncations.get(0).index(),
                        truncations.get(0).originalTokens());
            }
            var timings = new EmbeddingResult.Timings(tokenizeNanos, engineNanos, tokenizerWaitNanos);
            if (inputs.length > 0) {
                LOG.log(System.Logger.Level.DEBUG, () -> String.format(java.util.Locale.ROOT, "embedded %d inputs: "
                        + "tokenize %.1f ms, engine %.1f ms, engine waited for the tokenizer %.1f ms", inputs.length,
                        tokenizeNanos / 1e6, engineNanos / 1e6, tokenizerWaitNanos / 1e6));
            }
            return new EmbeddingResult(vectors, lengths, List.copyOf(truncations), timings);
        }
    }
}
