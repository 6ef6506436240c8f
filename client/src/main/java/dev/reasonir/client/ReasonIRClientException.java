package dev.reasonir.client;

import java.net.URI;
import java.util.Objects;

/**
 * A call to a ReasonIR server failed. The message names the endpoint and, for an error answer, ends with the server's
 * {@code error.message}; {@link #reason()} says what went wrong, {@link #statusCode()} the HTTP status where there
 * was one. Framework adapters map it to their framework's exception types (for example LangChain4j's
 * {@code HttpException} for {@link Reason#HTTP_STATUS}, {@code AuthenticationException} for
 * {@link Reason#UNAUTHORIZED} and {@code TimeoutException} for {@link Reason#TIMEOUT}), keeping the message and this
 * exception as the cause.
 */
public class ReasonIRClientException extends RuntimeException {
    /** What went wrong. */
    public enum Reason {
        /**
         * The server answered with a status other than 2xx (and other than 401, which is {@link #UNAUTHORIZED}):
         * {@link #statusCode()} says which.
         */
        HTTP_STATUS,
        /**
         * The server answered 401: it requires an API key and none was configured, or it refused the configured one.
         * The message says which, and how to set the key; {@link #statusCode()} is 401.
         */
        UNAUTHORIZED,
        /** No answer within the timeout. */
        TIMEOUT,
        /** No answer at all: connection refused, reset, DNS, TLS... (the cause says which). */
        UNREACHABLE,
        /** The calling thread was interrupted while waiting (its interrupt flag is set again). */
        INTERRUPTED,
        /** A 2xx answer that is not the expected JSON, or does not answer the request that was sent. */
        MALFORMED_ANSWER
    }

    private final URI endpoint;
    private final Reason reason;
    private final int statusCode;

    /** @param statusCode the HTTP status for {@link Reason#HTTP_STATUS} and {@link Reason#UNAUTHORIZED}, else 0 */
    public ReasonIRClientException(URI endpoint, Reason reason, int statusCode, String message, Throwable cause) {
        super(message, cause);
        this.endpoint = endpoint;
        this.reason = Objects.requireNonNull(reason, "reason");
        this.statusCode = statusCode;
    }

    /** The URL that was called, e.g. {@code http://localhost:8080/v1/embeddings}. */
    public URI endpoint() {
        return endpoint;
    }

    public Reason reason() {
        return reason;
    }

    /** The HTTP status of an error answer ({@link Reason#HTTP_STATUS}; 401 for {@link Reason#UNAUTHORIZED}), else 0. */
    public int statusCode() {
        return statusCode;
    }
}
