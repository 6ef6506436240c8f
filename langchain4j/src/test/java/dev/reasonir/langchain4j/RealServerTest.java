package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.model.output.Response;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestSupport;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.langchain4j.EmbeddingAssertions.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server backend against the real reasonir-server on loopback: the Java API's vectors, bit for bit. */
class RealServerTest {
    @TempDir
    static Path tmp;
    static ReasonIR model;
    static EmbeddingServer server;

    @BeforeAll
    static void start() throws Exception {
        model = ReasonIR.open(TestSupport.modelDir(tmp, "model"), CPU.withMaxLength(64));
        server = EmbeddingServer.start(model, ServerConfig.builder().port(0).build());
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
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

    @Test
    void theServersRefusalReachesTheCaller() {
        try (ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).build()) {
            // longer than the server's max input length (64 tokens): a validation error, named
            HttpException e = assertThrows(HttpException.class, () -> documents.embed("word ".repeat(200)));
            assertEquals(422, e.statusCode(), e.getMessage());
            assertTrue(e.getMessage().contains("HTTP 422"), e.getMessage());
        }
    }
}
