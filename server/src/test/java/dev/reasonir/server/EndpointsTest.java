package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.get;
import static dev.reasonir.server.TestServer.openAiVectors;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.quote;
import static dev.reasonir.server.TestServer.teiVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every endpoint's success path; every vector compared bit for bit with the Java API on the same input. */
class EndpointsTest {
    static ReasonIR model;
    static EmbeddingServer server;

    static final String SKY = "Why is the sky blue?";
    static final String RAYLEIGH = "Rayleigh scattering: shorter wavelengths scatter more strongly.";

    @BeforeAll
    static void start() throws Exception {
        model = TestServer.open();
        server = EmbeddingServer.start(model, TestServer.config().build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
    }

    @Test
    void openAiStringInputUsesTheDefaultPromptAndMatchesTheJavaApi() {
        JsonNode body = expect(200, post(server, "/v1/embeddings",
                "{\"model\":\"h256_l4\",\"input\":" + quote(SKY) + ",\"user\":\"u1\"}"));
        assertEquals("list", body.get("object").textValue());
        assertEquals("embedding", body.get("data").get(0).get("object").textValue());
        assertEquals("h256_l4", body.get("model").textValue(), "the configured name is echoed");
        assertSameVectors(model.embed(List.of(SKY), Instructions.DOCUMENT).vectors(), openAiVectors(body));
        int tokens = model.tokenize(Instructions.DOCUMENT, SKY).length();
        assertEquals(tokens, body.get("usage").get("prompt_tokens").intValue());
        assertEquals(tokens, body.get("usage").get("total_tokens").intValue());
    }

    @Test
    void openAiPromptExtensionsMatchTheJavaApi() {
        List<String> texts = List.of(SKY, RAYLEIGH, "a third text");
        String input = "\"input\":[" + quote(SKY) + "," + quote(RAYLEIGH) + ",\"a third text\"]";
        String query = Instructions.bright("biology");
        check(texts, "", "{" + input + ",\"instruction\":\"\"}");
        check(texts, "Represent this: ", "{" + input + ",\"instruction\":\"Represent this: \"}");
        check(texts, query, "{" + input + ",\"task\":\"biology\",\"role\":\"query\"}");
        check(texts, query, "{" + input + ",\"task\":\"biology\"}");
        check(texts, Instructions.DOCUMENT, "{" + input + ",\"role\":\"document\"}");
        check(texts, query, "{" + input + ",\"prompt_name\":\"query:biology\"}");
        check(texts, Instructions.bright("leetcode"), "{" + input + ",\"prompt_name\":\"query:leetcode\","
                + "\"instruction\":null}");
    }

    private static void check(List<String> texts, String instruction, String request) {
        JsonNode body = expect(200, post(server, "/v1/embeddings", request));
        assertSameVectors(model.embed(texts, instruction).vectors(), openAiVectors(body));
    }

    @Test
    void base64IsTheLittleEndianFloat32OfTheFloatResponse() {
        String input = "\"input\":[" + quote(SKY) + "," + quote(RAYLEIGH) + "]";
        JsonNode floats = expect(200, post(server, "/v1/embeddings", "{" + input + ",\"encoding_format\":\"float\"}"));
        JsonNode b64 = expect(200, post(server, "/v1/embeddings", "{" + input + ",\"encoding_format\":\"base64\"}"));
        assertTrue(b64.get("data").get(0).get("embedding").isTextual());
        assertTrue(floats.get("data").get(0).get("embedding").isArray());
        assertSameVectors(openAiVectors(floats), openAiVectors(b64));
        assertEquals(model.dimension(), openAiVectors(b64)[0].length);
    }

    @Test
    void tokenArraysAreUsedAsGivenAndPooledFromZero() {
        int[] a = model.tokenize("", SKY).ids();
        int[] b = {128000, 9906, 1917, 13};
        var expected = model.embedTokens(List.of(TokenizedInput.of(a, 0), TokenizedInput.of(b, 0))).vectors();
        JsonNode single = expect(200, post(server, "/v1/embeddings", "{\"input\":" + Arrays.toString(b) + "}"));
        assertSameVectors(new float[][] {expected[1]}, openAiVectors(single));
        assertEquals(b.length, single.get("usage").get("prompt_tokens").intValue());
        JsonNode batch = expect(200, post(server, "/v1/embeddings",
                "{\"input\":[" + Arrays.toString(a) + "," + Arrays.toString(b) + "]}"));
        assertSameVectors(expected, openAiVectors(batch));
        // The same ids through TEI's /embed.
        assertSameVectors(expected, teiVectors(expect(200, post(server, "/embed",
                "{\"inputs\":[" + Arrays.toString(a) + "," + Arrays.toString(b) + "]}"))));
    }

    @Test
    void teiEmbedMatchesTheJavaApi() {
        assertSameVectors(model.embed(List.of(SKY), Instructions.DOCUMENT).vectors(),
                teiVectors(expect(200, post(server, "/embed", "{\"inputs\":" + quote(SKY) + "}"))));
        assertSameVectors(model.embed(List.of(SKY, RAYLEIGH), Instructions.bright("pony")).vectors(),
                teiVectors(expect(200, post(server, "/embed", "{\"inputs\":[" + quote(SKY) + "," + quote(RAYLEIGH)
                        + "],\"prompt_name\":\"query:pony\",\"normalize\":true,\"truncate\":false}"))));
    }

    @Test
    void teiEmbedUnnormalizedIsThePooledMean() {
        TokenizedInput t = model.tokenize(Instructions.DOCUMENT, SKY);
        float[][] expected = model.embedTokens(List.of(t), false).vectors();
        float[][] got = teiVectors(expect(200, post(server, "/embed",
                "{\"inputs\":[" + quote(SKY) + "],\"normalize\":false}")));
        assertSameVectors(expected, got);
        double norm = 0;
        for (float x : got[0]) norm += x * x;
        assertTrue(Math.abs(Math.sqrt(norm) - 1) > 1e-3, "unnormalized row has norm " + Math.sqrt(norm));
    }

    @Test
    void teiTruncateKeepsTheFirstTokensAsTheJavaApiDoes() {
        String longText = "word ".repeat(700);
        float[][] expected = model.embed(List.of(longText), Instructions.DOCUMENT).vectors();  // truncated to 512
        assertEquals(1, model.embed(List.of(longText), Instructions.DOCUMENT).truncations().size());
        assertSameVectors(expected, teiVectors(expect(200, post(server, "/embed",
                "{\"inputs\":" + quote(longText) + ",\"truncate\":true,\"truncation_direction\":\"Right\"}"))));
    }

    @Test
    void tokenizeReturnsTeiTokensWithByteOffsets() {
        String text = "Héllo wörld \uD83D\uDE00 ok";  // 2- and 4-byte UTF-8, a surrogate pair in Java
        JsonNode body = expect(200, post(server, "/tokenize", "{\"inputs\":" + quote(text) + "}"));
        JsonNode tokens = body.get(0);
        String full = Instructions.DOCUMENT + text;
        int[] ids = model.tokenize(Instructions.DOCUMENT, text).ids();
        assertEquals(ids.length, tokens.size());
        byte[] utf8 = full.getBytes(StandardCharsets.UTF_8);
        StringBuilder rebuilt = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = tokens.get(i);
            assertEquals(ids[i], t.get("id").intValue());
            if (i == 0) {
                assertTrue(t.get("special").booleanValue(), "BOS is special");
                assertEquals("<|begin_of_text|>", t.get("text").textValue());
                assertTrue(t.get("start").isNull());
                continue;
            }
            assertFalse(t.get("special").booleanValue(), t.toString());
            int start = t.get("start").intValue();
            int stop = t.get("stop").intValue();
            assertEquals(new String(utf8, start, stop - start, StandardCharsets.UTF_8), t.get("text").textValue());
            rebuilt.append(t.get("text").textValue());
        }
        assertEquals(full, rebuilt.toString());

        JsonNode plain = expect(200, post(server, "/tokenize",
                "{\"inputs\":[\"a b\",\"c\"],\"add_special_tokens\":false,\"prompt_name\":\"query:biology\"}"));
        assertEquals(2, plain.size());
        int[] noBos = model.tokenize("", Instructions.bright("biology") + "a b").ids();
        assertEquals(noBos.length - 1, plain.get(0).size(), "no BOS");
        assertEquals(noBos[1], plain.get(0).get(0).get("id").intValue());
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        // The slow one (an embedding) first, the fast one (/info) second: /info must still come second.
        String body = "{\"inputs\":\"pipelined\"}";
        String two = "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\n\r\n" + body
                + "GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write(two.getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int first = all.indexOf("HTTP/1.1 200");
            int second = all.indexOf("HTTP/1.1 200", first + 1);
            assertTrue(first == 0 && second > 0, all);
            assertTrue(all.substring(0, second).contains("[["), "the embedding comes first: " + all);
            assertTrue(all.substring(second).contains("\"model_id\""), all);
        }
    }

    @Test
    void healthInfoModelsAndMetrics() {
        var health = get(server, "/health");
        assertEquals(200, health.statusCode());
        assertEquals("application/json", health.headers().firstValue("content-type").orElse(""));
        assertEquals("{\"status\":\"ok\"}", health.body());
        JsonNode info = expect(200, get(server, "/info"));
        assertEquals("h256_l4", info.get("model_id").textValue());
        assertEquals("float32", info.get("model_dtype").textValue());
        assertEquals(512, info.get("max_concurrent_requests").intValue());
        assertEquals(512, info.get("max_input_length").intValue());
        assertEquals(16384, info.get("max_batch_tokens").intValue());
        assertEquals(128, info.get("max_client_batch_size").intValue());
        assertEquals(256, info.get("dimension").intValue());
        assertTrue(info.get("device").textValue().startsWith("cpu"), info.toString());
        assertFalse(info.get("version").textValue().isEmpty());
        assertEquals("h256_l4", expect(200, get(server, "/v1/models")).get("data").get(0).get("id").textValue());

        expect(200, post(server, "/embed", "{\"inputs\":\"metrics please\"}"));
        var metrics = get(server, "/metrics");
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.headers().firstValue("content-type").orElse("").startsWith("text/plain; version=0.0.4"));
        String text = metrics.body();
        for (String series : List.of("reasonir_requests_total{endpoint=\"/embed\",status=\"200\"} ",
                "reasonir_request_duration_seconds_bucket{endpoint=\"/embed\",le=\"+Inf\"} ",
                "reasonir_batch_inputs_bucket{le=\"1\"} ", "reasonir_batch_tokens_count ",
                "reasonir_tokens_embedded_total ", "reasonir_queue_depth 0", "reasonir_requests_in_flight ",
                "# TYPE reasonir_request_duration_seconds histogram")) {
            assertTrue(text.contains(series), "missing " + series + " in\n" + text);
        }
        long tokens = Long.parseLong(text.lines().filter(l -> l.startsWith("reasonir_tokens_embedded_total "))
                .findFirst().orElseThrow().split(" ")[1]);
        assertTrue(tokens > 0);
    }
}
