package dev.reasonir.cli;

import dev.reasonir.server.ServerConfig;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The server options of {@code serve} (a picocli mixin), each declared once, with {@link ServerConfig}'s defaults
 * (never retyped here). {@code --overflow} (the server's auto-truncate) and the engine options come from
 * {@link EngineOptions}.
 */
final class ServerOptions {
    @Option(names = "--host", paramLabel = "ADDR", defaultValue = ServerConfig.DEFAULT_HOST,
            description = "address to listen on; 0.0.0.0 for every interface (default: ${DEFAULT-VALUE})")
    String host;
    @Option(names = "--port", paramLabel = "N", defaultValue = "" + ServerConfig.DEFAULT_PORT,
            description = "TCP port; 0 = any free one (default: ${DEFAULT-VALUE})")
    int port;
    @Option(names = "--model-name", paramLabel = "NAME",
            description = "the model name clients send and responses carry; NAME:PROMPT names a prompt (default: the "
                    + "folder's)")
    String modelName;
    @Option(names = "--prompt", paramLabel = "NAME=TEXT", description = "a named instruction (repeatable)")
    Map<String, String> prompts = new LinkedHashMap<>();
    @Option(names = "--default-prompt-name", paramLabel = "NAME", defaultValue = ServerConfig.DOCUMENT_PROMPT,
            description = "prompt of requests that name none (default: ${DEFAULT-VALUE})")
    String defaultPrompt;
    @Option(names = "--model-alias", paramLabel = "ALIAS=PROMPT",
            description = "a model name that chooses the prompt named PROMPT, for plain OpenAI clients (repeatable), "
                    + "e.g. support-queries=support")
    Map<String, String> aliases = new LinkedHashMap<>();
    @Option(names = "--max-concurrent-requests", paramLabel = "N",
            defaultValue = "" + ServerConfig.DEFAULT_MAX_CONCURRENT_REQUESTS,
            description = "more in flight get 429 (default: ${DEFAULT-VALUE})")
    int maxConcurrent;
    @Option(names = "--max-client-batch-size", paramLabel = "N",
            defaultValue = "" + ServerConfig.DEFAULT_MAX_CLIENT_BATCH_SIZE,
            description = "inputs per request (default: ${DEFAULT-VALUE})")
    int maxClientBatch;
    @Option(names = "--max-batch-tokens", paramLabel = "N", defaultValue = "" + ServerConfig.DEFAULT_MAX_BATCH_TOKENS,
            description = "tokens per engine batch across requests (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;
    @Option(names = "--payload-limit", paramLabel = "BYTES",
            defaultValue = "" + ServerConfig.DEFAULT_PAYLOAD_LIMIT_BYTES,
            description = "largest request body; larger get 413 (default: ${DEFAULT-VALUE})")
    int payloadLimit;
    @Option(names = "--queue-timeout", paramLabel = "SECONDS",
            defaultValue = "" + ServerConfig.DEFAULT_QUEUE_TIMEOUT_SECONDS,
            description = "a request waiting longer gets 429; 0 = no limit (default: ${DEFAULT-VALUE})")
    int queueTimeout;
    // The key's description never shows a value: with REASONIR_API_KEY set, the "default" is the key itself.
    @Option(names = "--api-key", paramLabel = "KEY",
            description = "require \"Authorization: Bearer KEY\" on every route but /health and /metrics (401 "
                    + "otherwise). A flag is visible in the process list: prefer the variable or --api-key-file")
    String apiKey;
    @Option(names = "--api-key-file", paramLabel = "FILE",
            description = "read the API key from FILE (surrounding whitespace removed), e.g. a mounted secret")
    Path apiKeyFile;
    @Option(names = "--request-read-timeout", paramLabel = "SECONDS",
            defaultValue = "" + ServerConfig.DEFAULT_REQUEST_READ_TIMEOUT_SECONDS,
            description = "a client must send each request (headers and body) within this time, else 408 and the "
                    + "connection closes; 0 = no limit (default: ${DEFAULT-VALUE})")
    int requestReadTimeout;
    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "" + ServerConfig.DEFAULT_MAX_CONNECTIONS,
            description = "open connections at most; more wait to be accepted (default: ${DEFAULT-VALUE})")
    int maxConnections;
    @Option(names = "--drain-grace", paramLabel = "SECONDS",
            defaultValue = "" + ServerConfig.DEFAULT_DRAIN_GRACE_SECONDS,
            description = "on SIGTERM, keep the port open this long with /health and new requests at 503, so that a "
                    + "load balancer stops sending here first (default: ${DEFAULT-VALUE})")
    int drainGrace;
    @Option(names = "--shutdown-timeout", paramLabel = "SECONDS",
            defaultValue = "" + ServerConfig.DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            description = "on SIGTERM, wait at most this long for requests in flight; 0 = no limit (default: "
                    + "${DEFAULT-VALUE})")
    int shutdownTimeout;

    /** The server's config from these options; {@code autoTruncate}: --overflow truncate. */
    ServerConfig config(boolean autoTruncate) {
        ServerConfig.Builder b = ServerConfig.builder().host(host).port(port).defaultPromptName(defaultPrompt)
                .maxConcurrentRequests(maxConcurrent).maxClientBatchSize(maxClientBatch)
                .maxBatchTokens(maxBatchTokens).payloadLimitBytes(payloadLimit).autoTruncate(autoTruncate);
        if (modelName != null) b.modelName(modelName);
        prompts.forEach(b::prompt);
        aliases.forEach(b::modelAlias);
        try {
            return b.queueTimeout(Duration.ofSeconds(queueTimeout))
                    .requestReadTimeout(Duration.ofSeconds(requestReadTimeout)).maxConnections(maxConnections)
                    .drainGrace(Duration.ofSeconds(drainGrace)).shutdownTimeout(Duration.ofSeconds(shutdownTimeout))
                    .apiKey(apiKey()).build();
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage().replaceFirst("^apiKey", "the API key")
                    .replace("drainGrace", "--drain-grace").replace("shutdownTimeout", "--shutdown-timeout"));
        }
    }

    /** The key of --api-key or --api-key-file (never both), or null. */
    private String apiKey() {
        if (apiKey != null && apiKeyFile != null) {
            throw new CliException("both --api-key (or REASONIR_API_KEY) and --api-key-file (or "
                    + "REASONIR_API_KEY_FILE) are set; use one");
        }
        if (apiKeyFile == null) return apiKey;
        String key;
        try {
            key = Files.readString(apiKeyFile, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new CliException("cannot read the API key file " + apiKeyFile + ": "
                    + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage()));
        }
        if (key.isEmpty()) throw new CliException("the API key file " + apiKeyFile + " is empty");
        return key;
    }
}
