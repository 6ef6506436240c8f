package dev.reasonir.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.DeviceInfo;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;

/**
 * What each route does, independent of the HTTP library: JSON body in, {@link Response} out. Embedding routes parse
 * and tokenize on a worker thread, queue the request on the {@link Batcher} and render the vectors on a worker thread
 * once the batcher completes them. Every failure becomes an error body in the route's dialect (TEI or OpenAI); bad
 * JSON is a 400 (OpenAI) or 422 (TEI), never a 500.
 */
final class Endpoints {
    private static final System.Logger LOG = System.getLogger(Endpoints.class.getName());
    static final String JSON_TYPE = "application/json";
    static final String METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String ENGINE_FAILED = "the last engine batch failed: ";
    /** Schubfach float formatting: shortest round-trip strings, and several times faster than Float.toString. */
    private static final JsonFactory OUT = JsonFactory.builder().enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
            .build();

    /**
     * An HTTP response: status, content type, body, for a served embedding request how many of its inputs were
     * truncated (sent as {@link ServerConfig#TRUNCATED_HEADER}; -1: not an embedding response, no header), and for a
     * 401 the {@code WWW-Authenticate} challenge (else null).
     */
    record Response(int status, String contentType, byte[] body, int truncated, String challenge) {
        Response(int status, String contentType, byte[] body) {
            this(status, contentType, body, -1, null);
        }

        Response(int status, String contentType, byte[] body, int truncated) {
            this(status, contentType, body, truncated, null);
        }
    }

    private final ReasonIR model;
    private final ServerConfig config;
    private final Batcher batcher;
    private final Metrics metrics;
    private final Executor workers;
    private final Inputs inputs;
    private final TokenDisplay display;
    private final BooleanSupplier draining;
    private final byte[] info;
    private final byte[] models;

