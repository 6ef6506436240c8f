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
 * instruction in the server's extension field {@code instruction}, so the server embeds exactly what the in-process
 * engine would: {@code {"model": name, "input": [texts], "encoding_format": "float", "instruction": "..."}}.
 *
 * <p>Long lists are sent in requests of at most {@code maxInputsPerRequest} texts, so one ingestion of a large corpus
 * does not become one huge request that a server or proxy refuses. Vectors are parsed straight to {@code float}
 * (Jackson reads a JSON number for a {@code float[]} with one decimal-to-float rounding), so they are bit for bit
 * the floats the server wrote. The dimension of the first answer is remembered ({@link #knownDimension()}).
 *
 * <p>Every failure is a {@link ReasonIRClientException} naming the endpoint: {@link Reason#HTTP_STATUS} with the
 * status and the server's {@code error.message} for an error answer, else the reason there was no usable answer.
 */
final class ReasonIRHttpClient implements EmbeddingBackend {
    /** Shared: ObjectMapper is thread-safe once configured. Unknown fields ("object", "model") are OpenAI extras. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** How much of a non-JSON error body goes into an exception message. */
    private static final int BODY_EXCERPT = 300;

    private final URI endpoint;
    private final String modelName;
    private final Duration timeout;
    private final int maxInputsPerRequest;
    private final HttpClient http;
    private volatile Integer dimension;
    private volatile boolean closed;

    ReasonIRHttpClient(URI baseUrl, String modelName, Duration timeout, int maxInputsPerRequest, HttpClient http) {
        this.endpoint = endpoint(baseUrl);
        this.modelName = Objects.requireNonNull(modelName, "modelName");
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be > 0");
        if (maxInputsPerRequest < 1) {
            throw new IllegalArgumentException("maxInputsPerRequest must be >= 1, got " + maxInputsPerRequest);
        }
        this.maxInputsPerRequest = maxInputsPerRequest;
        this.http = Objects.requireNonNull(http, "httpClient");
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
        Integer tokens = 0;
        for (int from = 0; from < texts.size(); from += maxInputsPerRequest) {
            List<String> chunk = texts.subList(from, Math.min(texts.size(), from + maxInputsPerRequest));
            Reply reply = post(chunk, instruction);
            float[][] part = vectorsOf(reply, chunk.size());
            System.arraycopy(part, 0, vectors, from, part.length);
            Integer used = reply.usage() == null ? null : reply.usage().promptTokens();
            tokens = tokens == null || used == null ? null : tokens + used;  // unknown once any part is unknown
        }
        if (dimension == null && vectors.length > 0) dimension = vectors[0].length;
        return new Embedded(vectors, tokens);
    }

    /** Not known before the first answer: then the dimension that answer had. */
    @Override
    public Integer knownDimension() {
        return dimension;
    }

    @Override
    public String modelName() {
        return modelName;
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

    @JsonPropertyOrder({"model", "input", "encoding_format", "instruction"})
    record Request(String model, List<String> input, @JsonProperty("encoding_format") String encodingFormat,
                   String instruction) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Reply(List<Datum> data, Usage usage) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Datum(Integer index, float[] embedding) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    record Usage(@JsonProperty("prompt_tokens") Integer promptTokens,
                 @JsonProperty("total_tokens") Integer totalTokens) {}

    private Reply post(List<String> texts, String instruction) {
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(new Request(modelName, texts, "float", instruction));
        } catch (IOException e) {  // strings only: cannot happen short of a broken Jackson
            throw new UncheckedIOException("cannot encode the request to " + endpoint + ": " + e.getMessage(), e);
        }
        HttpRequest request = HttpRequest.newBuilder(endpoint)
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<byte[]> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            throw failure(Reason.TIMEOUT, 0, "the ReasonIR server at " + endpoint + " did not answer within "
                    + timeout + " (" + texts.size() + " texts in the request)", e);
        } catch (IOException e) {
            throw failure(Reason.UNREACHABLE, 0, "cannot reach the ReasonIR server at " + endpoint + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure(Reason.INTERRUPTED, 0, "interrupted while waiting for the ReasonIR server at " + endpoint,
                    e);
        }
        int status = response.statusCode();
        if (status / 100 != 2) {
            throw failure(Reason.HTTP_STATUS, status, "the ReasonIR server at " + endpoint + " answered HTTP " + status
                    + ": " + errorMessage(response.body()), null);
        }
        try {
            return JSON.readValue(response.body(), Reply.class);
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw malformed("the body is not the expected JSON (" + why + ")", e);
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
