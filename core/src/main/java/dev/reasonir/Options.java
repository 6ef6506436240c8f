package dev.reasonir;

/**
 * How {@link ReasonIR#open(java.nio.file.Path, Options)} sets up the engine. Immutable; build with
 * {@code Options.defaults().withDevice("cpu").withMaxLength(2048)}.
 *
 * @param device      "auto" (default: the first usable GPU, else the CPU; always one device), "cpu", "cuda" or
 *                    "cuda:N"; or a device set, served by one engine per device ({@link DeviceSet}): "cuda:all"
 *                    (every usable GPU; with one GPU the same as "cuda:0"), a list such as "cuda:0,2,3" (no device
 *                    twice), or "cpu*N" (N CPU engines, mostly for tests). Checked when the model is opened
 * @param maxLength   tokens per input including BOS; longer inputs are right-truncated (default 512, the official
 *                    {@code encode} default; BRIGHT's evaluation uses 32768)
 * @param batchTokens token budget of one packed native batch (default 8192); an input longer than the budget goes
 *                    alone
 * @param threads     CPU backend threads, 0 = one per core; a "cpu*N" pool divides them among its N engines
 * @param precision   numeric mode
 * @param overflow    what to do with inputs longer than maxLength
 * @param copyWeights read the checkpoint files with plain reads instead of memory-mapping them during the open
 *                    (default false). Both backends keep their own copy of the weights and drop every mapping once
 *                    open returns, so this only matters during the open itself: a shard truncated while it is read
 *                    then fails with an I/O error instead of crashing the process (SIGBUS on a mapped read); it costs
 *                    a second copy of the weights in memory until the open returns
 * @param attention   the CUDA backend's attention kernel (the CPU backend ignores it)
 * @param cudaGraphs  whether the CUDA backend replays small batches as CUDA graphs (the CPU backend ignores it)
 */
public record Options(String device, int maxLength, int batchTokens, int threads, Precision precision,
                      Overflow overflow, boolean copyWeights, Attention attention, CudaGraphs cudaGraphs) {
    static {
        Logging.settle();  // a first touch of the core API (see Logging)
    }

    /** Default {@link #device()}: the GPU when one is usable, else the CPU. */
    public static final String DEFAULT_DEVICE = "auto";
    /** Default {@link #maxLength()}: the official {@code encode} default. */
    public static final int DEFAULT_MAX_LENGTH = 512;
    /** Default {@link #batchTokens()}. */
    public static final int DEFAULT_BATCH_TOKENS = 8192;
    /** Default {@link #threads()}: one per core. */
    public static final int DEFAULT_THREADS = 0;
    /** Default {@link #precision()}. */
    public static final Precision DEFAULT_PRECISION = Precision.DEFAULT;
    /** Default {@link #overflow()}. */
    public static final Overflow DEFAULT_OVERFLOW = Overflow.TRUNCATE;
    /** Default {@link #copyWeights()}. */
    public static final boolean DEFAULT_COPY_WEIGHTS = false;
    /** Default {@link #attention()}: the environment's {@code REASONIR_ATTENTION}, else the engine's choice. */
    public static final Attention DEFAULT_ATTENTION = Attention.DEFAULT;
    /** Default {@link #cudaGraphs()}: the environment's {@code REASONIR_CUDA_GRAPHS}, else the engine's choice. */
    public static final CudaGraphs DEFAULT_CUDA_GRAPHS = CudaGraphs.DEFAULT;

    /**
     * The CUDA backend's attention kernel. Every kernel computes the same function with the same bf16 rounding points
     * (those of the CPU backend's bf16 attention); they differ in speed and in the order of fp32 sums, so vectors
     * agree to a cosine of about 0.9999, not bit for bit.
     */
    public enum Attention {
        /** {@code REASONIR_ATTENTION} from the environment (auto, sm80 or sm90) when set, else {@link #AUTO}. */
        DEFAULT,
        /** The engine's choice: SM80 on every GPU until a committed GPU report shows SM90 passing parity and faster. */
        AUTO,
        /** Tensor cores through mma.sync and cp.async: any GPU of compute capability 8.0 or newer. */
        SM80,
        /** Hopper's wgmma and TMA: compute capability 9.0 only (H100, H200), head_dim 64 or 128; refused elsewhere. */
        SM90
    }

    /**
     * CUDA graphs for small batches: a batch of at most 512 tokens is captured once per batch shape and then replayed,
     * which removes the launch cost of its ~10 kernels per layer (it matters for single short queries). The vectors
     * are bit-identical either way.
     */
    public enum CudaGraphs {
        /** {@code REASONIR_CUDA_GRAPHS} from the environment (auto, on or off) when set, else {@link #AUTO}. */
        DEFAULT,
        /** The engine's choice: off until a committed GPU report shows graphs faster. */
        AUTO,
        ON,
        OFF
    }

    /** Policy for inputs longer than {@code maxLength} tokens. */
    public enum Overflow {
        /** Keep the first maxLength tokens; the result lists every truncated input (logged at DEBUG only). */
        TRUNCATE,
        /** Throw {@link InvalidInputException} naming the input and its length. */
        FAIL
    }

    public Options {
        if (device == null || device.isBlank()) throw new IllegalArgumentException("device must not be empty");
        if (maxLength < 1) throw new IllegalArgumentException("maxLength must be >= 1, got " + maxLength);
        if (batchTokens < 1) throw new IllegalArgumentException("batchTokens must be >= 1, got " + batchTokens);
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (precision == null || overflow == null) throw new IllegalArgumentException("precision/overflow null");
        if (attention == null || cudaGraphs == null) throw new IllegalArgumentException("attention/cudaGraphs null");
    }

    /** Every default: the {@code DEFAULT_*} constants, which the CLI and the Spark jobs show and use too. */
    public static Options defaults() {
        return new Options(DEFAULT_DEVICE, DEFAULT_MAX_LENGTH, DEFAULT_BATCH_TOKENS, DEFAULT_THREADS, DEFAULT_PRECISION,
                DEFAULT_OVERFLOW, DEFAULT_COPY_WEIGHTS, DEFAULT_ATTENTION, DEFAULT_CUDA_GRAPHS);
    }

    public Options withDevice(String v) {
        return new Options(v, maxLength, batchTokens, threads, precision, overflow, copyWeights, attention, cudaGraphs);
    }

    public Options withMaxLength(int v) {
        return new Options(device, v, batchTokens, threads, precision, overflow, copyWeights, attention, cudaGraphs);
    }

    public Options withBatchTokens(int v) {
        return new Options(device, maxLength, v, threads, precision, overflow, copyWeights, attention, cudaGraphs);
    }

    public Options withThreads(int v) {
        return new Options(device, maxLength, batchTokens, v, precision, overflow, copyWeights, attention, cudaGraphs);
    }

    public Options withPrecision(Precision v) {
        return new Options(device, maxLength, batchTokens, threads, v, overflow, copyWeights, attention, cudaGraphs);
    }

    public Options withOverflow(Overflow v) {
        return new Options(device, maxLength, batchTokens, threads, precision, v, copyWeights, attention, cudaGraphs);
    }

    public Options withCopyWeights(boolean v) {
        return new Options(device, maxLength, batchTokens, threads, precision, overflow, v, attention, cudaGraphs);
    }

    public Options withAttention(Attention v) {
        return new Options(device, maxLength, batchTokens, threads, precision, overflow, copyWeights, v, cudaGraphs);
    }

    public Options withCudaGraphs(CudaGraphs v) {
        return new Options(device, maxLength, batchTokens, threads, precision, overflow, copyWeights, attention, v);
    }
}
