package dev.reasonir.server;

/**
 * A request that cannot be served, with everything both error dialects need: the status and {@code error_type} of
 * Text Embeddings Inference (TEI) for {@code /embed} and {@code /tokenize}, and the status, {@code type}, {@code code}
 * and {@code param} of an OpenAI error for {@code /v1/...}.
 *
 * <p>The statuses follow TEI: 400 empty input, 413 payload too large, 422 validation, 424 engine failure, 429
 * overloaded, 503 unhealthy or shutting down; and 401 for a missing or wrong API key (OpenAI's answer, on both
 * dialects), 408 for a client too slow to send its request. The OpenAI routes use 400 instead of 422 for a body that
 * is not a well-formed request (bad JSON, wrong types, unsupported or conflicting parameters), as OpenAI does; inputs that are
 * well-formed but cannot be embedded (too long, too many, token id outside the vocabulary) are 422 on both.
 */
final class ApiException extends RuntimeException {
    private final int teiStatus;
    private final int openAiStatus;
    private final String teiType;
    private final String openAiType;
    private final String code;
    private final String param;
    private final String challenge;

    private ApiException(int teiStatus, int openAiStatus, String teiType, String openAiType, String code, String param,
                         String message) {
        this(teiStatus, openAiStatus, teiType, openAiType, code, param, message, null);
    }

    private ApiException(int teiStatus, int openAiStatus, String teiType, String openAiType, String code, String param,
                         String message, String challenge) {
        super(message, null, false, false);  // control flow: no stack trace needed
        this.teiStatus = teiStatus;
        this.openAiStatus = openAiStatus;
        this.teiType = teiType;
        this.openAiType = openAiType;
        this.code = code;
        this.param = param;
        this.challenge = challenge;
    }

    /**
     * A request without the server's API key: 401 on both dialects, with OpenAI's {@code invalid_request_error} and
     * code ({@code invalid_api_key} for a wrong key, as OpenAI answers; {@code missing_api_key} for none) and the
     * {@code WWW-Authenticate} challenge RFC 6750 asks for ({@code error="invalid_token"} for a wrong key).
     */
    static ApiException unauthorized(boolean wrongKey, String message) {
        return new ApiException(401, 401, "Unauthorized", "invalid_request_error",
                wrongKey ? "invalid_api_key" : "missing_api_key", null, message,
                wrongKey ? ApiKeyAuth.CHALLENGE_INVALID : ApiKeyAuth.CHALLENGE);
    }

    /** A client that did not send its whole request within the request read timeout: 408, and the connection closes. */
    static ApiException requestTimeout(long seconds) {
        return new ApiException(408, 408, "Validation", "invalid_request_error", "request_timeout", null,
                "the request was not received in full within the server's request read timeout of " + seconds
                        + " s; the connection is closed");
    }

    /** No input, or an empty string: 400 {@code Empty}. */
    static ApiException empty(String param, String message) {
        return new ApiException(400, 400, "Empty", "invalid_request_error", "empty_input", param, message);
    }

    /** Body is not a well-formed request: 422 on TEI routes, 400 on OpenAI routes. */
    static ApiException badRequest(String param, String code, String message) {
        return new ApiException(422, 400, "Validation", "invalid_request_error", code, param, message);
    }

    /** Well-formed input that cannot be embedded: 422 on both. */
    static ApiException validation(String param, String code, String message) {
        return new ApiException(422, 422, "Validation", "invalid_request_error", code, param,
                "Input validation error: " + message);
    }

    /** The model folder has no usable tokenizer: 422 {@code Tokenizer}. */
    static ApiException tokenizer(String message) {
        return new ApiException(422, 422, "Tokenizer", "invalid_request_error", "tokenizer_error", "input", message);
    }

    static ApiException payloadTooLarge(int limitBytes) {
        return new ApiException(413, 413, "Validation", "invalid_request_error", "payload_too_large", null,
                "request body larger than the server's payload limit of " + limitBytes + " bytes");
    }

    static ApiException overloaded(String message) {
        return new ApiException(429, 429, "Overloaded", "rate_limit_error", "overloaded", null,
                "Model is overloaded: " + message);
    }

    static ApiException backend(String message) {
        return new ApiException(424, 424, "Backend", "server_error", "backend_error", null, message);
    }

    static ApiException unhealthy(String message) {
        return new ApiException(503, 503, "Unhealthy", "server_error", "unhealthy", null, message);
    }

    static ApiException notFound(String path) {
        return new ApiException(404, 404, "NotFound", "invalid_request_error", "not_found", null,
                "no route " + path + "; routes: POST /v1/embeddings, GET /v1/models, POST /embed, POST /tokenize, "
                        + "GET /health, GET /info, GET /metrics");
    }

    /** A {@code model} the server does not serve: 404 {@code model_not_found}, as OpenAI answers it. */
    static ApiException modelNotFound(String message) {
        return new ApiException(404, 404, "NotFound", "invalid_request_error", "model_not_found", "model", message);
    }

    static ApiException methodNotAllowed(String method, String path, String allowed) {
        return new ApiException(405, 405, "Validation", "invalid_request_error", "method_not_allowed", null,
                method + " " + path + " is not supported; use " + allowed);
    }

    /** An unexpected failure in the server itself (a bug): 500. Never used for anything a client sent. */
    static ApiException internal(String message) {
        return new ApiException(500, 500, "Backend", "server_error", "internal_error", null, message);
    }

    int status(boolean openAi) {
        return openAi ? openAiStatus : teiStatus;
    }

    String teiType() {
        return teiType;
    }

    String openAiType() {
        return openAiType;
    }

    String code() {
        return code;
    }

    /** The request field at fault, or null. */
    String param() {
        return param;
    }

    /** The {@code WWW-Authenticate} header value of a 401, or null. */
    String challenge() {
        return challenge;
    }
}
