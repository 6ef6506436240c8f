package dev.reasonir.client;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Where an adapter gets its vectors: the engine in this process or a ReasonIR server. The caller decides the
 * instruction; a backend only embeds {@code instruction + text}, so both backends return the same vectors, bit for
 * bit, for the same call. Build one with {@link #builder()}.
 *
 * <p>Implementations are thread-safe. Engine errors ({@code dev.reasonir.InvalidInputException} naming the input,
 * {@link IllegalStateException} once the model is closed) pass through unchanged; every failure of a server call is a
 * {@link ReasonIRClientException}.
 */
public interface EmbeddingBackend extends AutoCloseable {

    /**
     * One vector per text, in input order.
     *
     * @param vectors     one vector per input text, in input order; the arrays are the caller's to keep
     * @param inputTokens tokens the model read for the whole call (instructions included), or {@code null} when the
     *                    backend does not know them (a server that reports no usage)
     * @param truncated   how many texts were longer than the max length and cut to it ({@link Options.Overflow}),
     *                    or {@code null} when the backend does not know (a server that does not send the
     *                    {@code X-ReasonIR-Truncated-Inputs} header)
     */
    record Embedded(float[][] vectors, Integer inputTokens, Integer truncated) {}

    /**
     * Embeds {@code instruction + text} for every text, in one engine call in process, or in requests of at most
     * {@link Builder#maxInputsPerRequest} texts sent in order to a server. An empty list gives an empty result.
     */
    Embedded embed(List<String> texts, String instruction);

    /**
     * The vector dimension when it is known without a request: always in process (the model's hidden size); for a
     * server, once an answer has shown it, else {@code null}.
     */
    Integer knownDimension();

    /**
     * The vector dimension: {@link #knownDimension()}, else probed once by embedding one short document (a single
     * request to a server), after which it is known.
     */
    default int dimension() {
        Integer known = knownDimension();
        return known != null ? known : embed(List.of("dimension probe"), Instructions.DOCUMENT).vectors()[0].length;
    }

    /**
     * The model name: {@link Builder#modelName} when set, else the checkpoint folder's name in process (e.g.
     * "ReasonIR-8B" for /models/ReasonIR-8B) or, for a server, the name it serves (the first entry of its
     * {@code GET /v1/models}, asked once, on the first call that needs it), so that a response names the model that
     * computed it. A server backend throws {@link ReasonIRClientException} when it cannot learn the name.
     */
    String modelName();

    /**
     * Frees what the backend owns and refuses later calls with {@link IllegalStateException}; idempotent. A backend
     * over a model it borrowed ({@link Builder#model}) leaves that model open and keeps working until the model's
     * owner closes it.
     */
    @Override
    void close();

    static Builder builder() {
        return new Builder();
    }

    /**
     * Chooses exactly one backend: {@link #model} (in process, borrowed), {@link #modelDir} (in process, owned) or
     * {@link #baseUrl} (a ReasonIR server). Setters only check for {@code null}; {@link #build()} checks the rest.
     * Not thread-safe.
     */
    final class Builder {
        private ReasonIR model;
        private Path modelDir;
        private Options options = Options.defaults();
        private URI baseUrl;
        private Duration timeout = Duration.ofMinutes(5);
        private int maxInputsPerRequest = 256;
        private HttpClient httpClient;
        private String modelName;
        private String apiKey;

        private Builder() {}

        /** In process, with a model the caller opened and keeps owning: {@link #close()} leaves it open. */
        public Builder model(ReasonIR model) {
            this.model = Objects.requireNonNull(model, "model");
            return this;
        }

        /** In process, opening the checkpoint folder at {@link #build()}: {@link #close()} closes it. */
        public Builder modelDir(Path modelDir) {
            this.modelDir = Objects.requireNonNull(modelDir, "modelDir");
            return this;
        }

        /** Engine options for {@link #modelDir} (default {@link Options#defaults()}: device "auto"). */
        public Builder options(Options options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        /** Shorthand for {@code options(options.withDevice(device))}: "auto", "cpu", "cuda" or "cuda:N". */
        public Builder device(String device) {
            this.options = options.withDevice(device);
            return this;
        }

        /** Shorthand for {@code options(options.withMaxLength(maxLength))}: tokens per input, BOS included. */
        public Builder maxLength(int maxLength) {
            this.options = options.withMaxLength(maxLength);
            return this;
        }

        /**
         * What happens to a text longer than the max length, for both backends (default
         * {@link Options.Overflow#TRUNCATE}, as the engine, the CLI and the server do; {@link Embedded#truncated()}
         * counts them): a model opened here gets {@code options.withOverflow(overflow)}; a borrowed one
         * ({@link #model}) refuses such a text when either this or its own options say FAIL; a server backend sends
         * {@code "truncate": overflow == TRUNCATE} with every request, so the server's own default does not matter.
         */
        public Builder overflow(Options.Overflow overflow) {
            this.options = options.withOverflow(Objects.requireNonNull(overflow, "overflow"));
            return this;
        }

        /**
         * As a client of the ReasonIR server at {@code baseUrl} (e.g. {@code http://localhost:8080}), which must
         * serve {@code POST /v1/embeddings}; {@link #build()} refuses what is not an absolute http(s) URL with a
         * host, or has a query or fragment.
         */
        public Builder baseUrl(URI baseUrl) {
            this.baseUrl = Objects.requireNonNull(baseUrl, "baseUrl");
            return this;
        }

        /** {@link #baseUrl(URI)} of a string; a string that is no URI at all is refused here. */
        public Builder baseUrl(String baseUrl) {
            Objects.requireNonNull(baseUrl, "baseUrl");
            try {
                return baseUrl(URI.create(baseUrl.strip()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("baseUrl '" + baseUrl + "' is not a URL: " + e.getMessage(), e);
            }
        }

        /** Server: how long one request may take (default 5 minutes: a large batch on a CPU server). */
        public Builder timeout(Duration timeout) {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** Server: texts per HTTP request (default 256); longer lists are split and sent in order. */
        public Builder maxInputsPerRequest(int maxInputsPerRequest) {
            this.maxInputsPerRequest = maxInputsPerRequest;
            return this;
        }

        /** Server: the JDK client to use (proxy, TLS, executor); default a new one with HTTP/1.1. */
        public Builder httpClient(HttpClient httpClient) {
            this.httpClient = Objects.requireNonNull(httpClient, "httpClient");
            return this;
        }

        /**
         * Server: the API key the server was started with ({@code serve} with {@code REASONIR_API_KEY},
         * {@code --api-key-file} or {@code --api-key}), sent as {@code Authorization: Bearer <key>} with every
         * request; {@code null} (default): none. A server that refuses the key, or wants one and got none, makes
         * calls fail with {@link ReasonIRClientException.Reason#UNAUTHORIZED}. {@link #build()} refuses a key with
         * characters a header cannot carry (spaces, control or non-ASCII characters), without quoting it.
         */
        public Builder apiKey(String apiKey) {
            this.apiKey = apiKey;
            return this;
        }

        /**
         * The name {@link EmbeddingBackend#modelName()} reports and a server backend sends as {@code "model"}: for a
         * server, its plain model name (the first its {@code GET /v1/models} lists; an unknown name is a 404, and a
         * {@code NAME:PROMPT} name a 400, because this backend always sends the instruction itself); default: the
         * server's own name.
         */
        public Builder modelName(String modelName) {
            this.modelName = Objects.requireNonNull(modelName, "modelName");
            return this;
        }

        /**
         * The backend. Opens the model for {@link #modelDir}, so the engine's errors (missing folder, bad checkpoint)
         * surface here; a server backend sends nothing until its first call.
         *
         * @throws IllegalStateException    unless exactly one of model, modelDir and baseUrl is set
         * @throws IllegalArgumentException for a bad baseUrl, a timeout that is not positive,
         *                                  maxInputsPerRequest &lt; 1 or an API key a header cannot carry
         */
        public EmbeddingBackend build() {
            int backends = (model != null ? 1 : 0) + (modelDir != null ? 1 : 0) + (baseUrl != null ? 1 : 0);
            if (backends != 1) {
                throw new IllegalStateException("set exactly one backend: model(ReasonIR), modelDir(Path) or "
                        + "baseUrl(...); got " + backends);
            }
            if (baseUrl != null) {
                HttpClient http = httpClient != null ? httpClient
                        : HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                                .connectTimeout(Duration.ofSeconds(30)).build();
                return new ReasonIRHttpClient(baseUrl, modelName, options.overflow() == Options.Overflow.TRUNCATE,
                        timeout, maxInputsPerRequest, http, apiKey);
            }
            boolean fail = options.overflow() == Options.Overflow.FAIL;
            return model != null ? new InProcessBackend(model, false, modelName, fail)
                    : new InProcessBackend(ReasonIR.open(modelDir, options), true, modelName, fail);
        }
    }
}
