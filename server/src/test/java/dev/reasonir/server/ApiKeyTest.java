package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.openAiVectors;
import static dev.reasonir.server.TestServer.uri;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A server with an API key: every route with no key, a wrong key and the key; {@code /health} and {@code /metrics}
 * stay open; 401 bodies in the route's dialect with {@code WWW-Authenticate}; the header's variants; no body is read
 * from a client without the key.
 */
class ApiKeyTest {
    static final String KEY = "sk-reasonir-test-0123456789abcdef";
    static ReasonIR model;
    static EmbeddingServer server;

    @BeforeAll
    static void start() throws Exception {
        model = TestServer.open();
        server = EmbeddingServer.start(model, TestServer.config().apiKey(KEY).build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
    }

    /** One call: method, path, body (null for GET) and the status it gets with the key. */
    record Call(String method, String path, String body, int status, boolean open) {}

    static final List<Call> CALLS = List.of(
            new Call("POST", "/v1/embeddings", "{\"input\":\"Why is the sky blue?\"}", 200, false),
            new Call("GET", "/v1/models", null, 200, false),
            new Call("POST", "/embed", "{\"inputs\":\"Why is the sky blue?\"}", 200, false),
            new Call("POST", "/tokenize", "{\"inputs\":\"Why is the sky blue?\"}", 200, false),
            new Call("GET", "/info", null, 200, false),
            new Call("GET", "/health", null, 200, true),
            new Call("GET", "/metrics", null, 200, true),
            new Call("GET", "/embed", null, 405, false),
            new Call("POST", "/health", "{}", 405, true),
            new Call("GET", "/v1/chat/completions", null, 404, false),
            new Call("GET", "/nowhere", null, 404, false));

    static HttpResponse<String> send(Call c, String authorization) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(server, c.path())).timeout(Duration.ofSeconds(60))
                .method(c.method(), c.body() == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(c.body()));
        if (authorization != null) b.header("Authorization", authorization);
        return TestServer.send(b.build());
    }

    @Test
    void everyRouteButHealthAndMetricsNeedsTheKey() {
        for (Call c : CALLS) {
            String what = c.method() + " " + c.path();
            boolean openAi = c.path().startsWith("/v1/");
            for (String auth : new String[] {null, "Bearer wrong-key", "Bearer " + KEY + "x", "Basic " + KEY}) {
                HttpResponse<String> r = send(c, auth);
                if (c.open()) {
                    assertEquals(c.status(), r.statusCode(), what + " is open: " + r.body());
                    continue;
                }
                assertEquals(401, r.statusCode(), what + " with " + auth + ": " + r.body());
                boolean wrongKey = auth != null && auth.startsWith("Bearer ");
                String code = wrongKey ? "invalid_api_key" : "missing_api_key";
                assertEquals(wrongKey ? "Bearer realm=\"reasonir\", error=\"invalid_token\""
                        : "Bearer realm=\"reasonir\"", r.headers().firstValue("WWW-Authenticate").orElse(null), what);
                JsonNode body = TestServer.json(r);
                if (openAi) {
                    JsonNode e = body.get("error");
                    assertEquals("invalid_request_error", e.get("type").textValue(), what);
                    assertEquals(code, e.get("code").textValue(), what);
                    assertTrue(e.get("param").isNull(), what);
                    assertTrue(e.get("message").textValue().startsWith(wrongKey ? "invalid API key"
                            : "missing API key"), e.toString());
                } else {
                    assertEquals("Unauthorized", body.get("error_type").textValue(), what);
                    assertTrue(body.get("error").textValue().startsWith(wrongKey ? "invalid API key"
                            : "missing API key"), body.toString());
                }
                assertFalse(r.body().contains(KEY), "a 401 never echoes a key");
            }
            HttpResponse<String> ok = send(c, "Bearer " + KEY);
            assertEquals(c.status(), ok.statusCode(), what + " with the key: " + ok.body());
            assertNull(ok.headers().firstValue("WWW-Authenticate").orElse(null), what);
        }
    }

    @Test
    void withTheKeyTheVectorsAreTheJavaApis() {
        HttpResponse<String> r = send(CALLS.get(0), "Bearer " + KEY);
        assertSameVectors(model.embed(List.of("Why is the sky blue?"), Instructions.DOCUMENT).vectors(),
                openAiVectors(expect(200, r)));
    }

    /** The scheme is case-insensitive and spaces around the token are ignored; anything else is a 401 saying why. */
    @Test
    void headerVariants() {
        Call embed = CALLS.get(2);
        for (String ok : List.of("bearer " + KEY, "BEARER " + KEY, "Bearer   " + KEY + "  ")) {
            assertEquals(200, send(embed, ok).statusCode(), ok);
        }
        assertTrue(message(send(embed, "Bearer")).contains("no token after \"Bearer\""));
        assertTrue(message(send(embed, "Bearer  ")).contains("missing API key"));
        assertTrue(message(send(embed, "Token " + KEY)).contains("not a Bearer token"));
        assertTrue(message(send(embed, KEY)).contains("not a Bearer token"));
        assertTrue(message(send(embed, "Bearer " + KEY.substring(0, KEY.length() - 1))).startsWith("invalid API key"));
        assertTrue(message(send(embed, "Bearer " + KEY + " " + KEY)).startsWith("invalid API key"));
    }

    private static String message(HttpResponse<String> r) {
        assertEquals(401, r.statusCode(), r.body());
        return TestServer.json(r).get("error").textValue();
    }

    /**
     * A client without the key gets its 401 in place of "100 Continue", so it never sends its body, and a body over
     * the payload limit is a 401 rather than a 413 (with the key, the 413).
     */
    @Test
    void aClientWithoutTheKeyCannotMakeTheServerReadABody() throws Exception {
        assertEquals("HTTP/1.1 401 Unauthorized", statusLine("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                + "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n"));
        assertEquals("HTTP/1.1 100 Continue", statusLine("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                + "Authorization: Bearer " + KEY + "\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"));
        String big = "{\"inputs\":\"" + "x".repeat(ServerConfig.DEFAULT_PAYLOAD_LIMIT_BYTES) + "\"}";
        Call oversized = new Call("POST", "/embed", big, 413, false);
        assertEquals(401, send(oversized, null).statusCode());
        HttpResponse<String> r = send(oversized, "Bearer " + KEY);
        assertEquals(413, r.statusCode(), r.body());
    }

    /** The first line of the server's answer to {@code head}, sent on a fresh connection. */
    private static String statusLine(String head) throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
        }
    }

    @Test
    void refusalsAreCountedUnderTheirRoute() {
        send(CALLS.get(4), null);  // GET /info without the key
        HttpResponse<String> m = TestServer.get(server, "/metrics");
        assertEquals(200, m.statusCode());
        String metrics = m.body();
        assertTrue(metrics.contains("reasonir_requests_total{endpoint=\"/info\",status=\"401\"}"), metrics);
    }

    @Test
    void theKeyIsNeverInTheConfigsText() {
        assertTrue(server.config().requiresApiKey());
        assertFalse(server.config().toString().contains(KEY), server.config().toString());
        assertTrue(server.config().toString().contains("apiKey=(set)"), server.config().toString());
        assertFalse(server.exposedWithoutApiKey());
    }
}
