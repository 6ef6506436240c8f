package dev.reasonir.springai;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.ReasonIR;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for the ReasonIR server's {@code POST /v1/embeddings} on 127.0.0.1, answering with vectors from the
 * Java API ({@code model.embed(input, instruction)}) in the server's wire format. It records every request body as
 * sent, so tests can check the client's JSON exactly; {@link #failWith} makes it answer an error instead.
 */
public final class StubReasonIRServer implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpServer server;
    private final ReasonIR model;
    /** Raw request bodies in arrival order. */
    public final List<String> bodies = new CopyOnWriteArrayList<>();
    private volatile int failStatus;
    private volatile String failBody;

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

    /** From now on, answer every request with {@code status} and {@code body}; status 0 answers normally again. */
    public void failWith(int status, String body) {
        this.failBody = body;
        this.failStatus = status;
    }

    public JsonNode request(int i) {
        return JSON.readTree(bodies.get(i));
    }

    @Override
    public void close() {
        server.stop(0);
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
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
            request.get("input").forEach(t -> input.add(t.asString()));
            EmbeddingResult result;
            try {
                result = model.embed(input, request.get("instruction").asString());
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
            reply.put("model", request.get("model").asString());
            reply.putObject("usage").put("prompt_tokens", result.totalTokens()).put("total_tokens",
                    result.totalTokens());
            send(exchange, 200, JSON.writeValueAsString(reply));
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
