package dev.reasonir.cli;

import dev.reasonir.ReasonIR;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * {@code reasonir serve}: the OpenAI- and TEI-compatible embedding server (reasonir-server) on one model, until
 * SIGINT/SIGTERM, which shuts it down gracefully: {@code /health} and new requests get 503 while the port stays open
 * for {@code --drain-grace} and while requests are in flight, which finish within {@code --shutdown-timeout}.
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
                + ServerConfig.TRUNCATED_HEADER + " header, and the log counts them.",
                "Exposing it: --host 0.0.0.0 listens on every interface; set an API key (REASONIR_API_KEY or "
                + "--api-key-file) so that clients must send \"Authorization: Bearer KEY\" (/health and /metrics stay "
                + "open). Without one, serve warns."})
final class ServeCommand implements Callable<Integer> {
    @Mixin
    EngineOptions engine;
    @Mixin
    EngineOptions.OverflowOption overflow;
    @Mixin
    ServerOptions server;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        PrintStream err = Streams.err();
        ServerConfig cfg = server.config(overflow.value == EngineOptions.Overflow.truncate);
        if (spec.commandLine().getParseResult().hasMatchedOption("--api-key")) {
            err.println("reasonir: note: an API key given with --api-key is visible to every user of this machine in "
                    + "the process list; REASONIR_API_KEY or --api-key-file keep it out of it");
        }
        // The server forms the engine batches (--max-batch-tokens); the engine packs each as one.
        ReasonIR model = ReasonIR.open(engine.model(), engine.options(dev.reasonir.Options.DEFAULT_MAX_LENGTH,
                cfg.maxBatchTokens()));
        EmbeddingServer httpServer;
        try {
            Main.printDevice(model, err);
            httpServer = EmbeddingServer.start(model, cfg);  // warms the engine up: a broken device fails here
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        Thread hook = new Thread(() -> {
            err.println("reasonir: stopping: /health and new requests get 503"
                    + (cfg.drainGrace().isZero() ? "" : " for at least " + cfg.drainGrace().toSeconds() + " s")
                    + "; requests in flight finish" + (cfg.shutdownTimeout().isZero() ? ""
                    : " (for up to " + cfg.shutdownTimeout().toSeconds() + " s)"));
            httpServer.close();
            model.close();
        }, "reasonir-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        ServerConfig served = httpServer.config();
        err.println("reasonir: serving " + engine.model() + " as \"" + served.modelName() + "\" on http://"
                + server.host + ":" + httpServer.port() + " (POST /v1/embeddings, /embed; GET /v1/models, /health, "
                + "/info, /metrics); " + (served.requiresApiKey() ? "API key required; " : "")
                + "Ctrl-C stops");
        err.println("reasonir: default prompt \"" + served.defaultPromptName() + "\" " + dev.reasonir.Instructions
                .describe(served.prompts().get(served.defaultPromptName())) + "; model names "
                + served.servedModelNames().keySet().stream().limit(4).toList()
                + (served.servedModelNames().size() > 4 ? " ... (" + served.servedModelNames().size()
                + " in all, GET /v1/models)" : "") + "; inputs over " + served.maxInputLength() + " tokens are "
                + (served.autoTruncate() ? "truncated unless a request sends \"truncate\": false"
                : "refused (422) unless a request sends \"truncate\": true"));
        httpServer.awaitClose();
        return 0;
    }
}
