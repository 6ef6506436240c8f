package dev.reasonir.springai;

import java.net.URI;

/**
 * A call to a ReasonIR server failed: an HTTP error status ({@link #statusCode()} &gt; 0, the message ends with the
 * server's {@code error.message}), or no usable answer at all ({@link #statusCode()} == 0: unreachable, timed out,
 * malformed body). The adapter's form of reasonir-client's {@code dev.reasonir.client.ReasonIRClientException}, which
 * is the cause and whose {@code reason()} says which.
 */
public class ReasonIRServerException extends RuntimeException {
    private final URI endpoint;
    private final int statusCode;

    public ReasonIRServerException(URI endpoint, int statusCode, String message, Throwable cause) {
        super(message, cause);
        this.endpoint = endpoint;
        this.statusCode = statusCode;
    }

    /** The URL that was called, e.g. {@code http://localhost:8080/v1/embeddings}. */
    public URI endpoint() {
        return endpoint;
    }

    /** The HTTP status of the answer, or 0 when there was no HTTP answer to speak of. */
    public int statusCode() {
        return statusCode;
    }
}
