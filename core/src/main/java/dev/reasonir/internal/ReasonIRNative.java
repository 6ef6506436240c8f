package dev.reasonir.internal;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Opaque;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * JavaCPP binding of {@code native/include/reasonir.h}, one Java method per C function. This is the only class that
 * touches native memory; {@link dev.reasonir.ReasonIR} is the API users see. The JavaCPP Maven plugin generates the JNI
 * glue from this class and packs it, with libreasonir.so, into the jar under
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

    public static final int RIR_OK = 0;
    public static final int RIR_ERR_INVALID_ARGUMENT = 1;
    public static final int RIR_ERR_IO = 2;
    public static final int RIR_ERR_FORMAT = 3;
    public static final int RIR_ERR_CHECKPOINT = 4;
    public static final int RIR_ERR_CONFIG = 5;
    public static final int RIR_ERR_INPUT = 6;
    public static final int RIR_ERR_DEVICE = 7;
    public static final int RIR_ERR_OUT_OF_MEMORY = 8;
    public static final int RIR_ERR_INTERNAL = 9;

    public static final int RIR_PRECISION_DEFAULT = 0;
    public static final int RIR_PRECISION_FP32 = 1;
    public static final int RIR_PRECISION_BF16 = 2;

    public static final int RIR_EMBED_NO_NORMALIZE = 1;

    /** {@code rir_dtype}: element type of the index rows {@link #rir_score} reads. */
    public static final int RIR_DTYPE_F16 = 1;
    public static final int RIR_DTYPE_F32 = 2;

    /** {@code rir_open_options.flags}: copy the weights into private memory instead of mapping the shards. */
    public static final int RIR_OPEN_COPY_WEIGHTS = 1;

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
