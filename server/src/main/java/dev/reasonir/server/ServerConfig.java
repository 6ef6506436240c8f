package dev.reasonir.server;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How an {@link EmbeddingServer} listens, names its model and limits its clients. Immutable; build with
 * {@code ServerConfig.builder().port(0).maxBatchTokens(8192).build()} or start from {@link #defaults()}.
 *
 * <p>Two fields depend on the model and may be left unset here: {@code modelName} ({@code null}: the model folder's
 * name) and {@code maxInputLength} ({@code 0}: {@link ReasonIR#maxLength()}). {@link EmbeddingServer#start} fills
 * them in ({@link #resolve(ReasonIR)}).
 *
 * @param host                  interface to bind (default {@code 127.0.0.1}: loopback only, so that exposing the
 *                              server is a deliberate choice; set {@code apiKey} before binding another interface,
 *                              or {@link EmbeddingServer#start} warns)
 * @param port                  TCP port (default 8080); 0 binds any free port, see {@link EmbeddingServer#port()}
 * @param modelName             the name reported as {@code model} / {@code model_id}. On {@code /v1/embeddings} the
 *                              request's {@code model} also chooses the prompt, because it is the one field a plain
 *                              OpenAI client always sends: {@code modelName} (or no {@code model}) is the default
 *                              prompt, {@code modelName:PROMPT} any prompt by name (e.g.
 *                              {@code reasonir:query:biology}), an alias of {@code modelAliases} its prompt;
 *                              {@code GET /v1/models} lists every one and any other name is a 404 naming it
 * @param prompts               named instructions selectable with {@code prompt_name}; built in: {@code "document"}
 *                              ({@link Instructions#DOCUMENT}) and {@code "query:<task>"} for every BRIGHT task
 *                              ({@link Instructions#bright(String)})
 * @param defaultPromptName     prompt used for text input when a request names none (default {@code "document"}:
 *                              {@link Instructions#DEFAULT_PROMPT}, the default of every ReasonIR surface)
 * @param modelAliases          extra model names, each choosing a prompt by name (alias -&gt; prompt name), e.g.
 *                              {@code "support-queries" -> "support"}: what an operator hands to users of unmodified
 *                              OpenAI clients for their task's queries
 * @param maxConcurrentRequests requests being handled at once (queued or computing) before new ones get 429
 *                              (default 512)
 * @param maxClientBatchSize    inputs one request may carry (default 128); more is a 422
 * @param maxBatchTokens        token budget of one engine batch the dynamic batcher packs across requests (default
 *                              16384); an input longer than the budget is embedded alone
 * @param maxInputLength        tokens per input (BOS and instruction included); 0: the model's max length
 * @param autoTruncate          what happens to a longer input when the request does not say ({@code "truncate"} on
 *                              {@code /v1/embeddings} and {@code /embed}): true (default, as the Java API, the CLI and
 *                              the official {@code encode} do) keeps the first {@code maxInputLength} tokens and
 *                              reports it (header {@value #TRUNCATED_HEADER}, an INFO log line with the count); false
 *                              answers 422 naming the input
 * @param payloadLimitBytes     largest request body accepted (default 2 MiB); larger is a 413
 * @param queueTimeout          longest a request may wait in the batch queue before its first input is computed; a
 *                              request that waited longer gets 429 (the server is behind) at the moment its time is
 *                              up, wherever it is in the queue. {@link Duration#ZERO}: no limit. Default 60 s
 * @param requestReadTimeout    longest a client may take to send one whole request (headers and body), counted from
 *                              the connection's opening for its first request and from the first byte of each later
 *                              one; a client that is slower gets 408 and the connection is closed, so connections
 *                              that trickle bytes cannot be held forever. {@link Duration#ZERO}: no limit. Default 30 s
 * @param maxConnections        open connections at most (default 1024). At the cap the server stops accepting: new
 *                              connections wait in the kernel's listen backlog until one closes, as Tomcat's
 *                              {@code maxConnections} and HAProxy's {@code maxconn} do
 * @param drainGrace            on {@link EmbeddingServer#close()}: how long the listener stays open at least, with
 *                              {@code /health} answering 503 and new work 503, so that a load balancer sees the
 *                              server fail its health check before the port closes. Default 0: the right value is the
 *                              balancer's check interval times its failure threshold, which no default can know, and
 *                              a wait here would delay every shutdown of a server nobody balances. The listener also
 *                              stays open (answering 503) while requests are in flight
 * @param shutdownTimeout       on {@link EmbeddingServer#close()}: the longest it waits, from its start, for requests
 *                              in flight; then requests still queued get 503 and every connection is closed.
 *                              {@link Duration#ZERO}: no limit. Default 30 s (Kubernetes' default termination grace
 *                              period); must not be shorter than {@code drainGrace}
 * @param apiKey                when set, every route but {@code GET /health} and {@code GET /metrics} requires
 *                              {@code Authorization: Bearer <apiKey>} (compared in constant time) and answers 401
 *                              otherwise; {@code null} (default): no authentication. Printable ASCII without spaces
 *                              (what an HTTP header carries). Never printed: {@link #toString()} says only whether
 *                              one is set
 */
public record ServerConfig(String host, int port, String modelName, Map<String, String> prompts,
                           String defaultPromptName, Map<String, String> modelAliases, int maxConcurrentRequests,
                           int maxClientBatchSize, int maxBatchTokens, int maxInputLength, boolean autoTruncate,
                           int payloadLimitBytes, Duration queueTimeout, Duration requestReadTimeout,
                           int maxConnections, Duration drainGrace, Duration shutdownTimeout, String apiKey) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8080;
    public static final String DOCUMENT_PROMPT = "document";
    /** Prefix of the built-in BRIGHT query prompts: {@code "query:biology"} and so on. */
    public static final String QUERY_PROMPT_PREFIX = "query:";
    public static final int DEFAULT_MAX_CONCURRENT_REQUESTS = 512;
    public static final int DEFAULT_MAX_CLIENT_BATCH_SIZE = 128;
    public static final int DEFAULT_MAX_BATCH_TOKENS = 16384;
    public static final int DEFAULT_PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;
    /** {@link #DEFAULT_QUEUE_TIMEOUT} in seconds, as a constant (the CLI's help texts need one). */
    public static final int DEFAULT_QUEUE_TIMEOUT_SECONDS = 60;
    public static final Duration DEFAULT_QUEUE_TIMEOUT = Duration.ofSeconds(DEFAULT_QUEUE_TIMEOUT_SECONDS);
    /** {@link #DEFAULT_REQUEST_READ_TIMEOUT} in seconds. */
    public static final int DEFAULT_REQUEST_READ_TIMEOUT_SECONDS = 30;
    public static final Duration DEFAULT_REQUEST_READ_TIMEOUT =
            Duration.ofSeconds(DEFAULT_REQUEST_READ_TIMEOUT_SECONDS);
    public static final int DEFAULT_MAX_CONNECTIONS = 1024;
    /** {@link #DEFAULT_DRAIN_GRACE} in seconds. */
    public static final int DEFAULT_DRAIN_GRACE_SECONDS = 0;
    public static final Duration DEFAULT_DRAIN_GRACE = Duration.ofSeconds(DEFAULT_DRAIN_GRACE_SECONDS);
    /** {@link #DEFAULT_SHUTDOWN_TIMEOUT} in seconds. */
    public static final int DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 30;
    public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
    /** Default {@link #autoTruncate()}. */
    public static final boolean DEFAULT_AUTO_TRUNCATE = true;
    /** Response header of the embedding routes: how many inputs of the request were truncated. */
    public static final String TRUNCATED_HEADER = "X-ReasonIR-Truncated-Inputs";
    /** Separates the model name from a prompt name in a {@code model} that chooses the prompt. */
    public static final char MODEL_PROMPT_SEPARATOR = ':';

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        if (host.isBlank()) throw new IllegalArgumentException("host must not be blank");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        if (modelName != null && modelName.isBlank()) {
            throw new IllegalArgumentException("modelName must not be blank (null: the model folder's name)");
        }
        Objects.requireNonNull(prompts, "prompts");
        for (Map.Entry<String, String> e : prompts.entrySet()) {
            if (e.getKey() == null || e.getKey().isEmpty()) throw new IllegalArgumentException("empty prompt name");
            if (e.getValue() == null) throw new IllegalArgumentException("prompt '" + e.getKey() + "' is null");
        }
        prompts = Collections.unmodifiableMap(new LinkedHashMap<>(prompts));
        Objects.requireNonNull(defaultPromptName, "defaultPromptName");
        if (!prompts.containsKey(defaultPromptName)) {
            throw new IllegalArgumentException("defaultPromptName '" + defaultPromptName + "' is not one of the "
                    + "prompts " + prompts.keySet());
        }
        Objects.requireNonNull(modelAliases, "modelAliases");
        for (Map.Entry<String, String> e : modelAliases.entrySet()) {
            if (e.getKey() == null || e.getKey().isBlank()) throw new IllegalArgumentException("empty model alias");
            if (!prompts.containsKey(e.getValue())) {
                throw new IllegalArgumentException("model alias '" + e.getKey() + "' names prompt '" + e.getValue()
                        + "', which is not one of the prompts " + prompts.keySet());
            }
            if (e.getKey().equals(modelName) || modelName != null && e.getKey().startsWith(modelName
                    + MODEL_PROMPT_SEPARATOR)) {
                throw new IllegalArgumentException("model alias '" + e.getKey() + "' collides with the model name '"
                        + modelName + "' or its prompt names");
            }
        }
        modelAliases = Collections.unmodifiableMap(new LinkedHashMap<>(modelAliases));
        positive("maxConcurrentRequests", maxConcurrentRequests);
        positive("maxClientBatchSize", maxClientBatchSize);
        positive("maxBatchTokens", maxBatchTokens);
        positive("payloadLimitBytes", payloadLimitBytes);
        if (maxInputLength < 0) {
            throw new IllegalArgumentException("maxInputLength must be >= 0 (0: the model's), got " + maxInputLength);
        }
        notNegative("queueTimeout", queueTimeout);
        notNegative("requestReadTimeout", requestReadTimeout);
        positive("maxConnections", maxConnections);
        Objects.requireNonNull(drainGrace, "drainGrace");
        if (drainGrace.isNegative()) {
            throw new IllegalArgumentException("drainGrace must not be negative, got " + drainGrace);
        }
        notNegative("shutdownTimeout", shutdownTimeout);
        if (!shutdownTimeout.isZero() && drainGrace.compareTo(shutdownTimeout) > 0) {
            throw new IllegalArgumentException("drainGrace (" + drainGrace.toSeconds() + " s) must not exceed "
                    + "shutdownTimeout (" + shutdownTimeout.toSeconds() + " s): the listener could not stay open that "
                    + "long");
        }
        if (apiKey != null) ApiKeyAuth.check(apiKey);
    }

    private static void notNegative(String name, Duration d) {
        Objects.requireNonNull(d, name);
        if (d.isNegative()) throw new IllegalArgumentException(name + " must not be negative (0: no limit), got " + d);
    }

    /** Whether requests must carry the API key ({@link #apiKey()} is set). */
    public boolean requiresApiKey() {
        return apiKey != null;
    }

    /** Every field, with the API key shown only as set or not: a config is logged, and the key must never be. */
    @Override
    public String toString() {
        return "ServerConfig[host=" + host + ", port=" + port + ", modelName=" + modelName + ", prompts="
                + prompts.keySet() + ", defaultPromptName=" + defaultPromptName + ", modelAliases=" + modelAliases
                + ", maxConcurrentRequests=" + maxConcurrentRequests + ", maxClientBatchSize=" + maxClientBatchSize
                + ", maxBatchTokens=" + maxBatchTokens + ", maxInputLength=" + maxInputLength + ", autoTruncate="
                + autoTruncate + ", payloadLimitBytes=" + payloadLimitBytes + ", queueTimeout=" + queueTimeout
                + ", requestReadTimeout=" + requestReadTimeout + ", maxConnections=" + maxConnections
                + ", drainGrace=" + drainGrace + ", shutdownTimeout=" + shutdownTimeout + ", apiKey="
                + (apiKey == null ? "none" : "(set)") + "]";
    }

    private static void positive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    /**
     * Every model name {@code /v1/embeddings} accepts, in the order {@code GET /v1/models} lists them, each with the
     * prompt name it chooses ("": none, the request's other prompt fields or else the default prompt): the model
     * name, {@code modelName:PROMPT} for every prompt, then the aliases. Call on a resolved config (a model name set).
     */
    public Map<String, String> servedModelNames() {
        Objects.requireNonNull(modelName, "modelName (resolve the config first)");
        Map<String, String> m = new LinkedHashMap<>();
        m.put(modelName, "");
        for (String prompt : prompts.keySet()) m.put(modelName + MODEL_PROMPT_SEPARATOR + prompt, prompt);
        m.putAll(modelAliases);
        return Collections.unmodifiableMap(m);
    }

    /**
     * Every default: 127.0.0.1:8080, built-in prompts, "document" by default, the limits listed above, no API key.
     */
    public static ServerConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().host(host).port(port).modelName(modelName).prompts(prompts)
                .defaultPromptName(defaultPromptName).modelAliases(modelAliases)
                .maxConcurrentRequests(maxConcurrentRequests).maxClientBatchSize(maxClientBatchSize)
                .maxBatchTokens(maxBatchTokens).maxInputLength(maxInputLength).autoTruncate(autoTruncate)
                .payloadLimitBytes(payloadLimitBytes).queueTimeout(queueTimeout).requestReadTimeout(requestReadTimeout)
                .maxConnections(maxConnections).drainGrace(drainGrace).shutdownTimeout(shutdownTimeout).apiKey(apiKey);
    }

    /**
     * The prompts every server knows: {@code "document"} and {@code "query:<task>"} for each of
     * {@link Instructions#BRIGHT_TASKS}, in that order.
     */
    public static Map<String, String> builtInPrompts() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(DOCUMENT_PROMPT, Instructions.DOCUMENT);
        for (String task : Instructions.BRIGHT_TASKS) m.put(QUERY_PROMPT_PREFIX + task, Instructions.bright(task));
        return Collections.unmodifiableMap(m);
    }

    /**
     * This config with the model-dependent fields filled in: {@code modelName} from the model folder's name,
     * {@code maxInputLength} from {@link ReasonIR#maxLength()}. A {@code maxInputLength} above the model's is refused:
     * the engine would truncate where the server promised the full input (or a 422).
     */
    public ServerConfig resolve(ReasonIR model) {
        Objects.requireNonNull(model, "model");
        int modelMax = model.maxLength();
        if (maxInputLength > modelMax) {
            throw new IllegalArgumentException("maxInputLength " + maxInputLength + " exceeds the model's max length "
                    + modelMax + " (Options.maxLength, capped by max_position_embeddings)");
        }
        String name = modelName;
        if (name == null) {
            Path fileName = model.modelDir().toAbsolutePath().normalize().getFileName();
            name = fileName == null ? "reasonir" : fileName.toString();
        }
        return toBuilder().modelName(name).maxInputLength(maxInputLength == 0 ? modelMax : maxInputLength).build();
    }

    /** Mutable builder; starts from the defaults with the built-in prompts. */
    public static final class Builder {
        private String host = DEFAULT_HOST;
        private int port = DEFAULT_PORT;
        private String modelName;
        private final Map<String, String> prompts = new LinkedHashMap<>(builtInPrompts());
        private String defaultPromptName = DOCUMENT_PROMPT;
        private final Map<String, String> modelAliases = new LinkedHashMap<>();
        private boolean autoTruncate = DEFAULT_AUTO_TRUNCATE;
        private int maxConcurrentRequests = DEFAULT_MAX_CONCURRENT_REQUESTS;
        private int maxClientBatchSize = DEFAULT_MAX_CLIENT_BATCH_SIZE;
        private int maxBatchTokens = DEFAULT_MAX_BATCH_TOKENS;
        private int maxInputLength;
        private int payloadLimitBytes = DEFAULT_PAYLOAD_LIMIT_BYTES;
        private Duration queueTimeout = DEFAULT_QUEUE_TIMEOUT;
        private Duration requestReadTimeout = DEFAULT_REQUEST_READ_TIMEOUT;
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private Duration drainGrace = DEFAULT_DRAIN_GRACE;
        private Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;
        private String apiKey;

        private Builder() {}

        public Builder host(String v) {
            host = v;
            return this;
        }

        public Builder port(int v) {
            port = v;
            return this;
        }

        /** {@code null}: the model folder's name. */
        public Builder modelName(String v) {
            modelName = v;
            return this;
        }

        /** Adds (or replaces) one named prompt; the built-in ones stay. */
        public Builder prompt(String name, String instruction) {
            prompts.put(name, instruction);
            return this;
        }

        /** Replaces every prompt, the built-in ones included. */
        public Builder prompts(Map<String, String> v) {
            prompts.clear();
            prompts.putAll(v);
            return this;
        }

        public Builder defaultPromptName(String v) {
            defaultPromptName = v;
            return this;
        }

        /** Adds (or replaces) one model alias: a model name that chooses the prompt {@code promptName}. */
        public Builder modelAlias(String alias, String promptName) {
            modelAliases.put(alias, promptName);
            return this;
        }

        /** Replaces every model alias. */
        public Builder modelAliases(Map<String, String> v) {
            modelAliases.clear();
            modelAliases.putAll(v);
            return this;
        }

        /** Default true: truncate longer inputs (reported) unless a request sends {@code "truncate": false}. */
        public Builder autoTruncate(boolean v) {
            autoTruncate = v;
            return this;
        }

        public Builder maxConcurrentRequests(int v) {
            maxConcurrentRequests = v;
            return this;
        }

        public Builder maxClientBatchSize(int v) {
            maxClientBatchSize = v;
            return this;
        }

        public Builder maxBatchTokens(int v) {
            maxBatchTokens = v;
            return this;
        }

        /** 0: the model's max length. */
        public Builder maxInputLength(int v) {
            maxInputLength = v;
            return this;
        }

        public Builder payloadLimitBytes(int v) {
            payloadLimitBytes = v;
            return this;
        }

        /** {@link Duration#ZERO}: no limit. */
        public Builder queueTimeout(Duration v) {
            queueTimeout = v;
            return this;
        }

        /** {@link Duration#ZERO}: no limit. */
        public Builder requestReadTimeout(Duration v) {
            requestReadTimeout = v;
            return this;
        }

        public Builder maxConnections(int v) {
            maxConnections = v;
            return this;
        }

        /** How long {@link EmbeddingServer#close()} keeps the listener open at least (default 0). */
        public Builder drainGrace(Duration v) {
            drainGrace = v;
            return this;
        }

        /** How long {@link EmbeddingServer#close()} waits for requests in flight; {@link Duration#ZERO}: no limit. */
        public Builder shutdownTimeout(Duration v) {
            shutdownTimeout = v;
            return this;
        }

        /** The key clients must send as {@code Authorization: Bearer <key>}; {@code null}: none required. */
        public Builder apiKey(String v) {
            apiKey = v;
            return this;
        }

        public ServerConfig build() {
            return new ServerConfig(host, port, modelName, prompts, defaultPromptName, modelAliases,
                    maxConcurrentRequests, maxClientBatchSize, maxBatchTokens, maxInputLength, autoTruncate,
                    payloadLimitBytes, queueTimeout, requestReadTimeout, maxConnections, drainGrace, shutdownTimeout,
                    apiKey);
        }
    }
}
