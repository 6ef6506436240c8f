package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.exception.TimeoutException;
import dev.langchain4j.model.embedding.DimensionAwareEmbeddingModel;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.embedding.request.EmbeddingInput;
import dev.langchain4j.model.embedding.request.EmbeddingInputType;
import dev.langchain4j.model.embedding.request.EmbeddingParameter;
import dev.langchain4j.model.embedding.request.EmbeddingRequest;
import dev.langchain4j.model.embedding.request.EmbeddingRequestParameters;
import dev.langchain4j.model.embedding.response.EmbeddingResponse;
import dev.langchain4j.model.embedding.response.EmbeddingResponseMetadata;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.EmbeddingBackend;
import dev.reasonir.client.ReasonIRClientException;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * ReasonIR-8B as a LangChain4j {@link dev.langchain4j.model.embedding.EmbeddingModel}.
 *
 * <h2>Queries and documents</h2>
 * ReasonIR embeds {@code instruction + text}: documents take the fixed prefix {@link Instructions#DOCUMENT}, queries
 * take a task prompt such as {@link Instructions#bright(String)} or {@link Instructions#query(String)}. A vector
 * embedded with the wrong prefix is still a unit vector, only a worse one: nothing fails, retrieval just gets worse.
 * LangChain4j components ({@code EmbeddingStoreIngestor}, {@code EmbeddingStoreContentRetriever}, ...) call one
 * {@code EmbeddingModel} without saying which side they embed, so the convention is <b>one instance per side</b>,
 * sharing one loaded model:
 * <pre>{@code
 * ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(reasonir);           // "<|embed|>\n"
 * ReasonIREmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(reasonir, "biology"); // BRIGHT prompt
 * EmbeddingStoreIngestor.builder().embeddingModel(documents)...;                              // index with documents
 * EmbeddingStoreContentRetriever.builder().embeddingModel(queries)...;                        // search with queries
 * }</pre>
 * An instance's {@link #instruction()} applies to every call that does not say otherwise. A call that does say, via
 * the LangChain4j 1.18+ request parameter {@link EmbeddingRequestParameters#INPUT_TYPE} (for example
 * {@code EmbeddingStoreIngestor.Builder.embeddingInputType(DOCUMENT)}), gets {@link Instructions#DOCUMENT} for
 * {@code DOCUMENT} and the instance's {@link #queryInstruction()} for {@code QUERY}; so a single instance built with a
 * query instruction can serve both sides for components that pass the input type. A {@code QUERY} call on an
 * instance without a query instruction fails rather than guess a task.
 *
 * <p><b>Components pass the input type only when told to.</b> {@code EmbeddingStoreContentRetriever} sends
 * {@code QUERY} only with {@code .embeddingInputType(EmbeddingInputType.QUERY)} and otherwise calls
 * {@link #embed(String)}; {@code EmbeddingStoreIngestor} sends {@code DOCUMENT} only with
 * {@code .embeddingInputType(DOCUMENT)} and otherwise calls {@link #embedAll(List)}. Without those settings a shared
 * instance embeds both sides with {@link #instruction()}, and the ranking changes with no error. So: give each side
 * its own instance, or set the input type on both components. Where this class can tell, it warns (once per
 * instance): {@link #embed(String)} without an input type on a document instance (the call a retriever makes for its
 * query), and {@link #embedAll(List)} without one on a query instance (the call an ingestor makes for documents).
 *
 * <h2>Long texts</h2>
 * A text longer than the max length is truncated on both backends (the engine's, or the server's
 * {@code max_input_length}), as the official {@code encode} does, and logged as a WARNING with the count;
 * {@link Builder#overflow}{@code (Options.Overflow.FAIL)} refuses it instead, in process and through the server
 * alike.
 *
 * <h2>Backends</h2>
 * In process, around a {@link ReasonIR} the caller owns ({@link #forDocuments(ReasonIR)}, {@link Builder#model}) or
 * one this instance opens from a folder and closes in {@link #close()} ({@link Builder#modelDir}); or as a client of a
 * ReasonIR server ({@link Builder#baseUrl}), which sends the instruction along with the texts. Both give the same
 * vectors for the same call, bit for bit; both are the {@code EmbeddingBackend}s of dev.reasonir:reasonir-client,
 * which this adapter wraps. {@link #withInstruction(String)} derives an instance for the other side
 * that shares the backend but never closes it.
 *
 * <p>Instances are immutable and thread-safe. Errors of the engine ({@code InvalidInputException} naming the input,
 * {@link IllegalStateException} once the model is closed) pass through unchanged; errors of the server backend are
 * LangChain4j exceptions (see {@link Builder#baseUrl(URI)}).
 */
public final class ReasonIREmbeddingModel extends DimensionAwareEmbeddingModel implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ReasonIREmbeddingModel.class.getName());
    /** Every ReasonIR prompt ends with this marker (see {@link Instructions}); a bare task description does not. */
    private static final String EMBED_MARKER = "<|embed|>\n";

    private final EmbeddingBackend backend;
    private final boolean ownsBackend;
    private final String instruction;
    private final String queryInstruction;   // null: QUERY-typed requests are refused
    private final List<EmbeddingModelListener> listeners;
    /** Each misuse warning once per instance: enough to be seen, not one per query. */
    private final AtomicBoolean warnedUntypedQuery = new AtomicBoolean(), warnedUntypedDocuments = new AtomicBoolean();

    private ReasonIREmbeddingModel(EmbeddingBackend backend, boolean ownsBackend, String instruction,
                                   String queryInstruction, List<EmbeddingModelListener> listeners,
                                   Integer dimension) {
        this.backend = backend;
        this.ownsBackend = ownsBackend;
        this.instruction = checkInstruction(instruction, "instruction");
        this.queryInstruction = queryInstruction == null ? null : checkInstruction(queryInstruction,
                "queryInstruction");
        this.listeners = List.copyOf(listeners);
        this.dimension = dimension;
    }

    /** Embeds documents (prefix {@link Instructions#DOCUMENT}) with a model the caller keeps owning and closes. */
    public static ReasonIREmbeddingModel forDocuments(ReasonIR model) {
        return builder().model(model).build();
    }

    /**
     * Embeds queries with {@code instruction}, a full prompt as made by {@link Instructions#query(String)} or
     * {@link Instructions#bright(String)}, with a model the caller keeps owning and closes.
     */
    public static ReasonIREmbeddingModel forQueries(ReasonIR model, String instruction) {
        return builder().model(model).instruction(instruction).build();
    }

    /** Embeds queries with the official BRIGHT prompt of {@code task} (e.g. "biology", "leetcode"). */
    public static ReasonIREmbeddingModel forBrightTask(ReasonIR model, String task) {
        return forQueries(model, Instructions.bright(task));
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * An instance that embeds with {@code instruction} over the same backend and model name. It never closes the
     * backend: close the instance it was derived from (or the caller-owned {@link ReasonIR}). Its query instruction
     * is {@code instruction} unless that is {@link Instructions#DOCUMENT}, in which case this instance's is kept.
     */
    public ReasonIREmbeddingModel withInstruction(String instruction) {
        Objects.requireNonNull(instruction, "instruction");
        String query = Instructions.DOCUMENT.equals(instruction) ? queryInstruction : instruction;
        return new ReasonIREmbeddingModel(backend, false, instruction, query, listeners, dimension);
    }

    /** The prefix of every text of a call that does not name an input type. */
    public String instruction() {
        return instruction;
    }

    /** The prefix of {@link EmbeddingInputType#QUERY} calls, or {@code null} when this instance refuses them. */
    public String queryInstruction() {
        return queryInstruction;
    }

    /**
     * The backend's model name: the builder's, else the folder's in process, else the name the server serves (asked
     * once from its {@code GET /v1/models}).
     */
    @Override
    public String modelName() {
        try {
            return backend.modelName();
        } catch (ReasonIRClientException e) {
            throw langChain4jException(e);
        }
    }

    /**
     * As LangChain4j's, with the instance's {@link #instruction()}; on a document instance, warns once that this is
     * how {@code EmbeddingStoreContentRetriever} embeds its query when no {@code embeddingInputType} is set.
     */
    @Override
    public Response<Embedding> embed(String text) {
        if (queryInstruction == null && warnedUntypedQuery.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.WARNING, "embed(String) on a document model ({0}) embeds with the document "
                    + "prompt. EmbeddingStoreContentRetriever embeds its QUERY this way unless built with "
                    + ".embeddingInputType(EmbeddingInputType.QUERY); for queries use forQueries(...) or "
                    + "forBrightTask(...), or a model with queryInstruction(...) and that setting. (Warned once per "
                    + "instance.)", this);
        }
        return super.embed(text);
    }

    /**
     * As LangChain4j's, with the instance's {@link #instruction()}; on a query instance, warns once that this is how
     * {@code EmbeddingStoreIngestor} embeds documents when no {@code embeddingInputType} is set.
     */
    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> textSegments) {
        if (!Instructions.DOCUMENT.equals(instruction) && warnedUntypedDocuments.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.WARNING, "embedAll(segments) on a query model ({0}) embeds every segment with "
                    + "the query prompt. EmbeddingStoreIngestor embeds DOCUMENTS this way unless built with "
                    + ".embeddingInputType(EmbeddingInputType.DOCUMENT); index with forDocuments(...) or set it. "
                    + "(Warned once per instance.)", this);
        }
        return super.embedAll(textSegments);
    }

    @Override
    public List<EmbeddingModelListener> listeners() {
        return listeners;
    }

    /** {@link EmbeddingRequestParameters#INPUT_TYPE} only: ReasonIR's dimension and model are fixed. */
    @Override
    public Set<EmbeddingParameter<?>> supportedParameters() {
        return Set.of(EmbeddingRequestParameters.INPUT_TYPE);
    }

    /**
     * Embeds the request's texts in one backend call with the instruction its input type selects (see the class
     * comment). The token usage counts every token the model read, instruction tokens included.
     */
    @Override
    public EmbeddingResponse doEmbed(EmbeddingRequest request) {
        String prefix = instructionFor(request.inputType());
        List<String> texts = new ArrayList<>(request.inputs().size());
        for (EmbeddingInput input : request.inputs()) texts.add(input.text());
        EmbeddingBackend.Embedded out;
        try {
            out = backend.embed(texts, prefix);
        } catch (ReasonIRClientException e) {
            throw langChain4jException(e);
        }
        if (out.truncated() != null && out.truncated() > 0) {
            // LangChain4j's response metadata has no place for it: the log is where a user can see it.
            LOG.log(System.Logger.Level.WARNING, "{0} of {1} texts were longer than the max length and truncated "
                    + "(builder().overflow(Options.Overflow.FAIL) refuses them instead)", out.truncated(),
                    texts.size());
        }
        List<Embedding> embeddings = new ArrayList<>(out.vectors().length);
        for (float[] v : out.vectors()) embeddings.add(Embedding.from(v));
        return EmbeddingResponse.builder()
                .embeddings(embeddings)
                .metadata(EmbeddingResponseMetadata.builder()
                        .modelName(modelName())
                        .tokenUsage(out.inputTokens() == null ? null : new TokenUsage(out.inputTokens()))
                        .build())
                .build();
    }

    /** In process: the model's hidden size. Server: unknown until the backend's first answer shows it. */
    @Override
    protected Integer knownDimension() {
        return backend.knownDimension();
    }

    /**
     * Closes the backend when this instance opened it ({@link Builder#modelDir}, {@link Builder#baseUrl}); does
     * nothing for a caller-owned {@link ReasonIR} or an instance made by {@link #withInstruction(String)}.
     */
    @Override
    public void close() {
        if (ownsBackend) backend.close();
    }

    @Override
    public String toString() {
        // No model name here: for a server it may take a request to learn, and toString must not make one.
        return "ReasonIREmbeddingModel[" + backend + ", instruction "
                + quote(instruction) + (queryInstruction == null || queryInstruction.equals(instruction) ? ""
                : ", queryInstruction " + quote(queryInstruction)) + "]";
    }

    /**
     * A failed server call as LangChain4j's exception types, with the same message and the client's exception as the
     * cause: a 401 (API key missing or refused) is an {@link AuthenticationException}, as LangChain4j's own OpenAI
     * model reports it, another HTTP error status an {@link HttpException}, a timeout a {@link TimeoutException},
     * anything else (unreachable, interrupted, malformed answer) a {@link LangChain4jException}.
     */
    private static LangChain4jException langChain4jException(ReasonIRClientException e) {
        return switch (e.reason()) {
            case UNAUTHORIZED -> new AuthenticationException(e.getMessage(), e);
            case HTTP_STATUS -> {
                HttpException http = new HttpException(e.statusCode(), e.getMessage());
                http.initCause(e);
                yield http;
            }
            case TIMEOUT -> new TimeoutException(e.getMessage(), e);
            case UNREACHABLE, INTERRUPTED, MALFORMED_ANSWER -> new LangChain4jException(e.getMessage(), e);
        };
    }

    private String instructionFor(EmbeddingInputType inputType) {
        if (inputType == null) return instruction;
        return switch (inputType) {
            case DOCUMENT -> Instructions.DOCUMENT;
            case QUERY -> {
                if (queryInstruction == null) {
                    throw new IllegalStateException("this ReasonIREmbeddingModel has no query instruction, so it "
                            + "cannot embed a QUERY request: use forQueries(...) / forBrightTask(...) or "
                            + "builder().queryInstruction(Instructions.query(\"<task>\"))");
                }
                yield queryInstruction;
            }
        };
    }

    private static String checkInstruction(String instruction, String what) {
        Objects.requireNonNull(instruction, what);
        if (!instruction.isEmpty() && !instruction.endsWith(EMBED_MARKER)) {
            // Legal (the engine embeds any prefix) but almost always a bare task description passed by mistake.
            LOG.log(System.Logger.Level.WARNING, "{0} {1} does not end with the <|embed|> marker: pass a prompt made "
                    + "by Instructions.query(task) or Instructions.bright(task), not a bare task description",
                    what, quote(instruction));
        }
        return instruction;
    }

    private static String quote(String s) {
        return '"' + s.replace("\n", "\\n") + '"';
    }

    /**
     * Builds an instance: choose exactly one backend ({@link #model}, {@link #modelDir} or {@link #baseUrl}) and,
     * for queries, an {@link #instruction}.
     */
    public static final class Builder {
        private final EmbeddingBackend.Builder backend = EmbeddingBackend.builder();
        private Integer dimension;
        private String instruction = Instructions.DOCUMENT;
        private String queryInstruction;
        private List<EmbeddingModelListener> listeners = List.of();

        private Builder() {}

        /** In process, with a model the caller opened and will close ({@link #close()} leaves it open). */
        public Builder model(ReasonIR model) {
            backend.model(model);
            return this;
        }

        /** In process, opening the checkpoint folder at {@link #build()}; {@link #close()} closes it. */
        public Builder modelDir(Path modelDir) {
            backend.modelDir(modelDir);
            return this;
        }

        /** Engine options for {@link #modelDir} (default {@link Options#defaults()}: device "auto"). */
        public Builder options(Options options) {
            backend.options(options);
            return this;
        }

        /** Shorthand for {@code options(options.withDevice(device))}: "auto", "cpu", "cuda" or "cuda:N". */
        public Builder device(String device) {
            backend.device(device);
            return this;
        }

        /** Shorthand for {@code options(options.withMaxLength(maxLength))}: tokens per input, BOS included. */
        public Builder maxLength(int maxLength) {
            backend.maxLength(maxLength);
            return this;
        }

        /**
         * As a client of the ReasonIR server at {@code baseUrl} (e.g. {@code http://localhost:8080}), which must
         * serve {@code POST /v1/embeddings}. A missing or refused API key ({@link #apiKey}) throws
         * {@link dev.langchain4j.exception.AuthenticationException}, other HTTP error statuses
         * {@link dev.langchain4j.exception.HttpException} with the server's message, a timeout
         * {@link dev.langchain4j.exception.TimeoutException}, an unreachable server or a malformed answer
         * {@link dev.langchain4j.exception.LangChain4jException}.
         */
        public Builder baseUrl(URI baseUrl) {
            backend.baseUrl(baseUrl);
            return this;
        }

        public Builder baseUrl(String baseUrl) {
            backend.baseUrl(baseUrl);
            return this;
        }

        /**
         * Texts longer than the max length: {@link Options.Overflow#TRUNCATE} (default; logged with the count) or
         * {@link Options.Overflow#FAIL} (refused: {@code InvalidInputException} in process, an
         * {@link dev.langchain4j.exception.HttpException} 422 from a server). Same policy for both backends.
         */
        public Builder overflow(Options.Overflow overflow) {
            backend.overflow(overflow);
            return this;
        }

        /** Server backend: how long one request may take (default 5 minutes: a large batch on a CPU server). */
        public Builder timeout(Duration timeout) {
            backend.timeout(timeout);
            return this;
        }

        /** Server backend: texts per HTTP request (default 256); longer lists are split and sent in order. */
        public Builder maxInputsPerRequest(int maxInputsPerRequest) {
            backend.maxInputsPerRequest(maxInputsPerRequest);
            return this;
        }

        /** Server backend: the JDK client to use (proxy, TLS, executor); default a new one with HTTP/1.1. */
        public Builder httpClient(HttpClient httpClient) {
            backend.httpClient(httpClient);
            return this;
        }

        /**
         * Server backend: the API key the server was started with ({@code REASONIR_API_KEY}, {@code --api-key-file}),
         * sent as {@code Authorization: Bearer <key>}; default none. A missing or refused key makes calls throw
         * {@link dev.langchain4j.exception.AuthenticationException} saying which.
         */
        public Builder apiKey(String apiKey) {
            backend.apiKey(apiKey);
            return this;
        }

        /** Server backend: the dimension, when known, so that {@link #dimension()} needs no request. */
        public Builder dimension(int dimension) {
            if (dimension < 1) throw new IllegalArgumentException("dimension must be >= 1, got " + dimension);
            this.dimension = dimension;
            return this;
        }

        /**
         * The prefix of calls without an input type (default {@link Instructions#DOCUMENT}). Anything else makes
         * this a query model: it also becomes the query instruction unless {@link #queryInstruction} is set.
         */
        public Builder instruction(String instruction) {
            this.instruction = Objects.requireNonNull(instruction, "instruction");
            return this;
        }

        /** The official BRIGHT prompt of {@code task} as the instruction ({@link Instructions#bright(String)}). */
        public Builder brightTask(String task) {
            return instruction(Instructions.bright(task));
        }

        /** The prefix of {@code INPUT_TYPE = QUERY} calls (default: the instruction when it is not the document's). */
        public Builder queryInstruction(String queryInstruction) {
            this.queryInstruction = Objects.requireNonNull(queryInstruction, "queryInstruction");
            return this;
        }

        /**
         * The name reported in responses and sent to a server (default: the folder name in process, the server's own
         * name for a server, which refuses a name it does not serve; the prompt comes from this adapter, not from a
         * {@code NAME:PROMPT} model name).
         */
        public Builder modelName(String modelName) {
            backend.modelName(modelName);
            return this;
        }

        public Builder listeners(List<EmbeddingModelListener> listeners) {
            this.listeners = List.copyOf(listeners);
            return this;
        }

        /** Opens the model for {@link #modelDir}: the engine's errors (missing folder, bad checkpoint) surface here. */
        public ReasonIREmbeddingModel build() {
            String query = queryInstruction != null ? queryInstruction
                    : Instructions.DOCUMENT.equals(instruction) ? null : instruction;
            EmbeddingBackend built = backend.build();
            try {
                return new ReasonIREmbeddingModel(built, true, instruction, query, listeners, dimension);
            } catch (RuntimeException | Error e) {
                built.close();  // a model opened above must not leak
                throw e;
            }
        }
    }
}
