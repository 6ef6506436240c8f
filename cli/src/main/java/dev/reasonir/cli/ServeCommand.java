package dev.reasonir.cli;

import dev.reasonir.ReasonIR;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code reasonir serve}: the OpenAI- and TEI-compatible embedding server (reasonir-server) on one model, until
 * SIGINT/SIGTERM, which shuts it down gracefully (requests in flight finish, new ones get 503).
 */
@Command(name = "serve", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = {"Serves embeddings over HTTP: POST /v1/embeddings (OpenAI, plus the \"instruction\", "
                + "\"task\"/\"role\" and \"prompt_name\" extensions), POST /embed and /tokenize (TEI), GET /health, "
                + "/info, /metrics (Prometheus). Requests of all clients are packed into token-budget batches.",
                "Built-in prompts: \"document\" (the document prefix) and \"query:TASK\" for each BRIGHT task."})
final class ServeCommand implements Callable<Integer> {
    @Mixin
    EngineOptions engine;
    @Option(names = "--host", paramLabel = "ADDR", defaultValue = ServerConfig.DEFAULT_HOST,
            description = "address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for every interface)")
    String host;
    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", description = "(default: ${DEFAULT-VALUE})")
    int port;
    @Option(names = "--model-name", paramLabel = "NAME", description = "name in responses (default: the folder's)")
    String modelName;
    @Option(names = "--prompt", paramLabel = "NAME=TEXT", description = "a named instruction (repeatable)")
    Map<String, String> prompts = new LinkedHashMap<>();
    @Option(names = "--default-prompt-name", paramLabel = "NAME", defaultValue = ServerConfig.DOCUMENT_PROMPT,
            description = "prompt of requests that name none (default: ${DEFAULT-VALUE})")
    String defaultPrompt;
    @Option(names = "--max-concurrent-requests", paramLabel = "N", defaultValue = "512",
            description = "more in flight get 429 (default: ${DEFAULT-VALUE})")
    int maxConcurrent;
    @Option(names = "--max-client-batch-size", paramLabel = "N", defaultValue = "128",
            description = "inputs per request (default: ${DEFAULT-VALUE})")
    int maxClientBatch;
    @Option(names = "--max-batch-tokens", paramLabel = "N", defaultValue = "16384",
            description = "tokens per engine batch across requests (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;
    @Option(names = "--payload-limit", paramLabel = "BYTES", defaultValue = "2097152",
            description = "largest request body; larger get 413 (default: ${DEFAULT-VALUE})")
    int payloadLimit;
    @Option(names = "--queue-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "a request waiting longer gets 429; 0 = no limit (default: ${DEFAULT-VALUE})")
    int queueTimeout;

    @Override
    public Integer call() throws InterruptedException {
        PrintStream err = Streams.err();
        ServerConfig.Builder b = ServerConfig.builder().host(host).port(port).defaultPromptName(defaultPrompt)
                .maxConcurrentRequests(maxConcurrent).maxClientBatchSize(maxClientBatch)
                .maxBatchTokens(maxBatchTokens).payloadLimitBytes(payloadLimit)
                .queueTimeout(Duration.ofSeconds(queueTimeout));
        if (modelName != null) b.modelName(modelName);
        prompts.forEach(b::prompt);
        ServerConfig cfg;
        try {
            cfg = b.build();
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
        // The server forms the engine batches (--max-batch-tokens); the engine packs each as one.
        ReasonIR model = ReasonIR.open(engine.model, engine.options(dev.reasonir.Options.defaults().maxLength(),
                maxBatchTokens));
        EmbeddingServer server;
        try {
            Main.printDevice(model, err);
            server = EmbeddingServer.start(model, cfg);  // warms the engine up: a broken device fails here
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        Thread hook = new Thread(() -> {
            err.println("reasonir: stopping: requests in flight finish, new ones get 503");
            server.close();
            model.close();
        }, "reasonir-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        err.println("reasonir: serving " + engine.model + " on http://" + host + ":" + server.port()
                + " (POST /v1/embeddings, /embed; GET /health, /metrics); Ctrl-C stops");
        server.awaitClose();
        return 0;
    }
}
