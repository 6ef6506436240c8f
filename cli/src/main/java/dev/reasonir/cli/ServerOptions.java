package dev.reasonir.cli;

import dev.reasonir.server.ServerConfig;
import picocli.CommandLine.Option;

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

    /** The server's config from these options; {@code autoTruncate}: --overflow truncate. */
    ServerConfig config(boolean autoTruncate) {
        ServerConfig.Builder b = ServerConfig.builder().host(host).port(port).defaultPromptName(defaultPrompt)
                .maxConcurrentRequests(maxConcurrent).maxClientBatchSize(maxClientBatch)
                .maxBatchTokens(maxBatchTokens).payloadLimitBytes(payloadLimit).autoTruncate(autoTruncate);
        if (modelName != null) b.modelName(modelName);
        prompts.forEach(b::prompt);
        aliases.forEach(b::modelAlias);
        try {
            return b.queueTimeout(Duration.ofSeconds(queueTimeout)).build();
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
    }
}