    /** {@code draining} tells whether the server is shutting down. */
    Endpoints(ReasonIR model, ServerConfig config, Batcher batcher, Metrics metrics, Executor workers,
              TokenDisplay display, BooleanSupplier draining, int tokenizationWorkers) {
        this.model = model;
        this.config = config;
        this.batcher = batcher;
        this.metrics = metrics;
        this.workers = workers;
        this.inputs = new Inputs(model, config);
        this.display = display;
        this.draining = draining;
        this.info = renderInfo(tokenizationWorkers);
        this.models = json(g -> {
            g.writeStartObject();
            g.writeStringField("object", "list");
            g.writeArrayFieldStart("data");
            // Every name /v1/embeddings accepts: the model itself first (clients that take the first entry get the
            // default prompt), then one per prompt and the aliases. "prompt" is an extension naming what each
            // chooses, so that a user of a plain OpenAI client can pick the right one from this list.
            for (var e : config.servedModelNames().entrySet()) {
                g.writeStartObject();
                g.writeStringField("id", e.getKey());
                g.writeStringField("object", "model");
                g.writeNumberField("created", 0);
                g.writeStringField("owned_by", "reasonir");
                g.writeStringField("prompt", e.getValue().isEmpty() ? config.defaultPromptName() : e.getValue());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        });
    }

    // ---- OpenAI ----------------------------------------------------------------------------------------------------

    /**
     * {@code POST /v1/embeddings}. {@code model} is one of the names {@code GET /v1/models} lists (the model, or the
     * model with a prompt; the configured model name is echoed) or absent; {@code dimensions} is refused; {@code user}
     * is ignored. ReasonIR extensions: {@code instruction}, {@code task} + {@code role}, {@code prompt_name},
     * {@code truncate} (default: the server's auto-truncate).
     */
    CompletableFuture<Response> openAiEmbeddings(byte[] body, BooleanSupplier clientGone) {
        return CompletableFuture.supplyAsync(() -> {
            JsonNode root = parse(body);
            if (Inputs.present(root, "model") && !root.get("model").isTextual()) {
                throw ApiException.badRequest("model", "invalid_type", "`model` must be a string, got "
                        + Inputs.typeName(root.get("model")));
            }
            refuseDimensions(root);
            boolean base64 = false;
            if (Inputs.present(root, "encoding_format")) {
                String f = Inputs.string(root, "encoding_format");
                if (f.equals("base64")) {
                    base64 = true;
                } else if (!f.equals("float")) {
                    throw ApiException.badRequest("encoding_format", "invalid_encoding_format",
                            "`encoding_format` must be \"float\" or \"base64\", got \"" + f + "\"");
                }
            }
            List<Inputs.Input> in = inputs.parse(root.get("input"), "input", false);
            String instruction = inputs.openAiInstruction(root);
            Inputs.Prepared prepared = inputs.prepare(in, instruction, inputs.truncate(root), "input");
            boolean asBase64 = base64;
            return batcher.submit(prepared.inputs(), true, clientGone)
                    .thenApplyAsync(v -> withTruncations(renderOpenAi(v, asBase64, prepared.tokens()), prepared),
                            workers);
        }, workers).thenCompose(f -> f);
    }

    private void refuseDimensions(JsonNode root) {
        if (Inputs.present(root, "dimensions")) {
            throw ApiException.badRequest("dimensions", "dimensions_not_supported", "`dimensions` is not supported: "
                    + "ReasonIR has no Matryoshka training, so shortened vectors would lose quality in unknown ways; "
                    + "it always returns " + model.dimension() + "-dimensional vectors. Omit `dimensions`.");
        }
    }

    private Response renderOpenAi(float[][] vectors, boolean base64, long tokens) {
        return ok(json(g -> {
            g.writeStartObject();
            g.writeStringField("object", "list");
            g.writeArrayFieldStart("data");
            for (int i = 0; i < vectors.length; i++) {
                g.writeStartObject();
                g.writeStringField("object", "embedding");
                g.writeNumberField("index", i);
                g.writeFieldName("embedding");
                if (base64) {
                    g.writeString(base64(vectors[i]));
                } else {
                    writeFloats(g, vectors[i]);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeStringField("model", config.modelName());
            g.writeObjectFieldStart("usage");
            g.writeNumberField("prompt_tokens", tokens);
            g.writeNumberField("total_tokens", tokens);
            g.writeEndObject();
            g.writeEndObject();
        }));
    }

    /**
     * The response with its truncation count (the header), and one log line when inputs were truncated: the operator
     * learns it without reading every response.
     */
    private Response withTruncations(Response r, Inputs.Prepared prepared) {
        if (prepared.truncated() > 0) {
            LOG.log(System.Logger.Level.INFO, "{0} of {1} inputs of a request truncated to {2} tokens",
                    prepared.truncated(), prepared.inputs().size(), config.maxInputLength());
        }
        return new Response(r.status(), r.contentType(), r.body(), prepared.truncated());
    }

    /** OpenAI's base64 encoding: the float32 values as little-endian bytes. */
    static String base64(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return Base64.getEncoder().encodeToString(b.array());
    }

    /** {@code GET /v1/models}: every model name {@code /v1/embeddings} accepts, with the prompt each chooses. */
    Response openAiModels() {
        return ok(models);
    }

    // ---- TEI -------------------------------------------------------------------------------------------------------

    /** {@code POST /embed}: {@code inputs}, {@code normalize}, {@code truncate}, {@code truncation_direction}, {@code prompt_name}. */
    CompletableFuture<Response> teiEmbed(byte[] body, BooleanSupplier clientGone) {
        return CompletableFuture.supplyAsync(() -> {
            JsonNode root = parse(body);
            refuseDimensions(root);  // newer TEI versions take it for Matryoshka models; ReasonIR is not one
            boolean normalize = Inputs.bool(root, "normalize", true);
            boolean truncate = inputs.truncate(root);
            if (Inputs.present(root, "truncation_direction")) {
                String d = Inputs.string(root, "truncation_direction");
                if (d.equalsIgnoreCase("left")) {
                    throw ApiException.badRequest("truncation_direction", "unsupported_truncation_direction",
                            "`truncation_direction` \"Left\" is not supported: ReasonIR was trained with right "
                                    + "truncation (the instruction must stay at the start), so only \"Right\" gives "
                                    + "the embeddings the model was trained to produce");
                } else if (!d.equalsIgnoreCase("right")) {
                    throw ApiException.badRequest("truncation_direction", "invalid_type",
                            "`truncation_direction` must be \"Right\" or \"Left\", got \"" + d + "\"");
                }
            }
            List<Inputs.Input> in = inputs.parse(root.get("inputs"), "inputs", false);
            String instruction = inputs.teiInstruction(root);
            Inputs.Prepared prepared = inputs.prepare(in, instruction, truncate, "inputs");
            return batcher.submit(prepared.inputs(), normalize, clientGone)
                    .thenApplyAsync(v -> withTruncations(ok(json(g -> {
                        g.writeStartArray();
                        for (float[] row : v) writeFloats(g, row);
                        g.writeEndArray();
                    })), prepared), workers);
        }, workers).thenCompose(f -> f);
    }

    /**
     * {@code POST /tokenize}: the tokens of {@code prompt + input} (the default prompt unless {@code prompt_name}
     * names another), as TEI returns them; offsets are UTF-8 byte offsets into that string, null for special tokens.
     * Not truncated.
     */
    CompletableFuture<Response> teiTokenize(byte[] body) {
        return CompletableFuture.supplyAsync(() -> {
            JsonNode root = parse(body);
            boolean special = Inputs.bool(root, "add_special_tokens", true);
            List<Inputs.Input> in = inputs.parse(root.get("inputs"), "inputs", true);
            String instruction = inputs.teiInstruction(root);
            return ok(json(g -> {
                g.writeStartArray();
                for (Inputs.Input input : in) {
                    g.writeStartArray();
                    for (TokenDisplay.Token t : display.tokens(instruction + input.text(), special)) {
                        g.writeStartObject();
                        g.writeNumberField("id", t.id());
                        g.writeStringField("text", t.text());
                        g.writeBooleanField("special", t.special());
                        writeNullableInt(g, "start", t.start());
                        writeNullableInt(g, "stop", t.stop());
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }
                g.writeEndArray();
            }));
        }, workers);
    }

    /**
     * {@code GET /health}: 200 with {@code {"status":"ok"}}, or 503 with {@code {"status":"unhealthy"}} and the
     * reason in TEI's error fields ({@code error}, {@code error_type} "Unhealthy": shutting down, model closed, engine
     * failing). After an engine failure it runs a one-token probe through the batcher, as TEI's health check does, so
     * a server whose engine recovered turns healthy again without waiting for client traffic.
     */
    CompletableFuture<Response> health() {
        String why = unhealthyReason();
        if (why == null) return CompletableFuture.completedFuture(healthy(devicesOf(model)));
        if (draining.getAsBoolean() || batcher.lastBackendError() == null || !why.startsWith(ENGINE_FAILED)) {
            return CompletableFuture.completedFuture(unhealthy(why));
        }
        int id = model.vocabSize() > 128000 ? 128000 : 1;
        return batcher.submit(List.of(TokenizedInput.of(new int[] {id}, 0)), true, () -> false).handle((v, t) -> {
            String now = unhealthyReason();
            return now == null ? healthy(devicesOf(model)) : unhealthy(now);
        });
    }

    private static final byte[] HEALTHY_BODY = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);

    /**
     * 200 {@code {"status":"ok"}}; or, for a device pool that lost devices to faults but still has some,
     * 200 {@code {"status":"degraded","failed_devices":[...],"devices":N}}: it serves (a load balancer keeps it), and
     * the body says what a person should look at. A pool with no device left fails its batches, which makes the
     * server unhealthy (503) through the engine-failure path.
     */
    /** The model's engines, or none once it is closed (health and metrics must answer, not throw). */
    static List<DeviceInfo> devicesOf(ReasonIR model) {
        try {
            return model.devices();
        } catch (IllegalStateException closed) {
            return List.of();
        }
    }

    static Response healthy(List<DeviceInfo> devices) {
        List<String> failed = devices.size() < 2 ? List.of() : devices.stream()
                .filter(d -> d.state() == DeviceInfo.State.FAILED).map(DeviceInfo::name).toList();
        if (failed.isEmpty()) return new Response(200, JSON_TYPE, HEALTHY_BODY);
        return new Response(200, JSON_TYPE, json(g -> {
            g.writeStartObject();
            g.writeStringField("status", "degraded");
            g.writeArrayFieldStart("failed_devices");
            for (String name : failed) g.writeString(name);
            g.writeEndArray();
            g.writeNumberField("devices", devices.size());
            g.writeEndObject();
        }));
    }

    /** 503: TEI's error body ({@code error}, {@code error_type}) with {@code "status":"unhealthy"} first. */
    private Response unhealthy(String why) {
        ApiException e = ApiException.unhealthy(why);
        return new Response(e.status(false), JSON_TYPE, json(g -> {
            g.writeStartObject();
            g.writeStringField("status", "unhealthy");
            g.writeStringField("error", e.getMessage());
            g.writeStringField("error_type", e.teiType());
            g.writeEndObject();
        }));
    }

    /** Why the server is unhealthy, or null: shutting down, model closed, or the last engine batch failed. */
    String unhealthyReason() {
        if (draining.getAsBoolean()) return "server is shutting down";
        try {
            model.dimension();
        } catch (IllegalStateException e) {
            return "the model is closed: " + e.getMessage();
        }
        String backend = batcher.lastBackendError();
        return backend == null ? null : ENGINE_FAILED + backend;
    }

    /** {@code GET /info}: TEI's fields plus the device, backend and dimension. */
    Response info() {
        return ok(info);
    }

    Response metrics() {
        return new Response(200, METRICS_TYPE, metrics.render().getBytes(StandardCharsets.UTF_8));
    }

    private byte[] renderInfo(int tokenizationWorkers) {
        String dtype = switch (model.precision()) {
            case FP32 -> "float32";
            case BF16 -> "bfloat16";
            case DEFAULT -> model.backend().equals("cpu") ? "float32" : "bfloat16";
        };
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("model_id", config.modelName());
            g.writeNullField("model_sha");
            g.writeStringField("model_dtype", dtype);
            g.writeObjectFieldStart("model_type");
            g.writeObjectFieldStart("embedding");
            g.writeStringField("pooling", "mean");
            g.writeEndObject();
            g.writeEndObject();
            g.writeArrayFieldStart("prompts");
            for (String name : config.prompts().keySet()) g.writeString(name);
            g.writeEndArray();
            g.writeStringField("default_prompt_name", config.defaultPromptName());
            // The text as well as the name: what a request that names no prompt is embedded with.
            g.writeStringField("default_prompt", config.prompts().get(config.defaultPromptName()));
            g.writeObjectFieldStart("model_names");
            for (var e : config.servedModelNames().entrySet()) {
                g.writeStringField(e.getKey(), e.getValue().isEmpty() ? config.defaultPromptName() : e.getValue());
            }
            g.writeEndObject();
            g.writeNumberField("max_concurrent_requests", config.maxConcurrentRequests());
            g.writeNumberField("max_input_length", config.maxInputLength());
            g.writeNumberField("max_batch_tokens", config.maxBatchTokens());
            g.writeNullField("max_batch_requests");
            g.writeNumberField("max_client_batch_size", config.maxClientBatchSize());
            g.writeBooleanField("auto_truncate", config.autoTruncate());
            g.writeNumberField("tokenization_workers", tokenizationWorkers);
            g.writeStringField("version", Version.SERVER);
            g.writeStringField("engine_version", ReasonIR.nativeVersion());
            g.writeNullField("sha");
            g.writeNullField("docker_label");
            g.writeStringField("device", model.device());
            g.writeStringField("backend", model.backend());
            g.writeStringField("precision", model.precision().name().toLowerCase(Locale.ROOT));
            g.writeNumberField("dimension", model.dimension());
            g.writeEndObject();
        });
    }

    // ---- errors ----------------------------------------------------------------------------------------------------

    /**
     * The response for a failed request: an API error as is; a client that went away, 499; a task the stopped worker
     * pool refused, 503; anything else, 500.
     */
    Response failure(Throwable t, boolean openAi) {
        while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof ApiException api) return error(api, openAi);
        if (t instanceof Batcher.Failure f) return error(f.api, openAi);
        if (t instanceof CancellationException) {
            // Nobody reads this: the connection is gone. 499 is nginx's "client closed request", for the metrics.
            return new Response(499, JSON_TYPE, new byte[0]);
        }
        if (t instanceof java.util.concurrent.RejectedExecutionException) {
            // The worker pool has stopped: a request that outlived the shutdown, not a bug.
            return error(ApiException.unhealthy("server is shutting down"), openAi);
        }
        LOG.log(System.Logger.Level.ERROR, "request failed unexpectedly", t);
        return error(ApiException.internal("internal server error: " + t), openAi);
    }

