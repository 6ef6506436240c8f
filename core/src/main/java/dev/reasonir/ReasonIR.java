package dev.reasonir;

import dev.reasonir.internal.ReasonIRNative;
import dev.reasonir.internal.ReasonIRNative.Model;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerPointer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * A loaded ReasonIR model: text in, L2-normalized float32 vectors out (cosine similarity = dot product).
 *
 * <pre>{@code
 * try (ReasonIR model = ReasonIR.open(Path.of("/models/ReasonIR-8B"))) {
 *     float[][] q = model.embedQueries(List.of("why is the sky blue?"), Instructions.bright("biology"));
 *     float[][] d = model.embedDocuments(List.of("Rayleigh scattering ..."));
 *     float score = Vectors.dot(q[0], d[0]);
 * }
 * }</pre>
 *
 * Inputs of a call are tokenized, packed into batches under the token budget (never padded) and embedded by the
 * native engine; results come back in input order. Text is tokenized one packing window ahead on a background thread
 * of the model, so the engine does not wait for the tokenizer between windows. Methods are thread-safe; native calls
 * on one model are serialized. After {@link #close()} every method throws {@link IllegalStateException}.
 */
public final class ReasonIR implements AutoCloseable {
    static {
        Logging.settle();  // before anything else starts SLF4J (see Logging)
    }

    private static final System.Logger LOG = System.getLogger(ReasonIR.class.getName());
    /** Inputs sorted together when packing (see {@link BatchPlanner}); also the unit of tokenize-ahead. */
    static final int PACKING_WINDOW = 4096;
    private static final int ERROR_CAP = 4096;
    /** Native handles opened and not yet closed, process-wide: lets tests prove that no failure path leaks one. */
    private static final AtomicInteger LIVE_HANDLES = new AtomicInteger();
    private static final AtomicInteger TOKENIZER_THREADS = new AtomicInteger();
    /** Name prefix of the tokenize-ahead threads (tests look for leaked ones by it). */
    static final String TOKENIZER_THREAD_PREFIX = "reasonir-tokenizer-";
    /** Test hook: runs after rir_open succeeded, before the model object exists; null in production. */
    static volatile Runnable afterNativeOpen;

    /** Usable CUDA devices for this build of the engine; {@code reason} says why there are none ("" otherwise). */
    public record CudaDeviceCount(int count, String reason) {}

    private final Path dir;
    private final Options options;
    /** Held shared by every operation that uses native resources (engine, tokenizer), exclusively by close(). */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    /** Serializes native engine calls (one handle serves one call at a time) and guards the staging buffers. */
    private final ReentrantLock lock = new ReentrantLock();
    private final int hidden;
    private final int vocab;
    private final int maxLength;
    private final String backend;
    private final String device;
    private final String deviceNote;
    private final Precision precision;
    private Model handle;                       // null once closed
    private volatile boolean closed;
    private volatile TextTokenizer tokenizer;   // loaded on first text input
    private ExecutorService tokenizerPool;      // created on the first call with more than one window; guarded by this
    // Native staging buffers, grown as needed, guarded by lock.
    private IntPointer idsBuf, cuBuf, poolBuf;
    private FloatPointer outBuf;

    private ReasonIR(Path dir, Options options, Model handle) {
        this.dir = dir;
        this.options = options;
        this.handle = handle;
        this.hidden = ReasonIRNative.rir_hidden_size(handle);
        this.vocab = ReasonIRNative.rir_vocab_size(handle);
        this.backend = cString(ReasonIRNative.rir_backend(handle));
        this.device = cString(ReasonIRNative.rir_device(handle));
        this.deviceNote = cString(ReasonIRNative.rir_device_note(handle));
        this.precision = Precision.ofNative(ReasonIRNative.rir_precision_of(handle));
        long maxPosition = ReasonIRNative.rir_max_position(handle);
        this.maxLength = (int) Math.min(options.maxLength(), maxPosition);
    }

    /** Opens a model folder (config.json + safetensors, tokenizer.json for text input) with default options. */
    public static ReasonIR open(Path dir) {
        return open(dir, Options.defaults());
    }

    public static ReasonIR open(Path dir, Options options) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(options, "options");
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(ReasonIRException.Kind.IO, "model folder " + dir + " does not exist");
        }
        loadNative();
        Model handle;
        try (ReasonIRNative.OpenOptions o = new ReasonIRNative.OpenOptions();
             BytePointer dirStr = new BytePointer(dir.toAbsolutePath().toString(), "UTF-8");
             BytePointer devStr = new BytePointer(options.device(), "UTF-8");
             PointerPointer<Model> out = new PointerPointer<>(1);
             BytePointer err = new BytePointer(ERROR_CAP)) {
            err.zero();  // fresh native memory is not zeroed: an unwritten buffer must read as "", not as garbage
            ReasonIRNative.rir_open_options_init(o);
            o.model_dir(dirStr).device(devStr).num_threads(options.threads())
                    .precision(options.precision().nativeValue)
                    .max_batch_tokens(Math.max(options.batchTokens(), options.maxLength()))
                    .flags(options.copyWeights() ? ReasonIRNative.RIR_OPEN_COPY_WEIGHTS : 0);
            int st = ReasonIRNative.rir_open(o, out, err, ERROR_CAP);
            if (st != ReasonIRNative.RIR_OK) {
                String message = cString(err, ERROR_CAP);
                throw fromStatus(st, message.isEmpty() ? "rir_open failed with status " + st : message, -1, null);
            }
            handle = out.get(Model.class, 0);
        } catch (java.io.UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        }
        LIVE_HANDLES.incrementAndGet();
        // From here on the handle is ours: any failure before the model object owns it must free it.
        try {
            Runnable hook = afterNativeOpen;
            if (hook != null) hook.run();
            ReasonIR model = new ReasonIR(dir, options, handle);
            if (!model.deviceNote.isEmpty()) {
                // One line, so that a user of "auto" learns whether the GPU is used, and if not, why not.
                LOG.log(System.Logger.Level.INFO, "device {0} -> {1}: {2}", options.device(), model.device,
                        model.deviceNote);
            }
            LOG.log(System.Logger.Level.DEBUG, "opened {0} on {1}", dir, model.device);
            return model;
        } catch (RuntimeException | Error e) {
            closeHandle(handle);
            throw e;
        }
    }

    /**
     * How many CUDA devices this engine can use, and when none, why not (no CUDA backend in this build, no driver,
     * no device, cuBLASLt missing). Opening with device "auto" uses the first one when there is one.
     */
    public static CudaDeviceCount cudaDeviceCount() {
        loadNative();
        try (BytePointer why = new BytePointer(ERROR_CAP)) {
            why.zero();
            int n = ReasonIRNative.rir_cuda_device_count(why, ERROR_CAP);
            return new CudaDeviceCount(n, n > 0 ? "" : cString(why, ERROR_CAP));
        }
    }

    /** Embeds queries, each prefixed by {@code instruction} (e.g. {@link Instructions#bright(String)}). */
    public float[][] embedQueries(List<String> texts, String instruction) {
        return embed(texts, Objects.requireNonNull(instruction, "instruction")).vectors();
    }

    /** Embeds documents, each prefixed by {@link Instructions#DOCUMENT}. */
    public float[][] embedDocuments(List<String> texts) {
        return embed(texts, Instructions.DOCUMENT).vectors();
    }

    /**
     * Embeds texts with the default prompt, {@link Instructions#DEFAULT_PROMPT} (the document prefix), as every other
     * surface does for a text that names no role (CLI {@code embed}, the server, the adapters, Spark). The result
     * lists truncated inputs.
     */
    public EmbeddingResult embed(List<String> texts) {
        return embed(texts, Instructions.DEFAULT_PROMPT);
    }

    /**
     * Embeds {@code instruction + text} for each text; the instruction's tokens are attended to but not pooled.
     * {@code null}: the default prompt ({@link Instructions#DEFAULT_PROMPT}); {@code ""}: no prompt at all (raw text,
     * every token pooled, the official {@code encode(text)} default). The result lists truncated inputs.
     */
    public EmbeddingResult embed(List<String> texts, String instruction) {
        Objects.requireNonNull(texts, "texts");
        String instr = instruction == null ? Instructions.DEFAULT_PROMPT : instruction;
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null) throw new InvalidInputException(i, "text is null");
            if (texts.get(i).isEmpty()) throw new InvalidInputException(i, "text is empty");
        }
        return whileOpen(() -> {
            if (texts.isEmpty()) return new Call(0, true).result();
            return embedTexts(List.copyOf(texts), instr);
        });
    }

    /** Embeds pre-tokenized inputs (ids used as given: include BOS yourself), L2-normalized. */
    public EmbeddingResult embedTokens(List<TokenizedInput> inputs) {
        return embedTokens(inputs, true);
    }

    /**
     * Embeds pre-tokenized inputs; with {@code normalize == false} the rows are the masked means of the final hidden
     * states before L2 normalization.
     */
    public EmbeddingResult embedTokens(List<TokenizedInput> inputs, boolean normalize) {
        Objects.requireNonNull(inputs, "inputs");
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i) == null) throw new InvalidInputException(i, "input is null");
        }
        return whileOpen(() -> {
            Call call = new Call(inputs.size(), normalize);
            // Everything is at hand: refuse a bad input before spending any engine time.
            TokenizedInput[] all = inputs.toArray(new TokenizedInput[0]);
            call.prepare(all, 0);
            for (int from = 0; from < all.length; from += PACKING_WINDOW) {
                call.run(from, Math.min(all.length, from + PACKING_WINDOW));
            }
            return call.result();
        });
    }

    /**
     * What the engine would feed the model for {@code instruction + text}, truncated to the max length;
     * {@code instruction} as in {@link #embed(List, String)} ({@code null}: the default prompt).
     */
    public TokenizedInput tokenize(String instruction, String text) {
        Objects.requireNonNull(text, "text");
        return whileOpen(() -> tokenizer().prepare(instruction == null ? Instructions.DEFAULT_PROMPT : instruction,
                text, maxLength));
    }

    /** Number of tokens of {@code text} alone, BOS included, before truncation. */
    public int countTokens(String text) {
        Objects.requireNonNull(text, "text");
        return whileOpen(() -> tokenizer().encode(text).length);
    }

    public int dimension() {
        checkOpen();
        return hidden;
    }

    public int vocabSize() {
        checkOpen();
        return vocab;
    }

    /** Effective max length: the option, capped by the model's max_position_embeddings. */
    public int maxLength() {
        checkOpen();
        return maxLength;
    }

    /** "cpu" or "cuda". */
    public String backend() {
        checkOpen();
        return backend;
    }

    /** Human-readable device, e.g. "cpu (2 threads, avx512bf16)" or "cuda:0 (NVIDIA H100 80GB HBM3)". */
    public String device() {
        checkOpen();
        return device;
    }

    /**
     * Why the engine chose this device when the device was "auto" (e.g. why CUDA was not used); "" when the device
     * was named explicitly.
     */
    public String deviceNote() {
        checkOpen();
        return deviceNote;
    }

    public Precision precision() {
        checkOpen();
        return precision;
    }

    public Path modelDir() {
        return dir;
    }

    public Options options() {
        return options;
    }

    /** Library version of the native engine. */
    public static String nativeVersion() {
        loadNative();
        return cString(ReasonIRNative.rir_version());
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();  // waits for every in-flight operation, tokenize-ahead included
        try {
            if (closed) return;
            closed = true;
            closeHandle(handle);
            handle = null;
            for (var p : new org.bytedeco.javacpp.Pointer[] {idsBuf, cuBuf, poolBuf, outBuf}) {
                if (p != null) p.close();
            }
            ExecutorService pool;
            synchronized (this) {
                pool = tokenizerPool;
                tokenizerPool = null;
            }
            if (pool != null) {
                // Idle by now (every call waits for its own background work): this only lets its thread end.
                pool.shutdown();
                try {
                    pool.awaitTermination(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            TextTokenizer t = tokenizer;
            if (t != null) t.close();
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    /** Native handles opened through this class and not closed yet (for leak tests). */
    static int liveHandles() {
        return LIVE_HANDLES.get();
    }

    private static void closeHandle(Model handle) {
        if (handle == null) return;
        ReasonIRNative.rir_close(handle);
        LIVE_HANDLES.decrementAndGet();
    }

    /** Loads the JNI glue and libreasonir.so from the jar; a platform without them gets a typed error. */
    private static void loadNative() {
        try {
            ReasonIRNative.load();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            throw new ReasonIRException(ReasonIRException.Kind.DEVICE, "the ReasonIR native engine cannot be loaded "
                    + "on this platform (" + org.bytedeco.javacpp.Loader.getPlatform() + "; the jar carries "
                    + "linux-x86_64): " + e, e);
        }
    }

    /** A NUL-terminated string owned by the library (UTF-8); "" for NULL. */
    static String cString(BytePointer p) {
        if (p == null || p.isNull()) return "";
        byte[] b = new byte[Math.toIntExact(BytePointer.strlen(p))];
        p.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /**
     * The message in a caller-provided buffer of {@code cap} bytes: the bytes up to the first NUL. (Reading the whole
     * buffer, as {@code BytePointer.getString()} does for a sized pointer, returns the padding after the message.)
     */
    static String cString(BytePointer buf, int cap) {
        byte[] b = new byte[cap];
        buf.position(0).get(b);
        int n = 0;
        while (n < cap && b[n] != 0) n++;
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    /** Runs {@code op} while the model is open; close() waits for it. */
    private <T> T whileOpen(Supplier<T> op) {
        lifecycle.readLock().lock();
        try {
            checkOpen();
            return op.get();
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** The tokenizer, loaded on first use; call only inside {@link #whileOpen}. */
    private TextTokenizer tokenizer() {
        TextTokenizer t = tokenizer;
        if (t == null) {
            synchronized (this) {
                t = tokenizer;
                if (t == null) tokenizer = t = TextTokenizer.load(dir);
            }
        }
        return t;
    }

    /**
     * The model's tokenize-ahead executor; call only inside {@link #whileOpen}. One daemon thread is enough: engine
     * calls on a model are serialized, and the tokenizer parallelizes a window's texts itself. The thread ends when
     * idle, so an open model that is not in use holds none.
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

    private void checkOpen() {
        if (closed) throw new IllegalStateException("ReasonIR model " + dir + " is closed");
    }

    /**
     * Text input, one packing window at a time: while the engine embeds window w, the tokenizer works on window w+1
     * on the model's background thread, so (when tokenizing is faster than embedding) the engine only ever waits for
     * the first window. Batches are planned per window exactly as for pre-tokenized input, so results do not depend
     * on this overlap. A bad input is reported when its window is reached (earlier windows have then been embedded
     * for nothing, but the call still fails as a whole).
     */
    private EmbeddingResult embedTexts(List<String> texts, String instruction) {
        int n = texts.size();
        Call call = new Call(n, true);
        TextTokenizer tok = tokenizer();  // loaded here, so that a load failure surfaces on the caller's thread
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
            // this call returns, so wait for it (the read lock is still held here).
            if (next != null) awaitQuietly(next);
        }
        call.tokenizeNanos = tokenizeNanos.get();
        return call.result();
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

        /** Embeds the prepared inputs {@code [from, to)}, at most one packing window. */
        void run(int from, int to) {
            int[] windowLengths = Arrays.copyOfRange(lengths, from, to);
            long t0 = System.nanoTime();
            for (BatchPlanner.Batch b : BatchPlanner.plan(windowLengths, options.batchTokens(), PACKING_WINDOW)) {
                int[] idx = b.indices().clone();
                for (int s = 0; s < idx.length; s++) idx[s] += from;
                runBatch(inputs, idx, b.tokens(), normalize, vectors);
            }
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

    /** Embeds one packed batch; {@code idx} are the caller's input indices in packing order. */
    private void runBatch(TokenizedInput[] inputs, int[] idx, int tokens, boolean normalize, float[][] vectors) {
        int nSeq = idx.length;
        lock.lock();
        try {
            ensureBuffers(tokens, nSeq);
            int offset = 0;
            cuBuf.put(0, 0);
            for (int s = 0; s < nSeq; s++) {
                TokenizedInput in = inputs[idx[s]];
                idsBuf.position(offset).put(in.ids(), 0, in.ids().length);
                offset += in.ids().length;
                cuBuf.put(s + 1, offset);
                poolBuf.put(s, in.poolStart());
            }
            idsBuf.position(0);  // JavaCPP passes address + position to native code
            int flags = normalize ? 0 : ReasonIRNative.RIR_EMBED_NO_NORMALIZE;
            int st = ReasonIRNative.rir_embed(handle, idsBuf, cuBuf, poolBuf, nSeq, flags, outBuf,
                    (long) nSeq * hidden);
            if (st != ReasonIRNative.RIR_OK) {
                throw fromStatus(st, cString(ReasonIRNative.rir_last_error(handle)),
                        ReasonIRNative.rir_last_error_sequence(handle), idx);
            }
            for (int s = 0; s < nSeq; s++) {
                float[] v = new float[hidden];
                outBuf.position((long) s * hidden).get(v, 0, hidden);
                vectors[idx[s]] = v;
            }
            outBuf.position(0);
        } finally {
            lock.unlock();
        }
    }

    private void ensureBuffers(int tokens, int nSeq) {
        if (idsBuf == null || idsBuf.capacity() < tokens) {
            if (idsBuf != null) idsBuf.close();
            idsBuf = new IntPointer(Math.max(tokens, 1024L));
        }
        if (cuBuf == null || cuBuf.capacity() < nSeq + 1) {
            if (cuBuf != null) cuBuf.close();
            if (poolBuf != null) poolBuf.close();
            if (outBuf != null) outBuf.close();
            long cap = Math.max(nSeq + 1L, 64L);
            cuBuf = new IntPointer(cap);
            poolBuf = new IntPointer(cap);
            outBuf = new FloatPointer(cap * hidden);
        }
    }

    /**
     * Maps a native status to the exception type. {@code batchSequence} is {@code rir_last_error_sequence}: the
     * index in the packed batch of the sequence the failure concerns (-1: none), mapped through
     * {@code batchToInput} to the caller's input index. The native message is kept as written.
     */
    static ReasonIRException fromStatus(int status, String message, int batchSequence, int[] batchToInput) {
        ReasonIRException.Kind kind = switch (status) {
            case ReasonIRNative.RIR_ERR_INVALID_ARGUMENT -> ReasonIRException.Kind.INVALID_ARGUMENT;
            case ReasonIRNative.RIR_ERR_IO -> ReasonIRException.Kind.IO;
            case ReasonIRNative.RIR_ERR_FORMAT -> ReasonIRException.Kind.FORMAT;
            case ReasonIRNative.RIR_ERR_CHECKPOINT -> ReasonIRException.Kind.CHECKPOINT;
            case ReasonIRNative.RIR_ERR_CONFIG -> ReasonIRException.Kind.CONFIG;
            case ReasonIRNative.RIR_ERR_INPUT -> ReasonIRException.Kind.INPUT;
            case ReasonIRNative.RIR_ERR_DEVICE -> ReasonIRException.Kind.DEVICE;
            case ReasonIRNative.RIR_ERR_OUT_OF_MEMORY -> ReasonIRException.Kind.OUT_OF_MEMORY;
            default -> ReasonIRException.Kind.INTERNAL;
        };
        int inputIndex = batchToInput != null && batchSequence >= 0 && batchSequence < batchToInput.length
                ? batchToInput[batchSequence] : -1;
        return switch (kind) {
            case INPUT -> new InvalidInputException(inputIndex, message);
            case IO, FORMAT, CHECKPOINT, CONFIG -> new CheckpointException(kind, message, inputIndex);
            default -> new ReasonIRException(kind, message, inputIndex);
        };
    }
}
