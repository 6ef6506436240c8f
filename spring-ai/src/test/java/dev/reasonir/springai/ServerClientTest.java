package dev.reasonir.springai;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.StubReasonIRServer;
import dev.reasonir.client.TestKit;
import dev.reasonir.client.TestSupport;
import org.junit.jupiter.api.Test;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.TokenCountBatchingStrategy;

import java.time.Duration;
import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server backend against {@link StubReasonIRServer}, which answers with vectors from the Java API: the client
 * must send exactly the documented request and hand back the server's floats unchanged. {@link RealServerTest} runs
 * client mode against the real reasonir-server.
 */
class ServerClientTest {
    static final String DEFAULT_QUERY = Instructions.query(ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK);
    @TestKit.Model static ReasonIR model;
    @TestKit.Stub static StubReasonIRServer stub;

    static ReasonIRSpringEmbeddingModel.Builder client() {
        return ReasonIRSpringEmbeddingModel.builder().baseUrl(stub.reset().baseUrl());
    }

    @Test
    void queriesAndDocumentsEqualTheJavaApiAndTheRequestIsExactlyTheDocumentedOne() {
        ReasonIRSpringEmbeddingModel remote = client().build();
        EmbeddingResponse r = remote.call(new EmbeddingRequest(List.of("a leaf"), null));
        EmbeddingResult expected = model.embed(List.of("a leaf"), DEFAULT_QUERY);
        assertSameVectors(expected.vectors(), r.getResults().stream().map(Embedding::getOutput).toList());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.getMetadata().getUsage().getPromptTokens());
        assertEquals("{\"model\":\"" + StubReasonIRServer.MODEL_NAME + "\",\"input\":[\"a leaf\"],"
                + "\"encoding_format\":\"float\","
                + "\"instruction\":\"<|user|>\\nGiven a query, retrieve relevant passages that help answer the query"
                + "\\n<|embed|>\\n\",\"truncate\":true}", stub.bodies.get(0));

        List<Document> docs = DOCUMENTS.stream().map(Document::new).toList();
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                remote.embed(docs, null, new TokenCountBatchingStrategy()));
        assertEquals(StubReasonIRServer.documentedRequest(DOCUMENTS, Instructions.DOCUMENT), stub.request(1));
        assertEquals(model.dimension(), remote.dimensions());  // learnt from the answers
        assertEquals(2, stub.bodies.size());
    }

    @Test
    void longListsAreSplitIntoOrderedRequests() {
        ReasonIRSpringEmbeddingModel remote = client().maxInputsPerRequest(4).brightTask("biology").build();
        EmbeddingResponse r = remote.call(new EmbeddingRequest(DOCUMENTS, null));
        EmbeddingResult expected = model.embed(DOCUMENTS, Instructions.bright("biology"));
        assertSameVectors(expected.vectors(), r.getResults().stream().map(Embedding::getOutput).toList());
        assertEquals(2, stub.bodies.size());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.getMetadata().getUsage().getPromptTokens());
    }

    @Test
    void dimensionsAreProbedOnceWhenNotConfigured() {
        ReasonIRSpringEmbeddingModel remote = client().build();
        assertEquals(model.dimension(), remote.dimensions());
        assertEquals(model.dimension(), remote.dimensions());
        assertEquals(1, stub.bodies.size());
        assertEquals(4096, client().dimensions(4096).build().dimensions());
        assertEquals(0, stub.bodies.size());
    }

    @Test
    void errorsNameTheEndpointTheStatusAndTheServersMessage() throws Exception {
        ReasonIRSpringEmbeddingModel remote = client().build();
        stub.failWith(422, "{\"error\":{\"message\":\"input 0: text is empty\"}}");
        ReasonIRServerException e = assertThrows(ReasonIRServerException.class, () -> remote.embed("x"));
        assertEquals(422, e.statusCode());
        assertEquals("the ReasonIR server at " + stub.baseUrl() + "/v1/embeddings answered HTTP 422: input 0: text "
                + "is empty", e.getMessage());
        stub.failWith(200, "{\"data\":[]}");
        e = assertThrows(ReasonIRServerException.class, () -> remote.embed("x"));
        assertEquals(0, e.statusCode());
        assertTrue(e.getMessage().endsWith("0 embeddings for 1 inputs"), e.getMessage());

        int freePort = TestSupport.freeLoopbackPort();
        ReasonIRSpringEmbeddingModel nobody = ReasonIRSpringEmbeddingModel.builder()
                .baseUrl("http://127.0.0.1:" + freePort).timeout(Duration.ofSeconds(10)).build();
        e = assertThrows(ReasonIRServerException.class, () -> nobody.embed("x"));
        assertEquals(0, e.statusCode());
        assertTrue(e.getMessage().startsWith("cannot reach the ReasonIR server at http://127.0.0.1:" + freePort),
                e.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> ReasonIRSpringEmbeddingModel.builder().baseUrl("file:///models").build());
        assertTrue(bad.getMessage().contains("http(s) URL"), bad.getMessage());
    }

    /** The key goes with every request; a 401 is a ReasonIRAuthenticationException, a ReasonIRServerException too. */
    @Test
    void theApiKeyIsSentAndA401IsAnAuthenticationException() {
        stub.reset().requireApiKey("sk-stub");
        ReasonIRSpringEmbeddingModel keyed = ReasonIRSpringEmbeddingModel.builder().baseUrl(stub.baseUrl())
                .apiKey("sk-stub").build();
        assertSameVectors(model.embed(List.of("a leaf"), DEFAULT_QUERY).vectors(), List.of(keyed.embed("a leaf")));
        assertEquals(List.of("Bearer sk-stub", "Bearer sk-stub"), stub.authorizations);
        ReasonIRServerException e = assertThrows(ReasonIRServerException.class,
                () -> ReasonIRSpringEmbeddingModel.builder().baseUrl(stub.baseUrl()).build().embed("x"));
        assertTrue(e instanceof ReasonIRAuthenticationException, e.toString());
        assertEquals(401, e.statusCode());
        assertTrue(e.getMessage().contains("answered HTTP 401: it requires an API key and none is set"),
                e.getMessage());
    }

    @Test
    void aClosedClientRefusesCalls() {
        ReasonIRSpringEmbeddingModel remote = client().build();
        remote.close();
        assertThrows(IllegalStateException.class, () -> remote.embed("x"));
    }
}
