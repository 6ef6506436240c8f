package dev.reasonir.springai;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.EmbeddingBackend;
import dev.reasonir.client.ReasonIRClientException;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.metadata.EmptyUsage;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.BatchingStrategy;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingOptions;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.EmbeddingResponseMetadata;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * ReasonIR-8B as a Spring AI {@link EmbeddingModel}.
 *
 * <h2>Queries and documents</h2>
 * ReasonIR embeds {@code instruction + text}: documents take the fixed prefix {@link Instructions#DOCUMENT}, queries
 * a task prompt. Spring AI's vector stores embed documents through {@link #embed(Document)} or
 * {@link #embed(List, EmbeddingOptions, BatchingStrategy)} and queries through {@link #embed(String)}, so the
 * convention follows the argument type: <b>{@code Document}s are documents, strings are queries</b>.
 * <ul>
 *   <li>{@link #embed(Document)}, {@link #embed(List, EmbeddingOptions, BatchingStrategy)}: the document prefix.</li>
 *   <li>{@link #embed(String)}, {@link #embed(List)}, {@link #embedForResponse(List)}, {@link #call}: the query
 *       instruction this model was built with ({@link Builder#queryTask}, {@link Builder#brightTask}; by default
 *       {@code Instructions.query(DEFAULT_QUERY_TASK)}).</li>
 *   <li>Any of them with {@link ReasonIREmbeddingOptions} in the request: what the options choose (a role, a task, a
 *       BRIGHT task or a complete instruction), e.g. document texts passed as strings:
 *       {@code call(new EmbeddingRequest(texts, ReasonIREmbeddingOptions.documents()))}.</li>
 * </ul>
 *
 * <h2>Backends</h2>
 * In process, around a {@link ReasonIR} the caller owns ({@link Builder#model}) or one opened from a folder and
 * closed in {@link #close()} ({@link Builder#modelDir}); or as a client of a ReasonIR server ({@link Builder#baseUrl}),
 * which sends the instruction with the texts. Both give the same vectors for the same call, bit for bit (both are
 * the {@code EmbeddingBackend}s of dev.reasonir:reasonir-client, which this adapter wraps). Under
 * Spring Boot, {@code ReasonIRAutoConfiguration} builds one from the {@code reasonir.*} properties.
 *
 * <h2>Long texts</h2>
 * A text longer than the max length is truncated on both backends, as the official {@code encode} does, and each
 * response reports how many were under {@link #TRUNCATED_METADATA_KEY} ({@code null} when a server did not say);
 * {@link Builder#overflow}{@code (Options.Overflow.FAIL)} refuses them instead, in process and through the server.
 *
 * <p>Thread-safe. Engine errors ({@code InvalidInputException} naming the input; {@link IllegalStateException} once
 * the model is closed) pass through; server errors are {@link ReasonIRServerException}s
 * ({@link ReasonIRAuthenticationException} for a missing or refused API key).
 */
public final class ReasonIRSpringEmbeddingModel implements EmbeddingModel, AutoCloseable {
    /**
     * The task of the default query instruction, for callers that configure none: a generic retrieval task in the
     * style of the BRIGHT prompts. Set the task of your application instead where you can: ReasonIR is trained with
     * task-specific instructions.
     */
    public static final String DEFAULT_QUERY_TASK = "Given a query, retrieve relevant passages that help answer the "
            + "query";
    /** The key under which each response's metadata reports the instruction that was used. */
    public static final String INSTRUCTION_METADATA_KEY = "reasonir.instruction";
    /** The key under which each response's metadata reports how many texts were truncated to the max length. */
    public static final String TRUNCATED_METADATA_KEY = "reasonir.truncated";
    private static final System.Logger LOG = System.getLogger(ReasonIRSpringEmbeddingModel.class.getName());
    private static final String EMBED_MARKER = "<|embed|>\n";

    private final EmbeddingBackend backend;
    private final String queryInstruction;
    private final Integer dimensions;   // configured; null: the backend's

    private ReasonIRSpringEmbeddingModel(EmbeddingBackend backend, String queryInstruction, Integer dimensions) {
        this.backend = backend;
        this.queryInstruction = queryInstruction;
        this.dimensions = dimensions;
    }

    /** Around a model the caller keeps owning, with the default query instruction. */
    public static ReasonIRSpringEmbeddingModel inProcess(ReasonIR model) {
        return builder().model(model).build();
    }

    /** Around a model the caller keeps owning; {@code queryInstruction} as made by {@link Instructions}. */
    public static ReasonIRSpringEmbeddingModel inProcess(ReasonIR model, String queryInstruction) {
        return builder().model(model).queryInstruction(queryInstruction).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The prefix of strings embedded without options. */
    public String queryInstruction() {
        return queryInstruction;
    }

    /**
     * The backend's model name: the builder's, else the folder's in process, else the name the server serves (asked
     * once from its {@code GET /v1/models}).
     */
    public String modelName() {
        return onServer(backend::modelName);
    }

    /** Embeds the request's texts as queries, unless {@link ReasonIREmbeddingOptions} in it choose otherwise. */
    @Override
    public EmbeddingResponse call(EmbeddingRequest request) {
        Objects.requireNonNull(request, "request");
        return embedTexts(request.getInstructions(), request.getOptions(), queryInstruction);
    }

    /** Embeds the document's text with the document prefix. */
    @Override
    public float[] embed(Document document) {
        return embedTexts(List.of(textOf(document)), null, Instructions.DOCUMENT).getResult().getOutput();
    }

    /**
     * Embeds documents with the document prefix (unless {@link ReasonIREmbeddingOptions} choose otherwise), one
     * backend call per batch of {@code batchingStrategy}. This is the method vector stores use for ingestion.
     */
    @Override
    public List<float[]> embed(List<Document> documents, EmbeddingOptions options,
                               BatchingStrategy batchingStrategy) {
        Objects.requireNonNull(documents, "documents");
        Objects.requireNonNull(batchingStrategy, "batchingStrategy");
        List<float[]> out = new ArrayList<>(documents.size());
        for (List<Document> batch : batchingStrategy.batch(documents)) {
            List<String> texts = batch.stream().map(this::textOf).toList();
            for (Embedding e : embedTexts(texts, options, Instructions.DOCUMENT).getResults()) out.add(e.getOutput());
        }
        if (out.size() != documents.size()) {
            throw new IllegalStateException("the batching strategy returned " + out.size() + " documents for "
                    + documents.size());
        }
        return out;
    }

    /** In process: the model's hidden size. Server: learnt from the first answer, probing once if need be. */
    @Override
    public int dimensions() {
        Integer d = dimensions;
        return d != null ? d : onServer(backend::dimension);
    }

    /** Closes the model or client this instance opened; a caller-owned {@link ReasonIR} stays open. */
    @Override
    public void close() {
        backend.close();
    }

    @Override
    public String toString() {
        // No model name here: for a server it may take a request to learn, and toString must not make one.
        return "ReasonIRSpringEmbeddingModel[" + backend + ", queryInstruction \""
                + queryInstruction.replace("\n", "\\n") + "\"]";
    }

    private EmbeddingResponse embedTexts(List<String> texts, EmbeddingOptions options, String defaultInstruction) {
        Objects.requireNonNull(texts, "texts");
        String instruction = defaultInstruction;
        if (options != null) {
            String model = options.getModel();
            if (model != null && !model.isBlank() && !model.equals(modelName())) {
                throw new IllegalArgumentException("this EmbeddingModel serves '" + modelName() + "', the request "
                        + "asks for model '" + model + "'");
            }
            if (options.getDimensions() != null && options.getDimensions() != dimensions()) {
                throw new IllegalArgumentException("ReasonIR vectors have " + dimensions() + " dimensions, the "
                        + "request asks for " + options.getDimensions() + " (ReasonIR cannot shorten its vectors)");
            }
            if (options instanceof ReasonIREmbeddingOptions r && r.choosesInstruction()) {
                instruction = r.resolve(queryInstruction);
            }
        }
        if (texts.isEmpty()) {
            return new EmbeddingResponse(List.of(), metadata(0, instruction, 0));
        }
        String prefix = instruction;
        EmbeddingBackend.Embedded out = onServer(() -> backend.embed(texts, prefix));
        List<Embedding> embeddings = new ArrayList<>(out.vectors().length);
        for (int i = 0; i < out.vectors().length; i++) embeddings.add(new Embedding(out.vectors()[i], i));
        return new EmbeddingResponse(embeddings, metadata(out.inputTokens(), instruction, out.truncated()));
    }

    /**
     * Runs a backend call, reporting a failed server call as a {@link ReasonIRServerException}: a
     * {@link ReasonIRAuthenticationException} for a missing or refused API key.
     */
    private static <T> T onServer(Supplier<T> call) {
        try {
            return call.get();
        } catch (ReasonIRClientException e) {
            if (e.reason() == ReasonIRClientException.Reason.UNAUTHORIZED) {
                throw new ReasonIRAuthenticationException(e.endpoint(), e.getMessage(), e);
            }
            throw new ReasonIRServerException(e.endpoint(), e.statusCode(), e.getMessage(), e);
        }
    }

    private EmbeddingResponseMetadata metadata(Integer inputTokens, String instruction, Integer truncated) {
        Map<String, Object> extra = new java.util.HashMap<>();
        extra.put(INSTRUCTION_METADATA_KEY, instruction);
        if (truncated != null) extra.put(TRUNCATED_METADATA_KEY, truncated);
        return new EmbeddingResponseMetadata(modelName(),
                inputTokens == null ? new EmptyUsage() : new DefaultUsage(inputTokens, 0, inputTokens), extra);
    }

    private String textOf(Document document) {
        Objects.requireNonNull(document, "document");
        String text = getEmbeddingContent(document);
        if (text == null) {
            throw new IllegalArgumentException("document " + document.getId() + " has no text (ReasonIR embeds text)");
        }
        return text;
    }

    /** Builds an instance: choose exactly one backend ({@link #model}, {@link #modelDir}, {@link #baseUrl}). */
    public static final class Builder {
        private final EmbeddingBackend.Builder backend = EmbeddingBackend.builder();
        private Integer dimensions;
        private String queryInstruction = Instructions.query(DEFAULT_QUERY_TASK);

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

        /** As a client of the ReasonIR server at {@code baseUrl} (e.g. {@code http://localhost:8080}). */
        public Builder baseUrl(URI baseUrl) {
            backend.baseUrl(baseUrl);
            return this;
        }

        public Builder baseUrl(String baseUrl) {
            backend.baseUrl(baseUrl);
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
         * Server backend: the API key the server was started with, sent as {@code Authorization: Bearer <key>};
         * default (or null) none. A missing or refused key makes calls throw {@link ReasonIRAuthenticationException}.
         */
        public Builder apiKey(String apiKey) {
            backend.apiKey(apiKey);
            return this;
        }

        /** Server backend: the dimension, when known, so that {@link #dimensions()} needs no request. */
        public Builder dimensions(int dimensions) {
            if (dimensions < 1) throw new IllegalArgumentException("dimensions must be >= 1, got " + dimensions);
            this.dimensions = dimensions;
            return this;
        }

        /** The query prefix as a complete prompt, e.g. from {@link Instructions#query(String)}. */
        public Builder queryInstruction(String queryInstruction) {
            this.queryInstruction = Objects.requireNonNull(queryInstruction, "queryInstruction");
            return this;
        }

        /** The query prefix for a task description: {@code Instructions.query(taskDescription)}. */
        public Builder queryTask(String taskDescription) {
            return queryInstruction(Instructions.query(taskDescription));
        }

        /** The query prefix of a BRIGHT task: {@code Instructions.bright(task)}. */
        public Builder brightTask(String task) {
            return queryInstruction(Instructions.bright(task));
        }

        /**
         * Texts longer than the max length: {@link Options.Overflow#TRUNCATE} (default; counted under
         * {@link #TRUNCATED_METADATA_KEY}) or {@link Options.Overflow#FAIL} (refused, in process and by a server).
         */
        public Builder overflow(Options.Overflow overflow) {
            backend.overflow(overflow);
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

        /** Opens the model for {@link #modelDir}: the engine's errors (missing folder, bad checkpoint) surface here. */
        public ReasonIRSpringEmbeddingModel build() {
            if (!queryInstruction.isEmpty() && !queryInstruction.endsWith(EMBED_MARKER)) {
                // Legal (the engine embeds any prefix) but almost always a bare task description passed by mistake.
                LOG.log(System.Logger.Level.WARNING, "query instruction \"{0}\" does not end with the <|embed|> "
                        + "marker: use queryTask(description) for a bare task description",
                        queryInstruction.replace("\n", "\\n"));
            }
            EmbeddingBackend built = backend.build();
            return new ReasonIRSpringEmbeddingModel(built, queryInstruction, dimensions);
        }
    }
}
