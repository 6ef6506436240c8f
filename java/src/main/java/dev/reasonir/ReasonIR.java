package dev.reasonir;

import dev.reasonir.internal.ReasonIRNative;
import dev.reasonir.internal.ReasonIRNative.Model;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerPointer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
 * native engine; results come back in input order. Methods are thread-safe; native calls on one model are serialized.
 * After {@link #close()} every method throws {@link IllegalStateException}.
 */
public final class ReasonIR implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ReasonIR.class.getName());
    /** Inputs sorted together when packing (see {@link BatchPlanner}). */
    private static final int PACKING_WINDOW = 4096;
    private static final int ERROR_CAP = 4096;

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
    private final Precision precision;
    private Model handle;                       // null once closed
    private volatile boolean closed;
    private volatile TextTokenizer tokenizer;   // loaded on first text input
    // Native staging buffers, grown as needed, guarded by lock.
    private IntPointer idsBuf, cuBuf, poolBuf;
    private FloatPointer outBuf;

    private ReasonIR(Path dir, Options options, Model handle) {
        this.dir = dir;
        this.options = options;
        this.handle = handle;
        this.hidden = ReasonIRNative.rir_hidden_size(handle);
        this.vocab = ReasonIRNative.rir_vocab_size(handle);
        this.backend = ReasonIRNative.rir_backend(handle).getString();
        this.device = ReasonIRNative.rir_device(handle).getString();
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
        try (ReasonIRNative.OpenOptions o = new ReasonIRNative.OpenOptions();
             BytePointer dirStr = new BytePointer(dir.toAbsolutePath().toString(), "UTF-8");
             BytePointer devStr = new BytePointer(options.device(), "UTF-8");
             PointerPointer<Model> out = new PointerPointer<>(1);
             BytePointer err = new BytePointer(ERROR_CAP)) {
            ReasonIRNative.rir_open_options_init(o);
            o.model_dir(dirStr).device(devStr).num_threads(options.threads())
                    .precision(options.precision().nativeValue)
                    .max_batch_tokens(Math.max(options.batchTokens(), options.maxLength()));
            int st = ReasonIRNative.rir_open(o, out, err, ERROR_CAP);
            if (st != ReasonIRNative.RIR_OK) throw fromStatus(st, err.getString(), null);
            Model handle = out.get(Model.class, 0);
            ReasonIR model = new ReasonIR(dir, options, handle);
            LOG.log(System.Logger.Level.DEBUG, "opened {0} on {1}", dir, model.device);
            return model;
        } catch (java.io.UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
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
     * Embeds {@code instruction + text} for each text; the instruction's tokens are attended to but not pooled.
     * An empty instruction pools every token. The result lists truncated inputs.
     */
    public EmbeddingResult embed(List<String> texts, String instruction) {
        Objects.requireNonNull(texts, "texts");
        String instr = instruction == null ? "" : instruction;
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i) == null) throw new InvalidInputException(i, "text is null");
            if (texts.get(i).isEmpty()) throw new InvalidInputException(i, "text is empty");
        }
        return whileOpen(() -> {
            if (texts.isEmpty()) return embedPrepared(List.of(), true);
            TokenizedInput[] inputs = tokenizer().prepareAll(instr, texts, Integer.MAX_VALUE);
            return embedPrepared(List.of(inputs), true);
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
        return whileOpen(() -> embedPrepared(inputs, normalize));
    }

    /** What the engine would feed the model for {@code instruction + text}, truncated to the max length. */
    public TokenizedInput tokenize(String instruction, String text) {
        Objects.requireNonNull(text, "text");
        return whileOpen(() -> tokenizer().prepare(instruction == null ? "" : instruction, text, maxLength));
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

    /** Human-readable device, e.g. "cpu (2 threads, avx512bf16)". */
    public String device() {
        checkOpen();
        return device;
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
        return ReasonIRNative.rir_version().getString();
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();  // waits for every in-flight operation
        try {
            if (closed) return;
            closed = true;
            ReasonIRNative.rir_close(handle);
            handle = null;
            for (var p : new org.bytedeco.javacpp.Pointer[] {idsBuf, cuBuf, poolBuf, outBuf}) {
                if (p != null) p.close();
            }
            TextTokenizer t = tokenizer;
            if (t != null) t.close();
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

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

    private void checkOpen() {
        if (closed) throw new IllegalStateException("ReasonIR model " + dir + " is closed");
    }

    /** Applies the overflow policy, validates, packs and runs. */
    private EmbeddingResult embedPrepared(List<TokenizedInput> raw, boolean normalize) {
        int n = raw.size();
        TokenizedInput[] inputs = new TokenizedInput[n];
        List<EmbeddingResult.Truncation> truncations = new ArrayList<>();
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            TokenizedInput in = raw.get(i);
            int[] ids = in.ids();
            if (ids.length == 0) throw new InvalidInputException(i, "has no tokens");
            int original = in.originalLength();
            if (ids.length > maxLength) ids = java.util.Arrays.copyOf(ids, maxLength);
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
        if (!truncations.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "{0} of {1} inputs truncated to {2} tokens (first: input {3}, {4} "
                    + "tokens)", truncations.size(), n, maxLength, truncations.get(0).index(),
                    truncations.get(0).originalTokens());
        }
        float[][] vectors = new float[n][];
        for (BatchPlanner.Batch b : BatchPlanner.plan(lengths, options.batchTokens(), PACKING_WINDOW)) {
            runBatch(inputs, b, normalize, vectors);
        }
        return new EmbeddingResult(vectors, lengths, List.copyOf(truncations));
    }

    private void runBatch(TokenizedInput[] inputs, BatchPlanner.Batch batch, boolean normalize, float[][] vectors) {
        int[] idx = batch.indices();
        int nSeq = idx.length;
        lock.lock();
        try {
            ensureBuffers(batch.tokens(), nSeq);
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
                throw fromStatus(st, ReasonIRNative.rir_last_error(handle).getString(), idx);
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

    private static final Pattern SEQUENCE = Pattern.compile("^sequence (\\d+)");

    /** Maps a native status to the exception type; batch sequence indices are mapped back to caller indices. */
    static ReasonIRException fromStatus(int status, String message, int[] batchToInput) {
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
        // Native messages name the sequence of the packed batch ("sequence 3: ..."): name the caller's input instead.
        int inputIndex = -1;
        Matcher m = SEQUENCE.matcher(message);
        if (batchToInput != null && m.find() && Integer.parseInt(m.group(1)) < batchToInput.length) {
            inputIndex = batchToInput[Integer.parseInt(m.group(1))];
            message = message.substring(m.end()).replaceFirst("^[:,]? *", "");
        }
        return switch (kind) {
            case INPUT -> new InvalidInputException(inputIndex, message);
            case IO, FORMAT, CHECKPOINT, CONFIG -> new CheckpointException(kind, message, inputIndex);
            default -> new ReasonIRException(kind, message, inputIndex);
        };
    }
}
