package dev.reasonir.internal;

import dev.reasonir.CheckpointException;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import dev.reasonir.internal.ReasonIRNative.Model;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.io.UnsupportedEncodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One open native model: the {@code rir_model} handle of {@code native/include/reasonir.h}, its facts, its staging
 * buffers and its embed call. Besides the binding itself ({@link ReasonIRNative}) and {@link NativeScorer}, this is
 * the only Java code that touches JavaCPP types, and the one place where native status codes become exceptions.
 * Internal: {@link dev.reasonir.ReasonIR} is the API users see.
 *
 * <p>Self-contained, so that several of them (one per device) can serve one facade: each holds one handle, its own
 * buffers and its own lock. {@link #embedBatch} calls on one instance are serialized (the handle serves one call at a
 * time, and the buffers are reused); distinct instances run concurrently. {@link #close()} waits for an embed call in
 * progress and is idempotent; an embed call after it throws {@link IllegalStateException}.
 */
public final class NativeModel implements AutoCloseable {
    private static final int ERROR_CAP = 4096;
    /** Native handles opened and not yet closed, process-wide: lets tests prove that no failure path leaks one. */
    private static final AtomicInteger LIVE_HANDLES = new AtomicInteger();
    /** Calls of {@link #open}, process-wide, whatever their outcome: lets tests prove that an open was never tried. */
    private static final AtomicInteger OPEN_ATTEMPTS = new AtomicInteger();

    /** Serializes native engine calls (one handle serves one call at a time) and guards the handle and buffers. */
    private final ReentrantLock lock = new ReentrantLock();
    private final int hidden;
    private final int vocab;
    private final long maxPosition;
    private final String backend;
    private final String device;
    private final String deviceNote;
    private final Precision precision;
    private Model handle;                       // null once closed; guarded by lock
    // Native staging buffers, grown as needed, guarded by lock.
    private IntPointer idsBuf, cuBuf, poolBuf;
    private FloatPointer outBuf;

    /** Reads the facts of a freshly opened handle; the caller frees the handle if this throws. */
    private NativeModel(Model handle) {
        this.handle = handle;
        this.hidden = ReasonIRNative.rir_hidden_size(handle);
        this.vocab = ReasonIRNative.rir_vocab_size(handle);
        this.maxPosition = ReasonIRNative.rir_max_position(handle);
        this.backend = cString(ReasonIRNative.rir_backend(handle));
        this.device = cString(ReasonIRNative.rir_device(handle));
        this.deviceNote = cString(ReasonIRNative.rir_device_note(handle));
        this.precision = precisionOf(ReasonIRNative.rir_precision_of(handle));
    }

    /**
     * Opens the checkpoint in {@code dir} (which the caller has checked exists) with {@code options}: device, threads,
     * precision, the weight-copy flag, and a workspace for the largest batch a caller passes (a packed batch is at
     * most {@link Options#batchTokens()} tokens, or one input of up to {@link Options#maxLength()} tokens going
     * alone). A native failure becomes the exception of its status ({@link #fromStatus}).
     */
    public static NativeModel open(Path dir, Options options) {
        load();
        OPEN_ATTEMPTS.incrementAndGet();
        Model handle;
        try (ReasonIRNative.OpenOptions o = new ReasonIRNative.OpenOptions();
             BytePointer dirStr = new BytePointer(dir.toAbsolutePath().toString(), "UTF-8");
             BytePointer devStr = new BytePointer(options.device(), "UTF-8");
             PointerPointer<Model> out = new PointerPointer<>(1);
             BytePointer err = new BytePointer(ERROR_CAP)) {
            err.zero();  // fresh native memory is not zeroed: an unwritten buffer must read as "", not as garbage
            fill(o, dirStr, devStr, options);
            int st = ReasonIRNative.rir_open(o, out, err, ERROR_CAP);
            if (st != ReasonIRNative.RIR_OK) {
                String message = cString(err, ERROR_CAP);
                throw fromStatus(st, message.isEmpty() ? "rir_open failed with status " + st : message, -1, null);
            }
            handle = out.get(Model.class, 0);
        } catch (UnsupportedEncodingException e) {
            throw new IllegalStateException(e);  // UTF-8 is always supported
        }
        LIVE_HANDLES.incrementAndGet();
        // From here on the handle is ours: any failure before the object owns it must free it.
        try {
            return new NativeModel(handle);
        } catch (RuntimeException | Error e) {
            closeHandle(handle);
            throw e;
        }
    }

    /**
     * The {@code rir_open_options} of an open with {@code options}: one place for {@link #open} and
     * {@link #checkDeviceMemory}, so that the memory check judges exactly the open that follows it. The strings must
     * stay alive while {@code o} is used.
     */
    private static void fill(ReasonIRNative.OpenOptions o, BytePointer dirStr, BytePointer devStr, Options options) {
        ReasonIRNative.rir_open_options_init(o);
        o.model_dir(dirStr).device(devStr).num_threads(options.threads())
                .precision(nativePrecision(options.precision()))
                .max_batch_tokens(Math.max(options.batchTokens(), options.maxLength()))
                .flags(options.copyWeights() ? ReasonIRNative.RIR_OPEN_COPY_WEIGHTS : 0)
                .attention(nativeAttention(options.attention()))
                .cuda_graphs(nativeCudaGraphs(options.cudaGraphs()));
    }

    /**
     * Whether {@link #open} with {@code options} on its CUDA device ({@code cuda}, {@code cuda:N}) would fit in that
     * device's free memory ({@code rir_check_device_memory}): reads config.json of {@code dir}, allocates nothing of
     * the engine's. A device pool asks this of every device before it opens any. A device too small for the model is
     * an answer ({@link MemoryCheck#fits()} false, with the message the open would give), not an exception.
     *
     * @throws ReasonIRException of the native status for anything else: not a CUDA device or no CUDA backend
     *                           ({@link ReasonIRException.Kind#DEVICE}), an unreadable config.json
     *                           ({@link CheckpointException}), bad options
     */
    public static MemoryCheck checkDeviceMemory(Path dir, Options options) {
        load();
        try (ReasonIRNative.OpenOptions o = new ReasonIRNative.OpenOptions();
             BytePointer dirStr = new BytePointer(dir.toAbsolutePath().toString(), "UTF-8");
             BytePointer devStr = new BytePointer(options.device(), "UTF-8");
             LongPointer need = new LongPointer(1);
             LongPointer free = new LongPointer(1);
             BytePointer err = new BytePointer(ERROR_CAP)) {
            err.zero();
            fill(o, dirStr, devStr, options);
            int st = ReasonIRNative.rir_check_device_memory(o, need, free, err, ERROR_CAP);
            String message = cString(err, ERROR_CAP);
            if (st == ReasonIRNative.RIR_OK || st == ReasonIRNative.RIR_ERR_OUT_OF_MEMORY) {
                return new MemoryCheck(options.device(), st == ReasonIRNative.RIR_OK, need.get(0), free.get(0),
                        message);
            }
            throw fromStatus(st, message.isEmpty() ? "rir_check_device_memory failed with status " + st : message,
                    -1, null);
        } catch (UnsupportedEncodingException e) {
            throw new IllegalStateException(e);  // UTF-8 is always supported
        }
    }

    /**
     * The answer of {@link #checkDeviceMemory}: the device asked, whether the model fits, the bytes an open needs there
     * and the bytes free (unsigned values that fit a long on any GPU), and when it does not fit the open's
     * out-of-memory message naming the device ("" when it fits).
     */
    public record MemoryCheck(String device, boolean fits, long needBytes, long freeBytes, String message) {}

    /** Loads the JNI glue and libreasonir.so from the jar (idempotent); a platform without them gets a typed error. */
    public static void load() {
        try {
            ReasonIRNative.load();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            throw new ReasonIRException(ReasonIRException.Kind.DEVICE, "the ReasonIR native engine cannot be loaded "
                    + "on this platform (" + Loader.getPlatform() + "; the jar carries linux-x86_64): " + e, e);
        }
    }

    /**
     * Usable CUDA devices for this build of the engine ({@code rir_cuda_device_count}), and when there are none, why
     * not ("" when there are some).
     */
    public static DeviceCount cudaDeviceCount() {
        load();
        try (BytePointer why = new BytePointer(ERROR_CAP)) {
            why.zero();
            int n = ReasonIRNative.rir_cuda_device_count(why, ERROR_CAP);
            return new DeviceCount(n, n > 0 ? "" : cString(why, ERROR_CAP));
        }
    }

    /** A CUDA device count and, when it is 0, the engine's reason. */
    public record DeviceCount(int count, String reason) {}

    /** Library version of the native engine ({@code rir_version}). */
    public static String version() {
        load();
        return cString(ReasonIRNative.rir_version());
    }

    /** Native handles opened through this class and not closed yet (for leak tests). */
    public static int liveHandles() {
        return LIVE_HANDLES.get();
    }

    /**
     * Calls of {@link #open} so far in this process, failed ones included (for tests that prove an open was refused
     * before any engine was tried, e.g. a device pool's memory check).
     */
    public static int openAttempts() {
        return OPEN_ATTEMPTS.get();
    }

    /** Embedding dimension. */
    public int hidden() {
        return hidden;
    }

    public int vocab() {
        return vocab;
    }

    /** max_position_embeddings: the longest sequence the engine accepts. */
    public long maxPosition() {
        return maxPosition;
    }

    /** "cpu" or "cuda". */
    public String backend() {
        return backend;
    }

    /** Human-readable device, e.g. "cpu (2 threads, avx512bf16)". */
    public String device() {
        return device;
    }

    /** Why the engine chose this device when it was "auto"; "" when the device was named explicitly. */
    public String deviceNote() {
        return deviceNote;
    }

    /** The precision in effect (never {@link Precision#DEFAULT}: the engine resolves it per backend). */
    public Precision precision() {
        return precision;
    }

    /**
     * Embeds one packed batch: the inputs {@code inputs[idx[0]], inputs[idx[1]], ...} (already validated, in packing
     * order, {@code tokens} tokens together), writing each vector to {@code vectors[idx[s]]}. A native failure throws
     * the exception of its status, naming the caller's input ({@code idx[s]}) when it concerns one sequence.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public void embedBatch(TokenizedInput[] inputs, int[] idx, int tokens, boolean normalize, float[][] vectors) {
        int nSeq = idx.length;
        lock.lock();
        try {
            if (handle == null) throw new IllegalStateException("native model on " + device + " is closed");
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

    /** Frees the handle and the staging buffers; waits for an embed call in progress. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (handle == null) return;
            closeHandle(handle);
            handle = null;
            for (Pointer p : new Pointer[] {idsBuf, cuBuf, poolBuf, outBuf}) {
                if (p != null) p.close();
            }
            idsBuf = cuBuf = poolBuf = null;
            outBuf = null;
        } finally {
            lock.unlock();
        }
    }

    private static void closeHandle(Model handle) {
        ReasonIRNative.rir_close(handle);
        LIVE_HANDLES.decrementAndGet();
    }

    // ---- status codes, precisions and strings: the native values meet the Java types here, and only here ----------

    /**
     * Exception kind of each failure status, from the header's values (see {@link ReasonIRNative}); Map.of also
     * refuses two statuses with one value. A holder class, so that the constants (whose reading loads the native
     * library) are read on the first mapping, not when NativeModel itself is loaded.
     */
    private static final class Kinds {
        static final Map<Integer, ReasonIRException.Kind> OF_STATUS = Map.of(
                ReasonIRNative.RIR_ERR_INVALID_ARGUMENT, ReasonIRException.Kind.INVALID_ARGUMENT,
                ReasonIRNative.RIR_ERR_IO, ReasonIRException.Kind.IO,
                ReasonIRNative.RIR_ERR_FORMAT, ReasonIRException.Kind.FORMAT,
                ReasonIRNative.RIR_ERR_CHECKPOINT, ReasonIRException.Kind.CHECKPOINT,
                ReasonIRNative.RIR_ERR_CONFIG, ReasonIRException.Kind.CONFIG,
                ReasonIRNative.RIR_ERR_INPUT, ReasonIRException.Kind.INPUT,
                ReasonIRNative.RIR_ERR_DEVICE, ReasonIRException.Kind.DEVICE,
                ReasonIRNative.RIR_ERR_OUT_OF_MEMORY, ReasonIRException.Kind.OUT_OF_MEMORY,
                ReasonIRNative.RIR_ERR_INTERNAL, ReasonIRException.Kind.INTERNAL);
    }

    /**
     * Maps a native failure status to its exception: {@link InvalidInputException} for a bad input,
     * {@link CheckpointException} for an unusable checkpoint (IO, FORMAT, CHECKPOINT, CONFIG), else
     * {@link ReasonIRException} of the status's kind. {@code batchSequence} is {@code rir_last_error_sequence}: the
     * index in the packed batch of the sequence the failure concerns (-1: none), mapped through {@code batchToInput}
     * (null: no batch) to the caller's input index. The native message is kept as written.
     */
    public static ReasonIRException fromStatus(int status, String message, int batchSequence, int[] batchToInput) {
        // A status this code does not know (a newer library) is reported as INTERNAL, with its message.
        ReasonIRException.Kind kind = Kinds.OF_STATUS.getOrDefault(status, ReasonIRException.Kind.INTERNAL);
        int inputIndex = batchToInput != null && batchSequence >= 0 && batchSequence < batchToInput.length
                ? batchToInput[batchSequence] : -1;
        return switch (kind) {
            case INPUT -> new InvalidInputException(inputIndex, message);
            case IO, FORMAT, CHECKPOINT, CONFIG -> new CheckpointException(kind, message, inputIndex);
            default -> new ReasonIRException(kind, message, inputIndex);
        };
    }

    /** The {@code rir_precision} value of a precision. */
    static int nativePrecision(Precision p) {
        return switch (p) {
            case DEFAULT -> ReasonIRNative.RIR_PRECISION_DEFAULT;
            case FP32 -> ReasonIRNative.RIR_PRECISION_FP32;
            case BF16 -> ReasonIRNative.RIR_PRECISION_BF16;
        };
    }

    /** The {@code rir_attention} value of an attention choice. */
    static int nativeAttention(Options.Attention a) {
        return switch (a) {
            case DEFAULT -> ReasonIRNative.RIR_ATTENTION_DEFAULT;
            case AUTO -> ReasonIRNative.RIR_ATTENTION_AUTO;
            case SM80 -> ReasonIRNative.RIR_ATTENTION_SM80;
            case SM90 -> ReasonIRNative.RIR_ATTENTION_SM90;
        };
    }

    /** The {@code rir_cuda_graphs} value of a graphs choice. */
    static int nativeCudaGraphs(Options.CudaGraphs g) {
        return switch (g) {
            case DEFAULT -> ReasonIRNative.RIR_CUDA_GRAPHS_DEFAULT;
            case AUTO -> ReasonIRNative.RIR_CUDA_GRAPHS_AUTO;
            case ON -> ReasonIRNative.RIR_CUDA_GRAPHS_ON;
            case OFF -> ReasonIRNative.RIR_CUDA_GRAPHS_OFF;
        };
    }

    /** The precision of an {@code rir_precision} value. */
    static Precision precisionOf(int value) {
        for (Precision p : Precision.values()) {
            if (nativePrecision(p) == value) return p;
        }
        throw new IllegalArgumentException("unknown native precision " + value);
    }

    /** A NUL-terminated string owned by the library (UTF-8); "" for NULL. */
    public static String cString(BytePointer p) {
        if (p == null || p.isNull()) return "";
        byte[] b = new byte[Math.toIntExact(BytePointer.strlen(p))];
        p.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /**
     * The message in a caller-provided buffer of {@code cap} bytes: the bytes up to the first NUL. (Reading the whole
     * buffer, as {@code BytePointer.getString()} does for a sized pointer, returns the padding after the message.)
     */
    public static String cString(BytePointer buf, int cap) {
        byte[] b = new byte[cap];
        buf.position(0).get(b);
        int n = 0;
        while (n < cap && b[n] != 0) n++;
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }
}