    /** An error body: TEI's {@code {"error", "error_type"}} or OpenAI's {@code {"error": {message, type, param, code}}}. */
    Response error(ApiException e, boolean openAi) {
        byte[] body = json(g -> {
            g.writeStartObject();
            if (openAi) {
                g.writeObjectFieldStart("error");
                g.writeStringField("message", e.getMessage());
                g.writeStringField("type", e.openAiType());
                if (e.param() == null) g.writeNullField("param"); else g.writeStringField("param", e.param());
                g.writeStringField("code", e.code());
                g.writeEndObject();
            } else {
                g.writeStringField("error", e.getMessage());
                g.writeStringField("error_type", e.teiType());
            }
            g.writeEndObject();
        });
        return new Response(e.status(openAi), JSON_TYPE, body, -1, e.challenge());
    }

    // ---- JSON ------------------------------------------------------------------------------------------------------

    /** The request body as a JSON object; anything else is a client error (400 OpenAI / 422 TEI), never a 500. */
    static JsonNode parse(byte[] body) {
        if (body.length == 0) {
            throw ApiException.badRequest(null, "invalid_json", "request body is empty; send a JSON object");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw ApiException.badRequest(null, "invalid_json", "request body is not valid JSON: "
                    + e.getOriginalMessage() + (at == null ? "" : " (line " + at.getLineNr() + ", column "
                    + at.getColumnNr() + ")"));
        } catch (IOException | RuntimeException e) {
            throw ApiException.badRequest(null, "invalid_json", "request body is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.badRequest(null, "invalid_json", "request body must be a JSON object, got "
                    + Inputs.typeName(root));
        }
        return root;
    }

    private static void writeFloats(JsonGenerator g, float[] v) throws IOException {
        g.writeStartArray(v, v.length);
        for (float x : v) g.writeNumber(x);
        g.writeEndArray();
    }

    private static void writeNullableInt(JsonGenerator g, String name, Integer v) throws IOException {
        if (v == null) g.writeNullField(name); else g.writeNumberField(name, v);
    }

    private static Response ok(byte[] body) {
        return new Response(200, JSON_TYPE, body);
    }

    private interface JsonWriter {
        void write(JsonGenerator g) throws IOException;
    }

    private static byte[] json(JsonWriter w) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = OUT.createGenerator(out)) {
            w.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);  // a ByteArrayOutputStream does not fail
        }
        return out.toByteArray();
    }
}
