package dev.reasonir.internal;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.MemberGetter;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Opaque;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * JavaCPP binding of {@code native/include/reasonir.h}, one Java method per C function and one field per constant.
 * Only {@link NativeModel} (a model handle, its buffers and its status mapping) and {@link NativeScorer}
 * (exact-search scoring) use it; {@link dev.reasonir.ReasonIR} is the API users see and touches no native type. The
 * JavaCPP Maven plugin generates the JNI glue from this class and packs it, with libreasonir.so, into the jar under
 * {@code dev/reasonir/internal/linux-x86_64/}.
 */
@Properties(value = @Platform(include = "reasonir.h", link = "reasonir"))
public final class ReasonIRNative {
    static {
        Loader.load();
    }

    private ReasonIRNative() {}

    /** Loads the native libraries (idempotent); returns the path JavaCPP loaded the JNI glue from. */
    public static String load() {
        return Loader.load(ReasonIRNative.class);
    }

    // The header's constants, read from the header itself: each getter compiles to "return RIR_X;" in the JNI glue
    // that the JavaCPP plugin builds against native/include/reasonir.h, so Java never retypes a number and cannot
    // drift from the C side. The fields are read once, when this class is initialized, which loads the native
    // library first (the static block above runs before these initializers): touch them only where the engine is
    // in use. They are not compile-time constants, so code maps them with if/Map, not with switch.
    // HeaderConstantsTest checks that every RIR_* constant of the header has its field here, and no other.

    /** {@code RIR_API_VERSION}. */
    public static final int RIR_API_VERSION = RIR_API_VERSION();

    /** {@code rir_status}. */
    public static final int RIR_OK = RIR_OK();
    public static final int RIR_ERR_INVALID_ARGUMENT = RIR_ERR_INVALID_ARGUMENT();
    public static final int RIR_ERR_IO = RIR_ERR_IO();
    public static final int RIR_ERR_FORMAT = RIR_ERR_FORMAT();
    public static final int RIR_ERR_CHECKPOINT = RIR_ERR_CHECKPOINT();
    public static final int RIR_ERR_CONFIG = RIR_ERR_CONFIG();
    public static final int RIR_ERR_INPUT = RIR_ERR_INPUT();
    public static final int RIR_ERR_DEVICE = RIR_ERR_DEVICE();
    public static final int RIR_ERR_OUT_OF_MEMORY = RIR_ERR_OUT_OF_MEMORY();
    public static final int RIR_ERR_INTERNAL = RIR_ERR_INTERNAL();

    /** {@code rir_precision}. */
    public static final int RIR_PRECISION_DEFAULT = RIR_PRECISION_DEFAULT();
    public static final int RIR_PRECISION_FP32 = RIR_PRECISION_FP32();
    public static final int RIR_PRECISION_BF16 = RIR_PRECISION_BF16();

    /** {@link #rir_embed} flag: the masked means before L2 normalization. */
    public static final int RIR_EMBED_NO_NORMALIZE = RIR_EMBED_NO_NORMALIZE();

    /** {@code rir_dtype}: element type of the index rows {@link #rir_score} reads. */
    public static final int RIR_DTYPE_F16 = RIR_DTYPE_F16();
    public static final int RIR_DTYPE_F32 = RIR_DTYPE_F32();

    /** {@code rir_open_options.flags}: copy the weights into private memory instead of mapping the shards. */
    public static final int RIR_OPEN_COPY_WEIGHTS = RIR_OPEN_COPY_WEIGHTS();

    /** {@code rir_attention}: the CUDA backend's attention kernel. */
    public static final int RIR_ATTENTION_DEFAULT = RIR_ATTENTION_DEFAULT();
    public static final int RIR_ATTENTION_AUTO = RIR_ATTENTION_AUTO();
    public static final int RIR_ATTENTION_SM80 = RIR_ATTENTION_SM80();
    public static final int RIR_ATTENTION_SM90 = RIR_ATTENTION_SM90();

    /** {@code rir_cuda_graphs}: CUDA graphs for batches of at most {@code RIR_CUDA_GRAPH_MAX_TOKENS} tokens. */
    public static final int RIR_CUDA_GRAPHS_DEFAULT = RIR_CUDA_GRAPHS_DEFAULT();
    public static final int RIR_CUDA_GRAPHS_AUTO = RIR_CUDA_GRAPHS_AUTO();
    public static final int RIR_CUDA_GRAPHS_ON = RIR_CUDA_GRAPHS_ON();
    public static final int RIR_CUDA_GRAPHS_OFF = RIR_CUDA_GRAPHS_OFF();
    public static final int RIR_CUDA_GRAPH_MAX_TOKENS = RIR_CUDA_GRAPH_MAX_TOKENS();

    private static native @MemberGetter int RIR_API_VERSION();

    private static native @MemberGetter int RIR_OK();

    private static native @MemberGetter int RIR_ERR_INVALID_ARGUMENT();

    private static native @MemberGetter int RIR_ERR_IO();

    private static native @MemberGetter int RIR_ERR_FORMAT();

    private static native @MemberGetter int RIR_ERR_CHECKPOINT();

    private static native @MemberGetter int RIR_ERR_CONFIG();

    private static native @MemberGetter int RIR_ERR_INPUT();

    private static native @MemberGetter int RIR_ERR_DEVICE();

    private static native @MemberGetter int RIR_ERR_OUT_OF_MEMORY();

    private static native @MemberGetter int RIR_ERR_INTERNAL();

    private static native @MemberGetter int RIR_PRECISION_DEFAULT();

    private static native @MemberGetter int RIR_PRECISION_FP32();

    private static native @MemberGetter int RIR_PRECISION_BF16();

    private static native @MemberGetter int RIR_EMBED_NO_NORMALIZE();

