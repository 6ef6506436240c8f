package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.get;
import static dev.reasonir.server.TestServer.json;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.quote;
import static dev.reasonir.server.TestServer.uri;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 400, 413 and 422 in both dialects, 404/405, and a corpus of malformed bodies that must never produce a 500. (424,
 * 429 and 503 need their own servers: {@link OverloadAndFailureTest}, {@link ShutdownTest}.)
 */
class ErrorsTest {
    static ReasonIR model;
    static EmbeddingServer server;

    @BeforeAll
    static void start() throws Exception {
        model = TestServer.open();
        server = EmbeddingServer.start(model, TestServer.config().payloadLimitBytes(64 * 1024)
                .maxClientBatchSize(4).build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
    }

    /** Asserts an OpenAI error body and returns its {@code error} object. */
    static JsonNode openAiError(int status, HttpResponse<String> r) {
        JsonNode e = expect(status, r).get("error");
        assertTrue(e != null && e.isObject(), r.body());
        assertTrue(e.get("message").textValue().length() > 10, r.body());
        assertTrue(e.has("type") && e.has("param") && e.has("code"), r.body());
        return e;
    }

    /** Asserts a TEI error body of the given type and returns its message. */
    static String teiError(int status, String type, HttpResponse<String> r) {
        JsonNode body = expect(status, r);
        assertEquals(type, body.get("error_type").textValue(), r.body());
        return body.get("error").textValue();
    }

    @Test
    void emptyInputIs400InBothDialects() {
        assertEquals("empty_input", openAiError(400, post(server, "/v1/embeddings", "{\"input\":[]}"))
                .get("code").textValue());
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"\"}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":[[]]}"));
        assertTrue(teiError(400, "Empty", post(server, "/embed", "{\"inputs\":[]}")).contains("cannot be empty"));
        teiError(400, "Empty", post(server, "/embed", "{\"inputs\":[\"a\",\"\"]}"));
        teiError(400, "Empty", post(server, "/tokenize", "{\"inputs\":[]}"));
    }

    @Test
    void badJsonIs400OnOpenAiAnd422OnTei() {
        JsonNode e = openAiError(400, post(server, "/v1/embeddings", "{\"input\": [\"a\""));
        assertEquals("invalid_json", e.get("code").textValue());
        assertEquals("invalid_request_error", e.get("type").textValue());
        assertTrue(teiError(422, "Validation", post(server, "/embed", "{inputs: 1}")).contains("not valid JSON"));
        teiError(422, "Validation", post(server, "/tokenize", "[\"a\"]"));
        openAiError(400, post(server, "/v1/embeddings", ""));
    }

