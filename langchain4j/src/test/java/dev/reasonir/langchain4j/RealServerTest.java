package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.model.output.Response;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
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

/** The server backend against the real reasonir-server on loopback: the Java API's vectors, bit for bit. */
class RealServerTest {
    @TestKit.Model(maxLength = 64) static ReasonIR model;  // a test text can be longer than it
    @TestKit.Server static EmbeddingServer server;

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
