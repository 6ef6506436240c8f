package dev.reasonir;

/** One input of a call cannot be embedded; {@link #inputIndex()} is its position in the caller's list (-1: unknown). */
public class InvalidInputException extends ReasonIRException {
    public InvalidInputException(int inputIndex, String message) {
        super(Kind.INPUT, message, inputIndex);
    }
}
