package dev.reasonir;

import dev.reasonir.internal.NativeModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
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
    /** Test hook: runs after the native model is open, before the model object exists; null in production. */
    static volatile Runnable afterNativeOpen;

    /** Usable CUDA devices for this build of the engine; {@code reason} says why there are none ("" otherwise). */
    public record CudaDeviceCount(int count, String reason) {}

    // The facade holds the lifecycle; the native seam (handle, buffers, status codes) is NativeModel, the Java side of
    // an embedding call (validation, overflow, batching, tokenize-ahead) is Embedder.
    private final Path dir;
    private final Options options;
    /** Held shared by every operation that uses native resources (engine, tokenizer), exclusively by close(). */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final NativeModel engine;
    private final Embedder embedder;
    private final int maxLength;
    private volatile boolean closed;
    private volatile TextTokenizer tokenizer;   // loaded on first text input

    private ReasonIR(Path dir, Options options, NativeModel engine) {
        this.dir = dir;
        this.options = options;
        this.engine = engine;
        this.maxLength = (int) Math.min(options.maxLength(), engine.maxPosition());
        this.embedder = new Embedder(options, maxLength, engine.vocab(), engine::embedBatch, this::tokenizer);
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
        NativeModel engine = NativeModel.open(dir, options);
        // From here on the native model is ours: any failure before the model object owns it must close it.
        try {
            Runnable hook = afterNativeOpen;
            if (hook != null) hook.run();
            ReasonIR model = new ReasonIR(dir, options, engine);
            if (!engine.deviceNote().isEmpty()) {
                // One line, so that a user of "auto" learns whether the GPU is used, and if not, why not.
                LOG.log(System.Logger.Level.INFO, "device {0} -> {1}: {2}", options.device(), engine.device(),
                        engine.deviceNote());
            }
            LOG.log(System.Logger.Level.DEBUG, "opened {0} on {1}", dir, engine.device());
            return model;
        } catch (RuntimeException | Error e) {
            engine.close();
            throw e;
        }
    }

    /**
     * How many CUDA devices this engine can use, and when none, why not (no CUDA backend in this build, no driver,
     * no device, cuBLASLt missing). Opening with device "auto" uses the first one when there is one.
     */
    public static CudaDeviceCount cudaDeviceCount() {
        NativeModel.DeviceCount c = NativeModel.cudaDeviceCount();
        return new CudaDeviceCount(c.count(), c.reason());
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
        Embedder.checkTexts(texts);
        return whileOpen(() -> embedder.embedTexts(List.copyOf(texts), instr));
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
        Embedder.checkInputs(inputs);
        return whileOpen(() -> embedder.embedTokens(inputs, normalize));
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
        return engine.hidden();
    }

    public int vocabSize() {
        checkOpen();
        return engine.vocab();
    }

    /** Effective max length: the option, capped by the model's max_position_embeddings. */
    public int maxLength() {
        checkOpen();
        return maxLength;
    }

    /** "cpu" or "cuda". */
    public String backend() {
        checkOpen();
        return engine.backend();
    }

    /** Human-readable device, e.g. "cpu (2 threads, avx512bf16)" or "cuda:0 (NVIDIA H100 80GB HBM3)". */
    public String device() {
        checkOpen();
        return engine.device();
    }

    /**
     * Why the engine chose this device when the device was "auto" (e.g. why CUDA was not used); "" when the device
     * was named explicitly.
     */
    public String deviceNote() {
        checkOpen();
        return engine.deviceNote();
    }

    public Precision precision() {
        checkOpen();
        return engine.precision();
    }

    public Path modelDir() {
        return dir;
    }

    public Options options() {
        return options;
    }

    /** Library version of the native engine. */
    public static String nativeVersion() {
        return NativeModel.version();
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();  // waits for every in-flight operation, tokenize-ahead included
        try {
            if (closed) return;
            closed = true;
            engine.close();
            embedder.close();
            TextTokenizer t = tokenizer;
            if (t != null) t.close();
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

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
}
