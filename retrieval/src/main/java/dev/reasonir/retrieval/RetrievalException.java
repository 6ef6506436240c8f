package dev.reasonir.retrieval;

/**
 * A refusal of the retrieval workflow, with a message that names the file, line or field at fault: a malformed
 * corpus or query file, an index folder that is corrupt, foreign, or built with another model or settings.
 */
public class RetrievalException extends RuntimeException {
    /** What kind of problem it is, for callers that react differently (e.g. rebuild a stale cached index). */
    public enum Kind {
        /** A corpus or query file is malformed (bad JSON, missing field, duplicate id, empty document...). */
        INPUT,
        /** The index folder is damaged: a file is missing, truncated or does not match the manifest. */
        CORRUPT,
        /** The folder is not a ReasonIR index (or of an unknown format version). */
        FOREIGN,
        /** A valid index that does not fit the request: another model, instruction, max length, dtype or corpus. */
        MISMATCH
    }

    private final Kind kind;

    public RetrievalException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public RetrievalException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
