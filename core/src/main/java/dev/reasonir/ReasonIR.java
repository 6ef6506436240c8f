package dev.reasonir;

import dev.reasonir.internal.NativeModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.stream.Stream;

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
 * on one engine are serialized. After {@link #close()} every method throws {@link IllegalStateException}.
 *
 * <p><b>Several devices.</b> A device set ({@code cuda:all}, {@code cuda:0,2,3}, {@code cpu*N}; see {@link DeviceSet})
 * opens one engine per device, in parallel, each with the same options and the weights read from the same files (the
 * page cache serves the second and later reads). The batches of a call are planned exactly as for one device and dealt
 * to the engines as they become free, and concurrent calls share every engine, so a vector never depends on how many
 * devices there are or which one ran it. {@link #devices()} lists each engine's load time, counters and state. A device
 * fault takes its engine out of the pool (one WARN line) and its batch is run again on another; when none is left, a
 * call fails with {@link DevicesFailedException}.
 */
public final class ReasonIR implements AutoCloseable {
    static {
        Logging.settle();  // before anything else starts SLF4J (see Logging)
    }

    private static final System.Logger LOG = System.getLogger(ReasonIR.class.getName());
    private static final double GIB = 1024.0 * 1024 * 1024;
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
    /** One per device, in pool order; {@code engine} is the first (the model's facts are the same in every one). */
    private final List<NativeModel> engines;
    private final NativeModel engine;
    private final Embedder embedder;
    private final int maxLength;
    private volatile boolean closed;
    private volatile TextTokenizer tokenizer;   // loaded on first text input

    private ReasonIR(Path dir, Options options, List<Opened> opened) {
        this.dir = dir;
        this.options = options;
        this.engines = opened.stream().map(Opened::model).toList();
        this.engine = engines.get(0);
        this.maxLength = (int) Math.min(options.maxLength(), engine.maxPosition());
        List<DevicePool.Member> members = new ArrayList<>();
        for (Opened o : opened) {
            members.add(new DevicePool.Member(o.name(), o.model().device(), o.model()::embedBatch, o.nanos(),
                    o.gbps()));
        }
        this.embedder = new Embedder(options, maxLength, engine.vocab(), new DevicePool(members), this::tokenizer);
    }

    /** An engine just opened on device {@code name}, and how long it took. */
    private record Opened(String name, NativeModel model, long nanos, double gbps) {}

    /** Opens a model folder (config.json + safetensors, tokenizer.json for text input) with default options. */
    public static ReasonIR open(Path dir) {
        return open(dir, Options.defaults());
    }

    /**
     * Opens a model folder with {@code options}. A device set in {@link Options#device()} (see {@link DeviceSet})
     * opens one engine per device, in parallel; if one of them fails, the others are closed and the failure names the
     * device. A set of several GPUs first checks the free memory of every device, and when one or more cannot hold
     * the model, fails with {@link ReasonIRException.Kind#OUT_OF_MEMORY} naming each of them before any engine has
     * allocated anything. A malformed set fails with {@link ReasonIRException.Kind#INVALID_ARGUMENT}, a named GPU that does not
     * exist with {@link ReasonIRException.Kind#DEVICE}, both before any weights are read.
     */
    public static ReasonIR open(Path dir, Options options) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(options, "options");
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(ReasonIRException.Kind.IO, "model folder " + dir + " does not exist");
        }
        DeviceSet set = DeviceSet.parse(options.device());
        List<String> devices = set.members(ReasonIR::cudaDeviceCount);
        List<Opened> opened = openEngines(dir, options, set, devices);
        // From here on the native models are ours: any failure before the model object owns them must close them.
        try {
            Runnable hook = afterNativeOpen;
            if (hook != null) hook.run();
            ReasonIR model = new ReasonIR(dir, options, opened);
            NativeModel engine = opened.get(0).model();
            if (!engine.deviceNote().isEmpty()) {
                // One line, so that a user of "auto" learns whether the GPU is used, and if not, why not.
                LOG.log(System.Logger.Level.INFO, "device {0} -> {1}: {2}", options.device(), engine.device(),
                        engine.deviceNote());
            }
            // A device set is something the user asked for: say what each engine is and how fast it loaded. One
            // device keeps the library's quiet default (its load time is in devices()).
            System.Logger.Level level = set.isSet() ? System.Logger.Level.INFO : System.Logger.Level.DEBUG;
            for (Opened o : opened) {
                LOG.log(level, () -> String.format(Locale.ROOT, "opened %s on %s (%s) in %.2f s, %.2f GB/s", dir,
                        o.name(), o.model().device(), o.nanos() / 1e9, o.gbps()));
            }
            return model;
        } catch (RuntimeException | Error e) {
            for (Opened o : opened) o.model().close();
            throw e;
        }
    }

    /**
     * Opens one engine per device of {@code devices} (the members of {@code set}); several at once, each on its own
     * thread (native opens of distinct handles are independent: see reasonir.h). All or none: when one fails, the
     * others are closed (after all have ended) and the first failure in pool order is thrown, naming its device.
     */
    private static List<Opened> openEngines(Path dir, Options options, DeviceSet set, List<String> devices) {
        long bytes = checkpointBytes(dir);
        int n = devices.size();
        if (n == 1) {
            // One device: the options as given (a single device string, or cuda:0 for cuda:all on a one-GPU machine).
            Options o = set.isSet() ? options.withDevice(devices.get(0)) : options;
            long t0 = System.nanoTime();
            NativeModel m = NativeModel.open(dir, o);
            long nanos = System.nanoTime() - t0;
            return List.of(new Opened(resolvedName(m), m, nanos, gbps(bytes, nanos)));
        }
        // Several GPUs: every device's free memory is checked before any engine opens, so that a device too small
        // for the model fails the open while the others have allocated nothing. (One device keeps the path above: its
        // open makes the same check itself, with the same message.)
        if (!set.onCpu()) checkDeviceMemory(dir, options, set, devices);
        int threads = set.onCpu()
                ? DeviceSet.threadsPerEngine(options.threads(), n, () -> Runtime.getRuntime().availableProcessors())
                : options.threads();
        Opened[] opened = new Opened[n];
        Throwable[] failed = new Throwable[n];
        Thread[] openers = new Thread[n];
        for (int i = 0; i < n; i++) {
            int k = i;
            // cpu*N: the same device N times; the names stay unique (logs, devices(), DevicesFailedException).
            String name = set.onCpu() ? devices.get(k) + "#" + k : devices.get(k);
            Options o = options.withDevice(devices.get(k)).withThreads(threads);
            openers[k] = new Thread(() -> {
                try {
                    long t0 = System.nanoTime();
                    NativeModel m = NativeModel.open(dir, o);
                    long nanos = System.nanoTime() - t0;
                    opened[k] = new Opened(name, m, nanos, gbps(bytes, nanos));
                } catch (Throwable t) {
                    failed[k] = t;
                }
            }, "reasonir-open-" + name);
            openers[k].setDaemon(true);
            openers[k].start();
        }
        boolean interrupted = false;
        for (Thread t : openers) {
            while (true) {
                try {
                    t.join();  // every open must end before its handle can be closed or kept
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        Throwable first = null;
        for (int i = 0; i < n; i++) {
            if (failed[i] == null) continue;
            Throwable t = failed[i] instanceof ReasonIRException r ? naming(r, devices.get(i), set) : failed[i];
            if (first == null) first = t;
            else first.addSuppressed(t);
        }
        if (first == null) return List.of(opened);
        for (Opened o : opened) {
            if (o != null) o.model().close();
        }
        if (first instanceof RuntimeException r) throw r;
        if (first instanceof Error e) throw e;
        throw new IllegalStateException(first);
    }

    /**
     * A CUDA pool's memory check, before any of its engines opens: asks each device whether an open with these options
     * fits in its free memory ({@link NativeModel#checkDeviceMemory}: config.json only, nothing allocated) and fails
     * with one {@link ReasonIRException.Kind#OUT_OF_MEMORY} naming every device that cannot hold the model (each with
     * its free and total memory and the need, as the open would say). Any other failure of the check (no such device,
     * an unreadable config.json) is what the open would have failed with, named like a failed open. The devices are
     * asked one after the other: each question is a driver call (on a real GPU the first one also creates the
     * device's context, which the open then reuses). The opens still check for themselves, since memory can be taken
     * by another process in between.
     */
    private static void checkDeviceMemory(Path dir, Options options, DeviceSet set, List<String> devices) {
        List<String> tooSmall = new ArrayList<>();
        for (String device : devices) {
            NativeModel.MemoryCheck c;
            try {
                c = NativeModel.checkDeviceMemory(dir, options.withDevice(device));
            } catch (ReasonIRException e) {
                throw naming(e, device, set);
            }
            LOG.log(System.Logger.Level.DEBUG, () -> String.format(Locale.ROOT,
                    "%s: %.2f GiB free, an engine needs %.2f GiB%s", device, c.freeBytes() / GIB, c.needBytes() / GIB,
                    c.fits() ? "" : " (too small)"));
            if (!c.fits()) tooSmall.add(c.message());
        }
        if (tooSmall.isEmpty()) return;
        throw new ReasonIRException(ReasonIRException.Kind.OUT_OF_MEMORY, "device set '" + set.text() + "': "
                + tooSmall.size() + " of " + devices.size() + " devices cannot hold the model, so none was opened: "
                + String.join("; ", tooSmall));
    }

    /**
     * The device an engine opened as "auto", "cuda" or a name it resolved: "cuda:N" from its device string
     * ("cuda:0 (NVIDIA H100 ...)"), else its backend ("cpu").
     */
    private static String resolvedName(NativeModel m) {
        String d = m.device();
        int space = d.indexOf(' ');
        String first = space < 0 ? d : d.substring(0, space);
        return first.startsWith("cuda:") ? first : m.backend();
    }

    /** The failure of one member's open, with the device in front of its message (same type and kind). */
    private static ReasonIRException naming(ReasonIRException e, String device, DeviceSet set) {
        String message = "device " + device + " (of " + set.text() + "): " + e.getMessage();
        ReasonIRException named = e instanceof CheckpointException
                ? new CheckpointException(e.kind(), message) : new ReasonIRException(e.kind(), message);
        named.initCause(e);
        return named;
    }

    /** Bytes of the weight files, for the load rate; 0 when they cannot be listed (the open said why, if it failed). */
    private static long checkpointBytes(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static double gbps(long bytes, long nanos) {
        return nanos > 0 ? bytes / (double) nanos : 0;  // bytes per ns = GB per s
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

    /**
     * The engines of this model, one per device, in pool order: device, state, batches and tokens embedded, device
     * faults, load time and rate. One entry unless {@link Options#device()} named a device set.
     */
    public List<DeviceInfo> devices() {
        checkOpen();
        return embedder.devices();
    }

    /** "cpu" or "cuda". */
    public String backend() {
        checkOpen();
        return engine.backend();
    }

    /**
     * Human-readable device, e.g. "cpu (2 threads, avx512bf16)" or "cuda:0 (NVIDIA H100 80GB HBM3)"; for a device
     * set, every engine's, separated by ", " ({@link #devices()} lists them one by one).
     */
    public String device() {
        checkOpen();
        if (engines.size() == 1) return engine.device();
        List<String> all = new ArrayList<>();
        for (NativeModel m : engines) all.add(m.device());
        return String.join(", ", all);
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
            try {
                embedder.close();  // ends the pool's workers (idle: no call is in progress) before the engines go
            } finally {
                for (NativeModel m : engines) m.close();
            }
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
