package dev.reasonir.springai;

import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestKit;
import dev.reasonir.server.EmbeddingServer;
import org.junit.jupiter.api.Test;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.TokenCountBatchingStrategy;

import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Client mode against the real reasonir-server on loopback: the Java API's vectors, bit for bit; against one that
 * requires an API key, with the key and without.
 */
class RealServerTest {
    static final String KEY = "sk-spring-ai-test-3b2a1908";
    @TestKit.Model(maxLength = 64) static ReasonIR model;  // a test text can be longer than it
    @TestKit.Server static EmbeddingServer server;
    @TestKit.Server(apiKey = KEY) static EmbeddingServer guarded;

    @Test
    void aServerWithAnApiKeyServesTheModelThatSendsIt() {
        String url = "http://127.0.0.1:" + guarded.port();
        ReasonIRSpringEmbeddingModel remote = ReasonIRSpringEmbeddingModel.builder().baseUrl(url).apiKey(KEY)
                .brightTask("biology").build();
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                remote.embed(DOCUMENTS.stream().map(Document::new).toList(), null, new TokenCountBatchingStrategy()));
        EmbeddingResponse q = remote.call(new EmbeddingRequest(QUERIES, null));
        assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(),
                q.getResults().stream().map(Embedding::getOutput).toList());
        assertEquals("model", q.getMetadata().getModel());

        ReasonIRSpringEmbeddingModel none = ReasonIRSpringEmbeddingModel.builder().baseUrl(url).build();
        ReasonIRAuthenticationException e = assertThrows(ReasonIRAuthenticationException.class,
                () -> none.embed("x"));
        assertEquals(401, e.statusCode());
        assertTrue(e.getMessage().contains("it requires an API key and none is set"), e.getMessage());
        ReasonIRSpringEmbeddingModel wrong = ReasonIRSpringEmbeddingModel.builder().baseUrl(url).apiKey("sk-no")
                .build();
        e = assertThrows(ReasonIRAuthenticationException.class, () -> wrong.embed(new Document("x")));
        assertTrue(e.getMessage().contains("refused the API key that was sent"), e.getMessage());
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

    /**
     * One behaviour in process and through the server: a text over the max length is truncated (the same vectors as
     * the Java API's) and counted in the metadata under reasonir.truncated; overflow(FAIL) refuses it; the model name
     * is the one the server serves (its folder, "model"), asked from it, not a built-in default.
     */
    @Test
    void truncationCountAndModelNameAreTheSameInProcessAndThroughTheServer() {
        String longText = "word ".repeat(200);
        List<String> texts = List.of(QUERIES.get(0), longText, DOCUMENTS.get(0));
        ReasonIRSpringEmbeddingModel remote = ReasonIRSpringEmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).build();
        ReasonIRSpringEmbeddingModel local = ReasonIRSpringEmbeddingModel.builder().model(model).build();
        for (ReasonIRSpringEmbeddingModel m : List.of(local, remote)) {
            assertEquals("model", m.modelName(), m.toString());
            EmbeddingResponse queries = m.call(new EmbeddingRequest(texts, null));
            String defaultQuery = Instructions.query(ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK);
            assertSameVectors(model.embed(texts, defaultQuery).vectors(),
                    queries.getResults().stream().map(Embedding::getOutput).toList());
            assertEquals(1, (Integer) queries.getMetadata().get(ReasonIRSpringEmbeddingModel.TRUNCATED_METADATA_KEY));
            assertEquals("model", queries.getMetadata().getModel());
            EmbeddingResponse docs = m.call(new EmbeddingRequest(texts, ReasonIREmbeddingOptions.documents()));
            assertSameVectors(model.embed(texts).vectors(),  // documents: the default prompt of the Java API
                    docs.getResults().stream().map(Embedding::getOutput).toList());
            assertEquals(1, (Integer) docs.getMetadata().get(ReasonIRSpringEmbeddingModel.TRUNCATED_METADATA_KEY));
            EmbeddingResponse shortOnes = m.call(new EmbeddingRequest(QUERIES, null));
            assertEquals(0, (Integer) shortOnes.getMetadata()
                    .get(ReasonIRSpringEmbeddingModel.TRUNCATED_METADATA_KEY));
            // a request that names another model is refused, naming the served one
            IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> m.call(
                    new EmbeddingRequest(QUERIES, ReasonIREmbeddingOptions.builder().model("ReasonIR-8B").build())));
            assertTrue(other.getMessage().contains("serves 'model'"), other.getMessage());
        }

        ReasonIRSpringEmbeddingModel strictRemote = ReasonIRSpringEmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + server.port()).overflow(Options.Overflow.FAIL).build();
        ReasonIRServerException e = assertThrows(ReasonIRServerException.class,
                () -> strictRemote.embed(new Document(longText)));
        assertEquals(422, e.statusCode(), e.getMessage());
        assertTrue(e.getMessage().contains("must have less than 64 tokens"), e.getMessage());
        ReasonIRSpringEmbeddingModel strictLocal = ReasonIRSpringEmbeddingModel.builder().model(model)
                .overflow(Options.Overflow.FAIL).build();
        InvalidInputException local2 = assertThrows(InvalidInputException.class,
                () -> strictLocal.embed(new Document(longText)));
        assertTrue(local2.getMessage().contains("more than maxLength 64"), local2.getMessage());
    }
}
