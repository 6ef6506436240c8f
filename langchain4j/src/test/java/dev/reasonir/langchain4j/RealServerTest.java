package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.model.output.Response;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.ReasonIRClientException;
import dev.reasonir.client.TestKit;
import dev.reasonir.server.EmbeddingServer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.langchain4j.EmbeddingAssertions.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server backend against the real reasonir-server on loopback: the Java API's vectors, bit for bit; against one
 * that requires an API key, with the key and without.
 */
class RealServerTest {
    static final String KEY = "sk-langchain4j-test-7c6b5a49";
    @TestKit.Model(maxLength = 64) static ReasonIR model;  // a test text can be longer than it
    @TestKit.Server static EmbeddingServer server;
    @TestKit.Server(apiKey = KEY) static EmbeddingServer guarded;

    /**
     * End to end with the key: the same vectors and model name as without authentication. Without the key, or with a
     * wrong one, LangChain4j's AuthenticationException saying which.
     */
    @Test
    void aServerWithAnApiKeyServesTheAdapterThatSendsIt() {
        String url = "http://127.0.0.1:" + guarded.port();
        try (ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.builder().baseUrl(url).apiKey(KEY).build()) {
            ReasonIREmbeddingModel queries = documents.withInstruction(Instructions.bright("biology"));
            assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                    documents.embedAll(DOCUMENTS.stream().map(TextSegment::from).toList()).content());
            assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(),
                    queries.embedAll(QUERIES.stream().map(TextSegment::from).toList()).content());
            assertEquals("model", documents.modelName());
        }
        try (ReasonIREmbeddingModel none = ReasonIREmbeddingModel.builder().baseUrl(url).build();
             ReasonIREmbeddingModel wrong = ReasonIREmbeddingModel.builder().baseUrl(url).apiKey("sk-not-it")
                     .build()) {
            AuthenticationException e = assertThrows(AuthenticationException.class, () -> none.embed("x"));
            assertTrue(e.getMessage().contains("answered HTTP 401: it requires an API key and none is set"),
                    e.getMessage());
            assertTrue(e.getCause() instanceof ReasonIRClientException c && c.statusCode() == 401, e.toString());
            e = assertThrows(AuthenticationException.class, () -> wrong.embed("x"));
            assertTrue(e.getMessage().contains("refused the API key that was sent"), e.getMessage());
            assertTrue(!e.getMessage().contains("sk-not-it"), e.getMessage());
        }
    }

    @Test
    void documentsAndQueriesThroughTheServerEqualTheJavaApi() {
        try (ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).build()) {
            ReasonIREmbeddingModel queries = documents.withInstruction(Instructions.bright("biology"));
            Response<List<Embedding>> d = documents.embedAll(DOCUMENTS.stream().map(TextSegment::from).toList());
            EmbeddingResult expectedD = model.embed(DOCUMENTS, Instructions.DOCUMENT);
            assertSameVectors(expectedD.vectors(), d.content());
            assertEquals(Math.toIntExact(expectedD.totalTokens()), d.tokenUsage().inputTokenCount());
            Response<List<Embedding>> q = queries.embedAll(QUERIES.stream().map(TextSegment::from).toList());
            assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(), q.content());
            assertEquals(model.dimension(), documents.dimension());
        }
    }

    /**
     * One behaviour on both backends: the default prompt (the Java API's plain embed), truncation of a text over the
     * max length (64 here) by default, refusal with overflow(FAIL), and the model name the server serves.
     */
    @Test
    void defaultPromptTruncationAndModelNameAreTheSameInProcessAndThroughTheServer() {
        String longText = "word ".repeat(200);
        float[][] expected = model.embed(List.of(QUERIES.get(0), longText)).vectors();
        try (ReasonIREmbeddingModel remote = ReasonIREmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).build()) {
            ReasonIREmbeddingModel local = ReasonIREmbeddingModel.forDocuments(model);
            for (ReasonIREmbeddingModel m : List.of(local, remote)) {
                assertSameVectors(expected, List.of(m.embed(QUERIES.get(0)).content(), m.embed(longText).content()));
            }
            assertEquals("model", remote.modelName(), "the server's name (its folder), not a default");
            assertEquals(local.modelName(), remote.modelName());
        }
        try (ReasonIREmbeddingModel strict = ReasonIREmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).overflow(Options.Overflow.FAIL).build()) {
            HttpException e = assertThrows(HttpException.class, () -> strict.embed(longText));
            assertEquals(422, e.statusCode(), e.getMessage());
            assertTrue(e.getMessage().contains("must have less than 64 tokens"), e.getMessage());
        }
        try (ReasonIREmbeddingModel strict = ReasonIREmbeddingModel.builder().model(model)
                .overflow(Options.Overflow.FAIL).build()) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> strict.embed(longText));
            assertTrue(e.getMessage().contains("more than maxLength 64"), e.getMessage());
        }
    }
}
