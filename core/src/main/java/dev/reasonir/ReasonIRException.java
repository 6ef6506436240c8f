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
    private final int inputIndex;

    public ReasonIRException(Kind kind, String message) {
        this(kind, message, -1);
    }

    public ReasonIRException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.inputIndex = -1;
    }

    /** An error caused by one input of a call: the message starts with "input N: ". */
    public ReasonIRException(Kind kind, String message, int inputIndex) {
        super(inputIndex >= 0 ? "input " + inputIndex + ": " + message : message);
        this.kind = kind;
        this.inputIndex = inputIndex;
    }

    public Kind kind() {
        return kind;
    }

    /** Position in the caller's list of the input that caused this error, or -1 when no single input did. */
    public int inputIndex() {
        return inputIndex;
    }
}
