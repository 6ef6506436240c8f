package dev.reasonir.springai;

import java.net.URI;

/**
 * The ReasonIR server answered 401: it requires an API key and none was configured ({@code reasonir.api-key},
 * {@code Builder.apiKey}), or it refused the configured one. The message says which; {@link #statusCode()} is 401.
 * A subclass of {@link ReasonIRServerException}, so code that handles every server failure handles this one too,
 * while code that must tell a configuration mistake from a passing failure (not worth retrying) can catch it alone.
 */
public class ReasonIRAuthenticationException extends ReasonIRServerException {
    public ReasonIRAuthenticationException(URI endpoint, String message, Throwable cause) {
        super(endpoint, 401, message, cause);
    }
}
