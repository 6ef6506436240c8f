package dev.reasonir.client;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.client.ReasonIRClientException.Reason;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Client of a ReasonIR server's OpenAI-style endpoint {@code POST {baseUrl}/v1/embeddings}. The request carries the
 * instruction in the server's extension field {@code instruction} and the overflow policy in {@code truncate}, so the
 * server embeds exactly what the in-process engine would: {@code {"model": name, "input": [texts],
 * "encoding_format": "float", "instruction": "...", "truncate": true}}. The model name, unless configured, is the
 * one the server serves (the first entry of {@code GET {baseUrl}/v1/models}, asked once).
 *
 * <p>Long lists are sent in requests of at most {@code maxInputsPerRequest} texts, so one ingestion of a large corpus
 * does not become one huge request that a server or proxy refuses. Vectors are parsed straight to {@code float}
 * (Jackson reads a JSON number for a {@code float[]} with one decimal-to-float rounding), so they are bit for bit
 * the floats the server wrote. The dimension of the first answer is remembered ({@link #knownDimension()}).
 *
 * <p>With an API key, every request carries {@code Authorization: Bearer <key>}; the key is never part of a message
 * or of {@link #toString()}.
 *
 * <p>Every failure is a {@link ReasonIRClientException} naming the endpoint: {@link Reason#UNAUTHORIZED} for a 401
 * (saying whether a key was sent), {@link Reason#HTTP_STATUS} with the status and the server's {@code error.message}
 * for another error answer, else the reason there was no usable answer.
 */
final class ReasonIRHttpClient implements EmbeddingBackend {
    /** Shared: ObjectMapper is thread-safe once configured. Unknown fields ("object", "model") are OpenAI extras. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** How much of a non-JSON error body goes into an exception message. */
    private static final int BODY_EXCERPT = 300;

    /** Response header of the ReasonIR server: how many inputs of the request were truncated. */
    static final String TRUNCATED_HEADER = "X-ReasonIR-Truncated-Inputs";

    private final URI endpoint;
    private final URI modelsEndpoint;
    private final boolean truncate;
    private volatile String modelName;   // null until configured or learnt from the server
    private final Duration timeout;
    private final int maxInputsPerRequest;
    private final HttpClient http;
    private final String authorization;  // "Bearer <key>", or null without a key
    private volatile Integer dimension;
    private volatile boolean closed;

    /** {@code modelName} null: the server's (see {@link #modelName()}); {@code apiKey} null: none sent. */
    ReasonIRHttpClient(URI baseUrl, String modelName, boolean truncate, Duration timeout, int maxInputsPerRequest,
                       HttpClient http, String apiKey) {
        this.endpoint = endpoint(baseUrl);
        this.modelsEndpoint = URI.create(endpoint.toString().replaceFirst("/embeddings$", "/models"));
        this.modelName = modelName;
        this.truncate = truncate;
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be > 0");
        if (maxInputsPerRequest < 1) {
            throw new IllegalArgumentException("maxInputsPerRequest must be >= 1, got " + maxInputsPerRequest);
        }
        this.maxInputsPerRequest = maxInputsPerRequest;
        this.http = Objects.requireNonNull(http, "httpClient");
        this.authorization = apiKey == null ? null : "Bearer " + checkKey(apiKey);
    }

    /**
     * Refuses a key no HTTP header can carry (empty, spaces, control or non-ASCII characters; a trailing newline read
     * from a file is the usual case), without quoting it: the message may be logged.
     */
    static String checkKey(String apiKey) {
        if (apiKey.isEmpty()) throw new IllegalArgumentException("apiKey must not be empty");
        for (int i = 0; i < apiKey.length(); i++) {
            char c = apiKey.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw new IllegalArgumentException("apiKey may hold printable ASCII characters only (no spaces, "
                        + "control characters or non-ASCII); character " + (i + 1) + " of " + apiKey.length()
                        + " is not");
            }
        }
        return apiKey;
    }

    /** {@code baseUrl} + "/v1/embeddings"; refuses what is not an absolute http(s) URL with a host. */
    static URI endpoint(URI baseUrl) {
        Objects.requireNonNull(baseUrl, "baseUrl");
        String scheme = baseUrl.getScheme() == null ? "" : baseUrl.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || baseUrl.getHost() == null) {
            throw new IllegalArgumentException("baseUrl must be an absolute http(s) URL of a ReasonIR server, such as "
                    + "http://localhost:8080, got '" + baseUrl + "'");
        }
        if (baseUrl.getQuery() != null || baseUrl.getFragment() != null) {
            throw new IllegalArgumentException("baseUrl must not have a query or fragment, got '" + baseUrl + "'");
        }
        String s = baseUrl.toString();
        while (s.endsWith("/")) s = s.substring(0, s.length() - 1);
        return URI.create(s + "/v1/embeddings");
    }

    URI endpoint() {
        return endpoint;
    }

    @Override
    public Embedded embed(List<String> texts, String instruction) {
        Objects.requireNonNull(texts, "texts");
        Objects.requireNonNull(instruction, "instruction");
        if (closed) throw new IllegalStateException("ReasonIR client of " + endpoint + " is closed");
        float[][] vectors = new float[texts.size()][];
        Integer tokens = 0, truncated = 0;
        for (int from = 0; from < texts.size(); from += maxInputsPerRequest) {
            List<String> chunk = texts.subList(from, Math.min(texts.size(), from + maxInputsPerRequest));
            Answer answer = post(chunk, instruction);
            float[][] part = vectorsOf(answer.reply(), chunk.size());
            System.arraycopy(part, 0, vectors, from, part.length);
            Usage usage = answer.reply().usage();
            tokens = sum(tokens, usage == null ? null : usage.promptTokens());
            truncated = sum(truncated, answer.truncated());
        }
        if (dimension == null && vectors.length > 0) dimension = vectors[0].length;
        return new Embedded(vectors, tokens, truncated);
    }

    /** Not known before the first answer: then the dimension that answer had. */
    @Override
    public Integer knownDimension() {
        return dimension;
    }

    /** The configured name, else the first model the server lists, asked once (a race asks twice, harmlessly). */
    @Override
    public String modelName() {
        String name = modelName;
        if (name == null) modelName = name = serverModelName();
        return name;
    }

    /** Unknown once any part is unknown. */
    private static Integer sum(Integer a, Integer b) {
        return a == null || b == null ? null : a + b;
    }

    /** The JDK client of Java 17 holds no resources to free; later calls are refused all the same. */
    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return "client of " + endpoint;
    }

    // ---------------------------------------------------------------------------------------------------------------

    @JsonPropertyOrder({"model", "input", "encoding_format", "instruction", "truncate"})
    record Request(String model, List<String> input, @JsonProperty("encoding_format") String encodingFormat,
                   String instruction, boolean truncate) {}

    /** A parsed answer and its truncation count (null: the server sent no count). */
    private record Answer(Reply reply, Integer truncated) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Models(List<ModelEntry> data) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ModelEntry(String id) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Reply(List<Datum> data, Usage usage) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Datum(Integer index, float[] embedding) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Usage(@JsonProperty("prompt_tokens") Integer promptTokens,
                 @JsonProperty("total_tokens") Integer totalTokens) {}

    private Answer post(List<String> texts, String instruction) {
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(new Request(modelName(), texts, "float", instruction, truncate));
        } catch (IOException e) {  // strings only: cannot happen short of a broken Jackson
            throw new UncheckedIOException("cannot encode the request to " + endpoint + ": " + e.getMessage(), e);
        }
        HttpResponse<byte[]> response = send(HttpRequest.newBuilder(endpoint)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)), endpoint, " (" + texts.size()
                + " texts in the request)");
        Reply reply = read(response, Reply.class, endpoint);
        String count = response.headers().firstValue(TRUNCATED_HEADER).orElse(null);
        Integer truncated;
        try {
            truncated = count == null ? null : Integer.valueOf(count.strip());
        } catch (NumberFormatException e) {
            throw malformed("header " + TRUNCATED_HEADER + " is not a count: \"" + count + "\"", e);
        }
        return new Answer(reply, truncated);
    }

    /** The id of the first model of {@code GET /v1/models}: the ReasonIR server lists its plain model name first. */
    private String serverModelName() {
        if (closed) throw new IllegalStateException("ReasonIR client of " + endpoint + " is closed");
        HttpResponse<byte[]> response = send(HttpRequest.newBuilder(modelsEndpoint).GET(), modelsEndpoint, "");
        Models models = read(response, Models.class, modelsEndpoint);
        if (models == null || models.data() == null || models.data().isEmpty() || models.data().get(0) == null
                || models.data().get(0).id() == null || models.data().get(0).id().isBlank()) {
            throw failure(Reason.MALFORMED_ANSWER, 0, "malformed answer from the ReasonIR server at " + modelsEndpoint
                    + ": no model listed in \"data\" (set the model name on the builder to skip this request)", null);
        }
        return models.data().get(0).id();
    }

    /** Sends one request; a transport failure or a non-2xx status is a {@link ReasonIRClientException}. */
    private HttpResponse<byte[]> send(HttpRequest.Builder builder, URI uri, String context) {
        if (authorization != null) builder.header("Authorization", authorization);
        HttpRequest request = builder.timeout(timeout).header("Accept", "application/json").build();
        HttpResponse<byte[]> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            throw failure(Reason.TIMEOUT, 0, "the ReasonIR server at " + uri + " did not answer within "
                    + timeout + context, e);
        } catch (IOException e) {
            throw failure(Reason.UNREACHABLE, 0, "cannot reach the ReasonIR server at " + uri + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure(Reason.INTERRUPTED, 0, "interrupted while waiting for the ReasonIR server at " + uri, e);
        }
        int status = response.statusCode();
        if (status == 401) {
            // Said from what this client knows (whether it sent a key), which is surer than the server's wording.
            throw failure(Reason.UNAUTHORIZED, status, "the ReasonIR server at " + uri + " answered HTTP 401: "
                    + (authorization == null
                    ? "it requires an API key and none is set; set the key the server was started with "
                    + "(REASONIR_API_KEY, --api-key-file) as apiKey on the client"
                    : "it refused the API key that was sent (a wrong key: check that it is the one the server was "
                    + "started with)") + " (server: " + errorMessage(response.body()) + ")", null);
        }
        if (status / 100 != 2) {
            throw failure(Reason.HTTP_STATUS, status, "the ReasonIR server at " + uri + " answered HTTP " + status
                    + ": " + errorMessage(response.body()), null);
        }
        return response;
    }

    private <T> T read(HttpResponse<byte[]> response, Class<T> type, URI uri) {
        try {
            return JSON.readValue(response.body(), type);
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw failure(Reason.MALFORMED_ANSWER, 0, "malformed answer from the ReasonIR server at " + uri
                    + ": the body is not the expected JSON (" + why + ")", e);
        }
    }

    /** The vectors of one answer in input order, after checking that it answers the request that was sent. */
    private float[][] vectorsOf(Reply reply, int expected) {
        if (reply == null || reply.data() == null) throw malformed("no \"data\" array", null);
        if (reply.data().size() != expected) {
            throw malformed(reply.data().size() + " embeddings for " + expected + " inputs", null);
        }
        float[][] out = new float[expected][];
        for (Datum d : reply.data()) {
            if (d == null || d.index() == null || d.index() < 0 || d.index() >= expected) {
                throw malformed("an item has index " + (d == null ? null : d.index()) + ", outside [0, " + expected
                        + ")", null);
            }
            if (out[d.index()] != null) throw malformed("index " + d.index() + " appears twice", null);
            if (d.embedding() == null || d.embedding().length == 0) {
                throw malformed("item " + d.index() + " has no embedding", null);
            }
            if (d.embedding().length != reply.data().get(0).embedding().length) {
                throw malformed("item " + d.index() + " has " + d.embedding().length + " dimensions, item "
                        + reply.data().get(0).index() + " has " + reply.data().get(0).embedding().length, null);
            }
            out[d.index()] = d.embedding();
        }
        return out;
    }

    private ReasonIRClientException malformed(String what, Throwable cause) {
        return failure(Reason.MALFORMED_ANSWER, 0, "malformed answer from the ReasonIR server at " + endpoint + ": "
                + what, cause);
    }

    private ReasonIRClientException failure(Reason reason, int status, String message, Throwable cause) {
        return new ReasonIRClientException(endpoint, reason, status, message, cause);
    }

    /** The server's {@code error.message}, else the start of the body as text. */
    static String errorMessage(byte[] body) {
        if (body == null || body.length == 0) return "(empty body)";
        try {
            JsonNode message = JSON.readTree(body).path("error").path("message");
            if (message.isTextual() && !message.asText().isBlank()) return message.asText();
        } catch (IOException | RuntimeException notJson) {
            // fall through: show the body as it came
        }
        String text = new String(body, StandardCharsets.UTF_8).strip();
        return text.length() <= BODY_EXCERPT ? text : text.substring(0, BODY_EXCERPT) + "...";
    }
}
