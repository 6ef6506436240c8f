package dev.reasonir.springai;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestSupport;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.TokenCountBatchingStrategy;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Client mode against the real reasonir-server on loopback: the Java API's vectors, bit for bit. */
class RealServerTest {
    @TempDir
    static Path tmp;
    static ReasonIR model;
    static EmbeddingServer server;

    @BeforeAll
    static void start() throws Exception {
        model = ReasonIR.open(TestSupport.modelDir(tmp, "model"), CPU);
        server = EmbeddingServer.start(model, ServerConfig.builder().port(0).build());
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    @Test
    void documentsAndPerRequestQueriesEqualTheJavaApi() {
        ReasonIRSpringEmbeddingModel remote = ReasonIRSpringEmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).brightTask("biology").build();
        List<Document> docs = DOCUMENTS.stream().map(Document::new).toList();
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                remote.embed(docs, null, new TokenCountBatchingStrategy()));
        EmbeddingResponse q = remote.call(new EmbeddingRequest(QUERIES, null));
        assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(),
                q.getResults().stream().map(Embedding::getOutput).toList());
        EmbeddingResponse leet = remote.call(new EmbeddingRequest(QUERIES,
                ReasonIREmbeddingOptions.builder().brightTask("leetcode").build()));
        assertSameVectors(model.embed(QUERIES, Instructions.bright("leetcode")).vectors(),
                leet.getResults().stream().map(Embedding::getOutput).toList());
        assertEquals(model.dimension(), remote.dimensions());
    }
}