    private static native @MemberGetter int RIR_DTYPE_F16();

    private static native @MemberGetter int RIR_DTYPE_F32();

    private static native @MemberGetter int RIR_OPEN_COPY_WEIGHTS();

    private static native @MemberGetter int RIR_ATTENTION_DEFAULT();

    private static native @MemberGetter int RIR_ATTENTION_AUTO();

    private static native @MemberGetter int RIR_ATTENTION_SM80();

    private static native @MemberGetter int RIR_ATTENTION_SM90();

    private static native @MemberGetter int RIR_CUDA_GRAPHS_DEFAULT();

    private static native @MemberGetter int RIR_CUDA_GRAPHS_AUTO();

    private static native @MemberGetter int RIR_CUDA_GRAPHS_ON();

    private static native @MemberGetter int RIR_CUDA_GRAPHS_OFF();

    private static native @MemberGetter int RIR_CUDA_GRAPH_MAX_TOKENS();

    /** The opaque {@code rir_model} handle. */
    @Opaque
    @Name("rir_model")
    public static final class Model extends Pointer {
        public Model() {
            super((Pointer) null);
        }
    }

    /** {@code rir_open_options}; the strings it points to must stay alive until {@link #rir_open} returns. */
    @Name("rir_open_options")
    public static final class OpenOptions extends Pointer {
        static {
            Loader.load();
        }

        public OpenOptions() {
            super((Pointer) null);
            allocate();
        }

        private native void allocate();

        public native @Cast("uint32_t") int struct_size();

        public native OpenOptions struct_size(int value);

        public native @Cast("const char*") BytePointer model_dir();

        public native OpenOptions model_dir(@Cast("const char*") BytePointer value);

        public native @Cast("const char*") BytePointer device();

        public native OpenOptions device(@Cast("const char*") BytePointer value);

        public native int num_threads();

        public native OpenOptions num_threads(int value);

        public native int precision();

        public native OpenOptions precision(int value);

        public native @Cast("int64_t") long max_batch_tokens();

        public native OpenOptions max_batch_tokens(long value);

        public native @Cast("uint32_t") int flags();

        public native OpenOptions flags(@Cast("uint32_t") int value);

        public native int attention();

        public native OpenOptions attention(int value);

        public native int cuda_graphs();

        public native OpenOptions cuda_graphs(int value);
    }

    public static native void rir_open_options_init(OpenOptions options);

    public static native int rir_open(OpenOptions options, @Cast("rir_model**") PointerPointer<Model> out,
                                      @Cast("char*") BytePointer errorBuf, @Cast("size_t") long errorCap);

    public static native void rir_close(Model model);

    public static native int rir_embed(Model model, @Cast("const int32_t*") IntPointer tokenIds,
                                       @Cast("const int32_t*") IntPointer cuSeqlens,
                                       @Cast("const int32_t*") IntPointer poolStart, int nSeqs,
                                       @Cast("uint32_t") int flags, FloatPointer out, @Cast("int64_t") long outLen);

    public static native int rir_hidden_size(Model model);

    public static native int rir_vocab_size(Model model);

    public static native int rir_num_layers(Model model);

    public static native @Cast("int64_t") long rir_max_position(Model model);

    public static native @Cast("int64_t") long rir_max_batch_tokens(Model model);

    public static native @Cast("const char*") BytePointer rir_backend(Model model);

    public static native @Cast("const char*") BytePointer rir_device(Model model);

    public static native int rir_precision_of(Model model);

    public static native @Cast("const char*") BytePointer rir_last_error(Model model);

    /** Batch index of the sequence the last failed {@link #rir_embed} concerns, or -1. */
    public static native int rir_last_error_sequence(Model model);

    /** Why the backend was chosen (device "auto"), "" when the device was named explicitly. */
    public static native @Cast("const char*") BytePointer rir_device_note(Model model);

    /** Usable CUDA devices; when 0 the reason is written to {@code whyBuf} (NUL-terminated). */
    public static native int rir_cuda_device_count(@Cast("char*") BytePointer whyBuf, @Cast("size_t") long whyCap);

    /**
     * {@code rir_check_device_memory}: whether an {@link #rir_open} with {@code options} (a CUDA device) would fit in
     * that device's free memory, from config.json alone and without allocating; RIR_OK, RIR_ERR_OUT_OF_MEMORY with the
     * open's message, or the status of what failed first. {@code needBytes}/{@code freeBytes} receive one uint64 each
     * (may be null).
     */
    public static native int rir_check_device_memory(OpenOptions options, @Cast("uint64_t*") LongPointer needBytes,
                                                     @Cast("uint64_t*") LongPointer freeBytes,
                                                     @Cast("char*") BytePointer errorBuf, @Cast("size_t") long errorCap);

    public static native @Cast("const char*") BytePointer rir_version();

    /**
     * {@code rir_score}: scores {@code nRows} rows of {@code dim} values of {@code dtype} at native address
     * {@code rows} against {@code nQueries} fp32 queries at address {@code queries}, writing
     * {@code scores[i * ldScores + j]} at address {@code scores}. Raw addresses (not Pointers) so that a memory-mapped
     * index can be scored in place without a Pointer per call; the caller guarantees that the memory is valid and
     * stays reachable for the duration of the call ({@link NativeScorer} does). No model handle.
     */
    public static native int rir_score(@Cast("const void*") long rows, int dtype, @Cast("int64_t") long nRows,
                                       int dim, @Cast("const float*") long queries, int nQueries,
                                       @Cast("float*") long scores, @Cast("int64_t") long ldScores);

    /** Message of the calling thread's last {@link #rir_score} ("" when it succeeded). */
    public static native @Cast("const char*") BytePointer rir_score_last_error();
}
