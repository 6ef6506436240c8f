package dev.reasonir.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.ReasonIR;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;

/**
 * A stand-in for the ReasonIR server's {@code POST /v1/embeddings} on 127.0.0.1, answering with vectors from the
 * Java API ({@code model.embed(input, instruction)}) in the server's wire format. It records every request body as
 * sent, so tests can check the client's JSON exactly; {@link #failWith} and {@link #tamper} make it misbehave.
 * Shared with the adapters' tests through this module's test-jar.
 */
public final class StubReasonIRServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The name the stub serves (GET /v1/models), which clients without a configured name learn and send. */
    public static final String MODEL_NAME = "stub-served-model";
    /** A {@link #tamper}ing that drops the answer's first embedding: one vector fewer than inputs. */
    public static final UnaryOperator<ObjectNode> DROP_FIRST_EMBEDDING = reply -> {
        ((ArrayNode) reply.get("data")).remove(0);
        return reply;
    };

    private final HttpServer server;
    private final ReasonIR model;
    /** Raw request bodies in arrival order. */
    public final List<String> bodies = new CopyOnWriteArrayList<>();
    /** The Authorization header of every request (GET /v1/models included) in arrival order; "" when absent. */
    public final List<String> authorizations = new CopyOnWriteArrayList<>();
    private volatile String requiredKey;
    private volatile int failStatus;
    private volatile String failBody;
    private volatile UnaryOperator<ObjectNode> tamper = UnaryOperator.identity();

    private StubReasonIRServer(ReasonIR model) throws IOException {
        this.model = model;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    public static StubReasonIRServer start(ReasonIR model) throws IOException {
        return new StubReasonIRServer(model);
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** From now on, answer every request with {@code status} and {@code body} (JSON or not); 0 answers normally. */
    public void failWith(int status, String body) {
        this.failBody = body;
        this.failStatus = status;
    }

    /** From now on, pass every successful answer through {@code f} before sending it. */
    public void tamper(UnaryOperator<ObjectNode> f) {
        this.tamper = f;
    }

    /**
     * From now on, answer every request without {@code Authorization: Bearer <key>} with the real server's 401
     * (OpenAI body, {@code WWW-Authenticate}); null: no key required.
     */
    public void requireApiKey(String key) {
        this.requiredKey = key;
    }

    /**
     * Answers normally again, untampered and without a key, and forgets the bodies and headers recorded so far;
     * returns this stub, so that a test's client factory reads {@code builder().baseUrl(stub.reset().baseUrl())}.
     */
    public StubReasonIRServer reset() {
        failWith(0, null);
        tamper(UnaryOperator.identity());
        requireApiKey(null);
        bodies.clear();
        authorizations.clear();
        return this;
    }

    /**
     * The documented {@code POST /v1/embeddings} body a client without a configured model name sends (it learns
     * {@link #MODEL_NAME} from GET /v1/models), with truncation on, parsed: compare it with {@link #request(int)}.
     */
    public static ObjectNode documentedRequest(List<String> input, String instruction) {
        ObjectNode body = JSON.createObjectNode().put("model", MODEL_NAME);
        input.forEach(body.putArray("input")::add);
        return body.put("encoding_format", "float").put("instruction", instruction).put("truncate", true);
    }

    /** The {@code i}-th request body, parsed. */
    public JsonNode request(int i) {
        try {
            return JSON.readTree(bodies.get(i));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            authorizations.add(authorization == null ? "" : authorization);
            String key = requiredKey;
            if (key != null && !("Bearer " + key).equals(authorization)) {
                String code = authorization == null ? "missing_api_key" : "invalid_api_key";
                exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"reasonir\"");
                send(exchange, 401, "{\"error\":{\"message\":\"" + (authorization == null ? "missing API key"
                        : "invalid API key") + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\""
                        + code + "\"}}");
                return;
            }
            if (exchange.getRequestMethod().equals("GET") && exchange.getRequestURI().getPath().equals("/v1/models")) {
                // As the real server: the plain model name first.
                send(exchange, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"" + MODEL_NAME + "\",\"object\":"
                        + "\"model\"},{\"id\":\"" + MODEL_NAME + ":document\",\"object\":\"model\"}]}");
                return;
            }
            if (!exchange.getRequestMethod().equals("POST") || !exchange.getRequestURI().getPath()
                    .equals("/v1/embeddings")) {
                send(exchange, 404, "{\"error\":{\"message\":\"no route " + exchange.getRequestURI() + "\"}}");
                return;
            }
            bodies.add(body);
            if (failStatus != 0) {
                send(exchange, failStatus, failBody);
                return;
            }
            JsonNode request = JSON.readTree(body);
            List<String> input = new ArrayList<>();
            request.get("input").forEach(t -> input.add(t.asText()));
            EmbeddingResult result;
            try {
                result = model.embed(input, request.get("instruction").asText());
                if (!result.truncations().isEmpty() && !request.path("truncate").asBoolean(true)) {
                    throw new IllegalArgumentException("input " + result.truncations().get(0).index() + " is too long");
                }
            } catch (RuntimeException e) {
                ObjectNode error = JSON.createObjectNode();
                error.putObject("error").put("message", e.getMessage());
                send(exchange, 400, JSON.writeValueAsString(error));
                return;
            }
            ObjectNode reply = JSON.createObjectNode();
            reply.put("object", "list");
            ArrayNode data = reply.putArray("data");
            for (int i = 0; i < result.size(); i++) {
                ObjectNode item = data.addObject();
                item.put("object", "embedding");
                item.put("index", i);
                ArrayNode vector = item.putArray("embedding");
                for (float x : result.vectors()[i]) vector.add(x);
            }
            reply.put("model", request.get("model").asText());
            reply.putObject("usage").put("prompt_tokens", result.totalTokens()).put("total_tokens",
                    result.totalTokens());
            exchange.getResponseHeaders().set("X-ReasonIR-Truncated-Inputs",
                    String.valueOf(result.truncations().size()));
            send(exchange, 200, JSON.writeValueAsString(tamper.apply(reply)));
        }
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }
}