    @Test
    void unsupportedAndConflictingParametersAre400() {
        JsonNode dims = openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"dimensions\":128}"));
        assertEquals("dimensions", dims.get("param").textValue());
        assertTrue(dims.get("message").textValue().contains("Matryoshka"), dims.toString());
        JsonNode conflict = openAiError(400, post(server, "/v1/embeddings",
                "{\"input\":\"a\",\"instruction\":\"x\",\"prompt_name\":\"document\"}"));
        assertTrue(conflict.get("message").textValue().contains("`instruction` and `prompt_name`"), conflict.toString());
        JsonNode conflict2 = openAiError(400, post(server, "/v1/embeddings",
                "{\"input\":\"a\",\"instruction\":\"x\",\"task\":\"biology\"}"));
        assertTrue(conflict2.get("message").textValue().contains("`instruction` and `task`"), conflict2.toString());
        assertTrue(openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"task\":\"chemistry\"}"))
                .get("message").textValue().contains("biology"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"role\":\"query\"}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"role\":\"passage\"}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"prompt_name\":\"nope\"}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"encoding_format\":\"int8\"}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":\"a\",\"model\":42}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":[1.5]}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"input\":{\"text\":\"a\"}}"));
        openAiError(400, post(server, "/v1/embeddings", "{\"inputs\":\"a\"}"));
        assertTrue(teiError(422, "Validation", post(server, "/embed",
                "{\"inputs\":\"a\",\"truncation_direction\":\"Left\"}")).contains("Right"));
        teiError(422, "Validation", post(server, "/embed", "{\"inputs\":\"a\",\"normalize\":\"yes\"}"));
        assertTrue(teiError(422, "Validation", post(server, "/embed", "{\"inputs\":\"a\",\"dimensions\":64}"))
                .contains("Matryoshka"));
        teiError(422, "Validation", post(server, "/embed", "{\"inputs\":\"a\",\"prompt_name\":\"nope\"}"));
    }

    @Test
    void tooLongTooManyAndOutsideTheVocabularyAre422() {
        String longText = quote("word ".repeat(700));
        // Refused only when asked: the server's default is to truncate (ServerConfig.autoTruncate).
        JsonNode tooLong = openAiError(422, post(server, "/v1/embeddings", "{\"input\":" + longText
                + ",\"truncate\":false}"));
        assertEquals("input_too_long", tooLong.get("code").textValue());
        assertTrue(tooLong.get("message").textValue().contains("must have less than 512 tokens"), tooLong.toString());
        assertTrue(teiError(422, "Validation", post(server, "/embed", "{\"inputs\":[\"ok\"," + longText
                + "],\"truncate\":false}"))
                .startsWith("Input validation error: input 1: `inputs` must have less than 512 tokens. Given: "));
        assertTrue(teiError(422, "Validation", post(server, "/embed", "{\"inputs\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"))
                .contains("batch size 5 > maximum allowed batch size 4"));
        openAiError(422, post(server, "/v1/embeddings", "{\"input\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"));
        JsonNode vocab = openAiError(422, post(server, "/v1/embeddings", "{\"input\":[128000, 999999]}"));
        assertTrue(vocab.get("message").textValue().contains("outside the vocabulary [0, 128256)"), vocab.toString());
        teiError(422, "Validation", post(server, "/embed", "{\"inputs\":[[-1]]}"));
    }

    @Test
    void payloadOverTheLimitIs413WithAJsonBody() throws Exception {
        String big = "{\"input\":" + quote("x ".repeat(40_000)) + "}";  // 80 KB > 64 KiB
        JsonNode e = openAiError(413, post(server, "/v1/embeddings", big));
        assertEquals("payload_too_large", e.get("code").textValue());
        teiError(413, "Validation", post(server, "/embed", big.replace("\"input\"", "\"inputs\"")));
        // The connection stays usable (the rest of the body was discarded) and the server is fine.
        expect(200, post(server, "/embed", "{\"inputs\":\"still fine\"}"));
        // Expect: 100-continue (as curl sends for bodies over 1 KiB): the JSON 413 instead of "100 Continue".
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write(("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            s.shutdownOutput();
            String answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 413") && answer.contains("\"payload_too_large\""), answer);
        }
    }

    @Test
    void unknownRoutesAndMethods() {
        assertEquals(404, get(server, "/v2/embeddings").statusCode());
        openAiError(404, get(server, "/v1/chat/completions"));
        assertEquals(405, get(server, "/embed").statusCode());
        var r = TestServer.send(HttpRequest.newBuilder(uri(server, "/health"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());
        assertEquals(405, r.statusCode());
    }

    @Test
    void malformedBodiesNeverGive500() {
        List<String> bodies = new ArrayList<>(List.of("", " ", "null", "true", "42", "\"input\"", "[]", "{", "}",
                "{\"input\":", "{\"input\":null}", "{\"input\":true}", "{\"input\":[null]}", "{\"input\":[true]}",
                "{\"input\":[[\"a\"]]}", "{\"input\":[1,\"a\"]}", "{\"input\":[[1],\"a\",[2.5]]}",
                "{\"input\":[1e400]}", "{\"input\":[99999999999999999999]}", "{\"input\":[NaN]}",
                "{\"input\":\"a\",\"encoding_format\":null,\"dimensions\":null,\"user\":{}}",
                "{\"input\":\"a\",\"instruction\":7}", "{\"input\":\"a\",\"task\":[],\"role\":\"query\"}",
                "{\"input\":\"a\"}garbage", "{\"input\":\"\\ud800\"}", "{\"input\":\"a\",\"input\":[]}",
                "{\"input\":\"a\",\"normalize\":null,\"truncate\":1,\"add_special_tokens\":\"no\"}",
                "\u0000\u0001\u0002", "{\"input\":\"" + "\\u".repeat(3) + "\"}"));
        bodies.add("[".repeat(100_000));
        bodies.add("{\"input\":" + "[".repeat(5000) + "]".repeat(5000) + "}");
        Random rnd = new Random(7);
        String seed = "{\"input\":[\"a b\",[1,2,3]],\"inputs\":\"c\",\"prompt_name\":\"document\",\"truncate\":true}";
        for (int i = 0; i < 150; i++) {  // random mutations of a valid body: deletions, duplications, replacements
            StringBuilder sb = new StringBuilder(seed);
            for (int k = 0; k < 1 + rnd.nextInt(4); k++) {
                int at = rnd.nextInt(sb.length());
                switch (rnd.nextInt(3)) {
                    case 0 -> sb.deleteCharAt(at);
                    case 1 -> sb.insert(at, sb.charAt(rnd.nextInt(sb.length())));
                    default -> sb.setCharAt(at, MUTATIONS.charAt(rnd.nextInt(MUTATIONS.length())));
                }
            }
            bodies.add(sb.toString());
        }
        for (String path : List.of("/v1/embeddings", "/embed", "/tokenize")) {
            for (String body : bodies) {
                HttpResponse<String> r = post(server, path, body.replace("\"input\"",
                        path.equals("/v1/embeddings") ? "\"input\"" : "\"inputs\""));
                assertNotEquals(500, r.statusCode(), () -> path + " " + abbreviate(body) + " -> " + r.body());
                if (r.statusCode() != 200) {
                    JsonNode err = json(r).get("error");
                    assertTrue(err != null && (path.startsWith("/v1") ? err.isObject() : err.isTextual()),
                            () -> path + " " + abbreviate(body) + " -> " + r.body());
                }
            }
        }
        expect(200, get(server, "/health"));
    }

    private static final String MUTATIONS = "{}[]\",:0-e.\\ n";

    private static String abbreviate(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }
}
