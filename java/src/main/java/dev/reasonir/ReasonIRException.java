package dev.reasonir;

/**
 * Base of every error the engine reports. {@link #kind()} says which class of problem it is; the message names what
 * and where (file, tensor, byte offset, input index).
 */
public class ReasonIRException extends RuntimeException {
    /** Mirrors {@code rir_status} of native/include/reasonir.h, plus the Java-side cases. */
    public enum Kind {
        INVALID_ARGUMENT, IO, FORMAT, CHECKPOINT, CONFIG, INPUT, DEVICE, OUT_OF_MEMORY, INTERNAL, TOKENIZER
    }

    private final Kind kind;

    public ReasonIRException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public ReasonIRException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
