package dev.reasonir;

/**
 * The model folder cannot be used: a file is missing or unreadable ({@link Kind#IO}), corrupt ({@link Kind#FORMAT}),
 * inconsistent with config.json ({@link Kind#CHECKPOINT}: missing tensor, wrong dtype or shape), or config.json itself
 * is incomplete or unsupported ({@link Kind#CONFIG}).
 */
public class CheckpointException extends ReasonIRException {
    public CheckpointException(Kind kind, String message) {
        super(kind, message);
    }

    /** The checkpoint failed while embedding input {@code inputIndex} (e.g. NaN weights giving a NaN embedding). */
    public CheckpointException(Kind kind, String message, int inputIndex) {
        super(kind, message, inputIndex);
    }
}
