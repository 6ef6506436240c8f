package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.openAiVectors;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.teiVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 18 item 9 on the server: the default prompt is the one of every surface, the model name chooses the prompt
 * for plain OpenAI clients (listed in /v1/models, unknown names refused), and one truncation policy (truncate by
 * default, reported in a header; "truncate": false or autoTruncate(false) refuse).
 */
class DefaultPromptAndTruncationTest {
    static final String SKY = "Why is the sky blue?";
    static final String LONG = "word ".repeat(300);
    static ReasonIR model;
    static EmbeddingServer server;
    static String name;

    @BeforeAll
    static void start() throws Exception {
        model = TestServer.open();
        server = EmbeddingServer.start(model, TestServer.config().maxInputLength(64)
                .modelAlias("bio-queries", "query:biology").build());
        name = server.config().modelName();
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    private static HttpResponse<String> embeddings(String extra) {
        return post(server, "/v1/embeddings", "{\"input\": [\"" + SKY + "\"]" + extra + "}");
    }

    @Test
    void theDefaultPromptIsTheJavaApisPlainEmbed() {
        float[][] expected = model.embed(List.of(SKY)).vectors();
        assertSameVectors(model.embed(List.of(SKY), Instructions.DOCUMENT).vectors(), expected);
        assertSameVectors(expected, openAiVectors(expect(200, embeddings(""))));
        assertSameVectors(expected, openAiVectors(expect(200, embeddings(", \"model\": \"" + name + "\""))));
        assertSameVectors(expected, teiVectors(expect(200, post(server, "/embed", "{\"inputs\": \"" + SKY + "\"}"))));
        JsonNode info = expect(200, TestServer.get(server, "/info"));
        assertEquals("document", info.get("default_prompt_name").textValue());
        assertEquals(Instructions.DEFAULT_PROMPT, info.get("default_prompt").textValue());
        assertTrue(info.get("auto_truncate").booleanValue());
    }

    @Test
    void theModelNameChoosesThePromptAndModelsListsEveryName() {
        JsonNode models = expect(200, TestServer.get(server, "/v1/models"));
        List<String> ids = new ArrayList<>();
        models.get("data").forEach(m -> ids.add(m.get("id").textValue()));
        assertEquals(name, ids.get(0), "the plain name first: clients that take the first entry get the default");
        assertEquals("document", models.get("data").get(0).get("prompt").textValue());
        assertTrue(ids.contains(name + ":document"), ids.toString());
        assertTrue(ids.contains(name + ":query:biology"), ids.toString());
        assertEquals("bio-queries", ids.get(ids.size() - 1));
        assertEquals(2 + Instructions.BRIGHT_TASKS.size() + 1, ids.size());

        float[][] bio = model.embed(List.of(SKY), Instructions.bright("biology")).vectors();
        JsonNode r = expect(200, embeddings(", \"model\": \"" + name + ":query:biology\""));
        assertEquals(name, r.get("model").textValue());
        assertSameVectors(bio, openAiVectors(r));
        assertSameVectors(bio, openAiVectors(expect(200, embeddings(", \"model\": \"bio-queries\""))));
        assertSameVectors(model.embed(List.of(SKY), Instructions.DOCUMENT).vectors(),
                openAiVectors(expect(200, embeddings(", \"model\": \"" + name + ":document\""))));
    }

    @Test
    void anUnknownModelNameIsA404NamingIt() {
        JsonNode e = expect(404, embeddings(", \"model\": \"text-embedding-3-small\"")).get("error");
        assertEquals("model_not_found", e.get("code").textValue());
        assertEquals("model", e.get("param").textValue());
        assertTrue(e.get("message").textValue().contains("\"text-embedding-3-small\""), e.toString());
        assertTrue(e.get("message").textValue().contains(name + ":query:biology"), e.toString());
        JsonNode conflict = expect(400, embeddings(", \"model\": \"bio-queries\", \"instruction\": \"x\""))
                .get("error");
        assertEquals("conflicting_prompt", conflict.get("code").textValue());
        assertTrue(conflict.get("message").textValue().contains("bio-queries"), conflict.toString());
    }

    @Test
    void longInputsAreTruncatedAndReportedUnlessTheRequestRefuses() throws Exception {
        float[][] expected;
        try (ReasonIR short64 = ReasonIR.open(TestServer.modelDir(), Options.defaults().withDevice("cpu")
                .withMaxLength(64))) {
            expected = short64.embed(List.of(LONG, SKY)).vectors();
        }
        HttpResponse<String> r = post(server, "/v1/embeddings", "{\"input\": [\"" + LONG + "\", \"" + SKY + "\"]}");
        assertSameVectors(expected, openAiVectors(expect(200, r)));
        assertEquals("1", r.headers().firstValue(ServerConfig.TRUNCATED_HEADER).orElseThrow());
        HttpResponse<String> tei = post(server, "/embed", "{\"inputs\": [\"" + LONG + "\", \"" + SKY + "\"]}");
        assertSameVectors(expected, teiVectors(expect(200, tei)));
        assertEquals("1", tei.headers().firstValue(ServerConfig.TRUNCATED_HEADER).orElseThrow());
        assertEquals("0", embeddings("").headers().firstValue(ServerConfig.TRUNCATED_HEADER).orElseThrow());

        JsonNode e = expect(422, post(server, "/v1/embeddings", "{\"input\": \"" + LONG + "\", \"truncate\": false}"))
                .get("error");
        assertEquals("input_too_long", e.get("code").textValue());
        assertTrue(e.get("message").textValue().contains("less than 64 tokens"), e.toString());
        assertTrue(e.get("message").textValue().contains("\"truncate\": true"), e.toString());
    }

    @Test
    void autoTruncateFalseRefusesUnlessTheRequestAsks() throws Exception {
        try (EmbeddingServer strict = EmbeddingServer.start(model, TestServer.config().maxInputLength(64)
                .autoTruncate(false).build())) {
            assertFalse(expect(200, TestServer.get(strict, "/info")).get("auto_truncate").booleanValue());
            expect(422, post(strict, "/v1/embeddings", "{\"input\": \"" + LONG + "\"}"));
            expect(422, post(strict, "/embed", "{\"inputs\": \"" + LONG + "\"}"));
            HttpResponse<String> r = post(strict, "/v1/embeddings",
                    "{\"input\": \"" + LONG + "\", \"truncate\": true}");
            expect(200, r);
            assertEquals("1", r.headers().firstValue(ServerConfig.TRUNCATED_HEADER).orElseThrow());
        }
    }
}
