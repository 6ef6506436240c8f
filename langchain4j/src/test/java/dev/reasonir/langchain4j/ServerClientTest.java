package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.exception.TimeoutException;
import dev.langchain4j.model.output.Response;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.StubReasonIRServer;
import dev.reasonir.client.TestKit;
import dev.reasonir.client.TestSupport;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.langchain4j.EmbeddingAssertions.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server backend against {@link StubReasonIRServer}, which answers with vectors from the Java API: the client
 * must send exactly the documented request and hand back the server's floats unchanged. {@link RealServerTest} runs
 * the same backend against the real reasonir-server.
 */
class ServerClientTest {
    @TestKit.Model static ReasonIR model;
    @TestKit.Stub static StubReasonIRServer stub;

    static ReasonIREmbeddingModel.Builder client() {
        return ReasonIREmbeddingModel.builder().baseUrl(stub.reset().baseUrl());
    }

    static List<TextSegment> segments(List<String> texts) {
        return texts.stream().map(TextSegment::from).toList();
    }

    @Test
    void documentsAndQueriesEqualTheJavaApiAndTheRequestIsExactlyTheDocumentedOne() throws Exception {
        try (ReasonIREmbeddingModel documents = client().build()) {
            Response<List<Embedding>> r = documents.embedAll(segments(List.of("a leaf", "the sky")));
            EmbeddingResult expected = model.embed(List.of("a leaf", "the sky"), Instructions.DOCUMENT);
            assertSameVectors(expected.vectors(), r.content());
            assertEquals(Math.toIntExact(expected.totalTokens()), r.tokenUsage().inputTokenCount());
            assertEquals("{\"model\":\"" + StubReasonIRServer.MODEL_NAME + "\",\"input\":[\"a leaf\",\"the sky\"],"
                    + "\"encoding_format\":\"float\",\"instruction\":\"<|embed|>\\n\",\"truncate\":true}",
                    stub.bodies.get(0));

            ReasonIREmbeddingModel queries = documents.withInstruction(Instructions.bright("biology"));
            assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(),
                    queries.embedAll(segments(QUERIES)).content());
            assertEquals(StubReasonIRServer.documentedRequest(QUERIES, Instructions.bright("biology")),
                    stub.request(1));
            assertEquals(model.dimension(), queries.dimension());  // learnt from the answers, no extra request
            assertEquals(2, stub.bodies.size());
        }
    }

    @Test
    void longListsAreSplitIntoOrderedRequestsAndUsageIsSummed() {
        ReasonIREmbeddingModel documents = client().maxInputsPerRequest(2).modelName("reasonir/ReasonIR-8B").build();
        Response<List<Embedding>> r = documents.embedAll(segments(DOCUMENTS));
        EmbeddingResult expected = model.embed(DOCUMENTS, Instructions.DOCUMENT);
        assertSameVectors(expected.vectors(), r.content());
        assertEquals(3, stub.bodies.size());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.tokenUsage().inputTokenCount());
        assertEquals("reasonir/ReasonIR-8B", documents.modelName());
    }

    @Test
    void dimensionIsProbedOnceWhenNotConfigured() {
        ReasonIREmbeddingModel documents = client().build();
        assertEquals(model.dimension(), documents.dimension());
        assertEquals(model.dimension(), documents.dimension());
        assertEquals(1, stub.bodies.size());
        assertEquals(4096, client().dimension(4096).build().dimension());
        assertEquals(0, stub.bodies.size());
    }

    @Test
    void httpErrorsCarryStatusAndTheServersMessage() {
        ReasonIREmbeddingModel documents = client().build();
        stub.failWith(400, "{\"error\":{\"message\":\"input 0: text is empty\",\"type\":\"invalid_request\"}}");
        HttpException e = assertThrows(HttpException.class, () -> documents.embed("x"));
        assertEquals(400, e.statusCode());
        assertEquals("the ReasonIR server at " + stub.baseUrl() + "/v1/embeddings answered HTTP 400: input 0: text "
                + "is empty", e.getMessage());

        stub.failWith(503, "upstream overloaded");
        e = assertThrows(HttpException.class, () -> documents.embed("x"));
        assertEquals(503, e.statusCode());
        assertTrue(e.getMessage().endsWith("answered HTTP 503: upstream overloaded"), e.getMessage());
    }

    /** The key goes with every request; a 401 is an AuthenticationException, not an HttpException. */
    @Test
    void theApiKeyIsSentAndA401IsAnAuthenticationException() {
        stub.reset().requireApiKey("sk-stub");
        try (ReasonIREmbeddingModel keyed = ReasonIREmbeddingModel.builder().baseUrl(stub.baseUrl()).apiKey("sk-stub")
                .build()) {
            assertSameVectors(model.embed(List.of("a leaf"), Instructions.DOCUMENT).vectors(),
                    keyed.embedAll(segments(List.of("a leaf"))).content());
            assertEquals(List.of("Bearer sk-stub", "Bearer sk-stub"), stub.authorizations);
        }
        ReasonIREmbeddingModel none = ReasonIREmbeddingModel.builder().baseUrl(stub.baseUrl()).modelName("m").build();
        AuthenticationException e = assertThrows(AuthenticationException.class, () -> none.embed("x"));
        assertTrue(e.getMessage().startsWith("the ReasonIR server at " + stub.baseUrl() + "/v1/embeddings answered "
                + "HTTP 401: it requires an API key and none is set"), e.getMessage());
    }

    @Test
    void aWrongPathIsAnHttp404() {
        ReasonIREmbeddingModel documents = client().build();
        ReasonIREmbeddingModel wrong = ReasonIREmbeddingModel.builder().baseUrl(stub.baseUrl() + "/api/").modelName("m")
                .build();  // a configured name: the first request is the embeddings one
        HttpException e = assertThrows(HttpException.class, () -> wrong.embed("x"));
        assertEquals(404, e.statusCode());
        assertTrue(e.getMessage().contains(stub.baseUrl() + "/api/v1/embeddings"), e.getMessage());
        assertEquals(model.dimension(), documents.embed("x").content().dimension());
    }

    @Test
    void malformedAnswersAreRefused() {
        ReasonIREmbeddingModel documents = client().build();
        stub.tamper(StubReasonIRServer.DROP_FIRST_EMBEDDING);
        LangChain4jException e = assertThrows(LangChain4jException.class,
                () -> documents.embedAll(segments(List.of("a", "b"))));
        assertTrue(e.getMessage().contains("malformed answer") && e.getMessage().contains("1 embeddings for 2 inputs"),
                e.getMessage());
        stub.failWith(200, "not json");
        e = assertThrows(LangChain4jException.class, () -> documents.embed("a"));
        assertTrue(e.getMessage().contains("not the expected JSON"), e.getMessage());
    }

    @Test
    void unreachableServerAndBadUrls() throws Exception {
        int freePort = TestSupport.freeLoopbackPort();
        ReasonIREmbeddingModel nobody = ReasonIREmbeddingModel.builder().baseUrl("http://127.0.0.1:" + freePort)
                .timeout(Duration.ofSeconds(10)).modelName("m").build();
        LangChain4jException e = assertThrows(LangChain4jException.class, () -> nobody.embed("x"));
        assertTrue(e.getMessage().startsWith("cannot reach the ReasonIR server at http://127.0.0.1:" + freePort
                + "/v1/embeddings"), e.getMessage());

        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> ReasonIREmbeddingModel.builder().baseUrl("ftp://models.example/").build());
        assertTrue(bad.getMessage().contains("http(s) URL"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReasonIREmbeddingModel.builder().baseUrl("localhost:8080")
                .build());
        assertThrows(IllegalArgumentException.class, () -> ReasonIREmbeddingModel.builder().baseUrl("http://a b"));
    }

    @Test
    void aSlowServerTimesOut() throws Exception {
        // Accepts the connection and never answers.
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            ReasonIREmbeddingModel slow = ReasonIREmbeddingModel.builder()
                    .baseUrl("http://127.0.0.1:" + silent.getLocalPort()).timeout(Duration.ofMillis(300)).build();
            TimeoutException e = assertThrows(TimeoutException.class, () -> slow.embed("x"));
            assertTrue(e.getMessage().contains("did not answer within PT0.3S"), e.getMessage());
        }
    }

    @Test
    void aClosedClientRefusesCalls() {
        ReasonIREmbeddingModel documents = client().build();
        documents.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> documents.embed("x"));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
    }
}
