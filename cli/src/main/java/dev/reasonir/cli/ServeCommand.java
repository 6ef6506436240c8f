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
                + "\"task\"/\"role\", \"prompt_name\" and \"truncate\" extensions), GET /v1/models, POST /embed and "
                + "/tokenize (TEI), GET /health, /info, /metrics (Prometheus). Requests of all clients are packed "
                + "into token-budget batches.",
                "Prompts: a request that names none gets --default-prompt-name (default: the prompt "
                + EmbedCommands.DEFAULT_PROMPT_SHOWN + ", as embed and the adapters use). Built in: \"document\" and "
                + "\"query:TASK\" for each BRIGHT task; more with --prompt.",
                "Plain OpenAI clients choose the prompt with the model name: NAME (--model-name) is the default "
                + "prompt, NAME:PROMPT any prompt (e.g. NAME:query:biology), an alias of --model-alias its prompt; "
                + "GET /v1/models lists them, any other model name is a 404.",
                "Inputs longer than --max-length keep their first tokens; with --overflow fail they are a 422 naming "
                + "the input instead. A request's \"truncate\" (true or false, on /v1/embeddings and /embed) "
                + "overrides that default. Embedding responses carry the number truncated in the "
                + ServerConfig.TRUNCATED_HEADER + " header, and the log counts them."})
final class ServeCommand implements Callable<Integer> {
    @Mixin
    EngineOptions engine;
    @Option(names = "--host", paramLabel = "ADDR", defaultValue = ServerConfig.DEFAULT_HOST,
            description = "address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for every interface)")
    String host;
    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", description = "(default: ${DEFAULT-VALUE})")
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
    @Mixin
    EngineOptions.OverflowOption overflow;
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
        aliases.forEach(b::modelAlias);
        b.autoTruncate(overflow.value == EngineOptions.Overflow.truncate);
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
        ServerConfig served = server.config();
        err.println("reasonir: serving " + engine.model + " as \"" + served.modelName() + "\" on http://" + host + ":"
                + server.port() + " (POST /v1/embeddings, /embed; GET /v1/models, /health, /info, /metrics); Ctrl-C "
                + "stops");
        err.println("reasonir: default prompt \"" + served.defaultPromptName() + "\" " + dev.reasonir.Instructions
                .describe(served.prompts().get(served.defaultPromptName())) + "; model names "
                + served.servedModelNames().keySet().stream().limit(4).toList()
                + (served.servedModelNames().size() > 4 ? " ... (" + served.servedModelNames().size()
                + " in all, GET /v1/models)" : "") + "; inputs over " + served.maxInputLength() + " tokens are "
                + (served.autoTruncate() ? "truncated unless a request sends \"truncate\": false"
                : "refused (422) unless a request sends \"truncate\": true"));
        server.awaitClose();
        return 0;
    }
}
