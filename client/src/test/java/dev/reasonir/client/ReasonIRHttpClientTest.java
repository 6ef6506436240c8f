package dev.reasonir.client;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.ReasonIRClientException.Reason;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server backend against {@link StubReasonIRServer}, which answers with vectors from the Java API: the client
 * must send exactly the documented request, split long lists in order and hand back the server's floats unchanged,
 * and every failure must name the endpoint with a {@link Reason}.
 */
class ReasonIRHttpClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TestKit.Model static ReasonIR model;
    @TestKit.Stub static StubReasonIRServer stub;

    static EmbeddingBackend.Builder client() {
        return EmbeddingBackend.builder().baseUrl(stub.reset().baseUrl());
    }

    static String endpoint() {
        return stub.baseUrl() + "/v1/embeddings";
    }

    @Test
    void theRequestIsExactlyTheDocumentedOneAndTheVectorsAreTheJavaApis() {
        try (EmbeddingBackend backend = client().build()) {
            EmbeddingBackend.Embedded out = backend.embed(List.of("a leaf", "the sky"), Instructions.DOCUMENT);
            EmbeddingResult expected = model.embed(List.of("a leaf", "the sky"), Instructions.DOCUMENT);
            assertSameVectors(expected.vectors(), out.vectors());
            assertEquals(Math.toIntExact(expected.totalTokens()), out.inputTokens());
            assertEquals(0, out.truncated());
            // The model name is the server's (its GET /v1/models), not a guess; truncate follows Options.overflow.
            assertEquals("{\"model\":\"" + StubReasonIRServer.MODEL_NAME + "\",\"input\":[\"a leaf\",\"the sky\"],"
                    + "\"encoding_format\":\"float\",\"instruction\":\"<|embed|>\\n\",\"truncate\":true}",
                    stub.bodies.get(0));

            out = backend.embed(QUERIES, Instructions.bright("biology"));
            assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(), out.vectors());
            assertEquals(StubReasonIRServer.documentedRequest(QUERIES, Instructions.bright("biology")),
                    stub.request(1));
            assertEquals(StubReasonIRServer.MODEL_NAME, backend.modelName());
            assertEquals("client of " + endpoint(), backend.toString());
        }
    }

    @Test
    void longListsAreSplitIntoOrderedRequestsAndUsageIsSummed() {
        EmbeddingBackend backend = client().maxInputsPerRequest(4).modelName("reasonir/ReasonIR-8B").build();
        EmbeddingBackend.Embedded out = backend.embed(DOCUMENTS, Instructions.DOCUMENT);
        EmbeddingResult expected = model.embed(DOCUMENTS, Instructions.DOCUMENT);
        assertSameVectors(expected.vectors(), out.vectors());
        assertEquals(Math.toIntExact(expected.totalTokens()), out.inputTokens());
        assertEquals(2, stub.bodies.size());
        assertEquals(DOCUMENTS.subList(0, 4), JSON.convertValue(stub.request(0).get("input"), List.class));
        assertEquals(DOCUMENTS.subList(4, 6), JSON.convertValue(stub.request(1).get("input"), List.class));
        assertEquals("reasonir/ReasonIR-8B", stub.request(1).get("model").asText());
        assertEquals("reasonir/ReasonIR-8B", backend.modelName());

        stub.bodies.clear();
        assertEquals(0, backend.embed(List.of(), Instructions.DOCUMENT).vectors().length);
        assertEquals(0, stub.bodies.size());  // nothing to send
    }

    @Test
    void aMissingUsageMakesTheTokenCountUnknown() {
        EmbeddingBackend backend = client().maxInputsPerRequest(3).build();
        stub.tamper(reply -> {
            reply.remove("usage");
            return reply;
        });
        EmbeddingBackend.Embedded out = backend.embed(DOCUMENTS, Instructions.DOCUMENT);
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(), out.vectors());
        assertNull(out.inputTokens());
    }

    @Test
    void theDimensionIsLearntFromTheFirstAnswerOrProbedOnce() {
        EmbeddingBackend backend = client().build();
        assertNull(backend.knownDimension());
        assertEquals(model.dimension(), backend.dimension());
        assertEquals(model.dimension(), backend.dimension());
        assertEquals(1, stub.bodies.size());
        assertEquals(Instructions.DOCUMENT, stub.request(0).get("instruction").asText());

        EmbeddingBackend other = client().build();
        other.embed(QUERIES, Instructions.bright("biology"));
        assertEquals(model.dimension(), other.knownDimension());
        assertEquals(model.dimension(), other.dimension());
        assertEquals(1, stub.bodies.size());  // learnt from the answer, no probe
    }

    @Test
    void httpErrorsCarryStatusEndpointAndTheServersMessage() {
        EmbeddingBackend backend = client().build();
        stub.failWith(400, "{\"error\":{\"message\":\"input 0: text is empty\",\"type\":\"invalid_request\"}}");
        ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(Reason.HTTP_STATUS, e.reason());
        assertEquals(400, e.statusCode());
        assertEquals(URI.create(endpoint()), e.endpoint());
        assertEquals("the ReasonIR server at " + endpoint() + " answered HTTP 400: input 0: text is empty",
                e.getMessage());

        stub.failWith(503, "upstream overloaded");
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(503, e.statusCode());
        assertTrue(e.getMessage().endsWith("answered HTTP 503: upstream overloaded"), e.getMessage());

        stub.failWith(500, "");
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertTrue(e.getMessage().endsWith("answered HTTP 500: (empty body)"), e.getMessage());

        stub.failWith(502, "x".repeat(1000));
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertTrue(e.getMessage().endsWith(": " + "x".repeat(300) + "..."), e.getMessage());
    }

    @Test
    void aWrongPathIsAnHttp404NamingTheEndpoint() {
        // A configured model name: the first request is the embeddings one (else it is GET /v1/models).
        EmbeddingBackend wrong = EmbeddingBackend.builder().baseUrl(stub.baseUrl() + "/api/").modelName("m").build();
        ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                () -> wrong.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(404, e.statusCode());
        assertEquals(URI.create(stub.baseUrl() + "/api/v1/embeddings"), e.endpoint());
        assertTrue(e.getMessage().contains(stub.baseUrl() + "/api/v1/embeddings"), e.getMessage());
    }

    @Test
    void malformedAnswersAreRefused() {
        EmbeddingBackend backend = client().build();
        stub.tamper(StubReasonIRServer.DROP_FIRST_EMBEDDING);
        ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                () -> backend.embed(List.of("a", "b"), Instructions.DOCUMENT));
        assertEquals(Reason.MALFORMED_ANSWER, e.reason());
        assertEquals(0, e.statusCode());
        assertEquals("malformed answer from the ReasonIR server at " + endpoint() + ": 1 embeddings for 2 inputs",
                e.getMessage());

        stub.tamper(reply -> {
            ((ObjectNode) reply.get("data").get(1)).put("index", 0);
            return reply;
        });
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("a", "b"),
                Instructions.DOCUMENT));
        assertTrue(e.getMessage().endsWith("index 0 appears twice"), e.getMessage());

        stub.tamper(reply -> {
            ((ArrayNode) reply.get("data").get(1).get("embedding")).remove(0);
            return reply;
        });
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("a", "b"),
                Instructions.DOCUMENT));
        assertTrue(e.getMessage().endsWith("item 1 has " + (model.dimension() - 1) + " dimensions, item 0 has "
                + model.dimension()), e.getMessage());

        stub.failWith(200, "not json");
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("a"), Instructions.DOCUMENT));
        assertEquals(Reason.MALFORMED_ANSWER, e.reason());
        assertTrue(e.getMessage().contains("not the expected JSON"), e.getMessage());
        stub.failWith(200, "{\"data\":[]}");
        e = assertThrows(ReasonIRClientException.class, () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertTrue(e.getMessage().endsWith("0 embeddings for 1 inputs"), e.getMessage());
    }

    @Test
    void anUnreachableServer() throws Exception {
        int freePort = TestSupport.freeLoopbackPort();
        EmbeddingBackend nobody = EmbeddingBackend.builder().baseUrl("http://127.0.0.1:" + freePort)
                .timeout(Duration.ofSeconds(10)).modelName("m").build();
        ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                () -> nobody.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(Reason.UNREACHABLE, e.reason());
        assertEquals(0, e.statusCode());
        assertTrue(e.getMessage().startsWith("cannot reach the ReasonIR server at http://127.0.0.1:" + freePort
                + "/v1/embeddings"), e.getMessage());
    }

    @Test
    void aSlowServerTimesOut() throws Exception {
        // Accepts the connection and never answers.
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            EmbeddingBackend slow = EmbeddingBackend.builder().baseUrl("http://127.0.0.1:" + silent.getLocalPort())
                    .timeout(Duration.ofMillis(300)).modelName("m").build();
            ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                    () -> slow.embed(List.of("x"), Instructions.DOCUMENT));
            assertEquals(Reason.TIMEOUT, e.reason());
            assertTrue(e.getMessage().contains("did not answer within PT0.3S (1 texts in the request)"),
                    e.getMessage());
        }
    }

    @Test
    void badSettingsAreRefusedAtBuild() {
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingBackend.builder().baseUrl("ftp://models.example/").build());
        assertTrue(bad.getMessage().contains("http(s) URL"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EmbeddingBackend.builder().baseUrl("localhost:8080")
                .build());
        assertThrows(IllegalArgumentException.class, () -> EmbeddingBackend.builder().baseUrl("file:///models")
                .build());
        bad = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingBackend.builder().baseUrl("http://localhost:8080/?a=b").build());
        assertTrue(bad.getMessage().contains("query or fragment"), bad.getMessage());
        bad = assertThrows(IllegalArgumentException.class, () -> EmbeddingBackend.builder().baseUrl("http://a b"));
        assertTrue(bad.getMessage().startsWith("baseUrl 'http://a b' is not a URL"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> client().timeout(Duration.ZERO).build());
        bad = assertThrows(IllegalArgumentException.class, () -> client().maxInputsPerRequest(0).build());
        assertEquals("maxInputsPerRequest must be >= 1, got 0", bad.getMessage());
        assertEquals(URI.create("http://h:1/x/v1/embeddings"),
                ReasonIRHttpClient.endpoint(URI.create("http://h:1/x///")));
    }

    /** The key goes with every request, GET /v1/models included, and never into a message or toString(). */
    @Test
    void theApiKeyIsSentWithEveryRequest() {
        stub.reset().requireApiKey("sk-stub-key");
        try (EmbeddingBackend backend = EmbeddingBackend.builder().baseUrl(stub.baseUrl()).apiKey("sk-stub-key")
                .build()) {
            assertSameVectors(model.embed(QUERIES, Instructions.DOCUMENT).vectors(),
                    backend.embed(QUERIES, Instructions.DOCUMENT).vectors());
            assertEquals(List.of("Bearer sk-stub-key", "Bearer sk-stub-key"), stub.authorizations);  // models, embed
            assertTrue(!backend.toString().contains("sk-stub-key"), backend.toString());
        }
        try (EmbeddingBackend noKey = client().build()) {
            noKey.embed(List.of("x"), Instructions.DOCUMENT);
            assertEquals(List.of("", ""), stub.authorizations, "no key, no header");
        }
    }

    /** A 401 is its own reason, and the message says whether a key was sent. */
    @Test
    void a401IsUnauthorizedSayingWhetherAKeyWasSent() {
        EmbeddingBackend noKey = client().modelName("m").build();
        stub.requireApiKey("sk-right");
        ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                () -> noKey.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(Reason.UNAUTHORIZED, e.reason());
        assertEquals(401, e.statusCode());
        assertEquals(URI.create(endpoint()), e.endpoint());
        assertTrue(e.getMessage().startsWith("the ReasonIR server at " + endpoint() + " answered HTTP 401: it "
                + "requires an API key and none is set"), e.getMessage());
        assertTrue(e.getMessage().endsWith("(server: missing API key)"), e.getMessage());

        EmbeddingBackend wrong = EmbeddingBackend.builder().baseUrl(stub.baseUrl()).apiKey("sk-wrong").build();
        e = assertThrows(ReasonIRClientException.class, () -> wrong.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals(Reason.UNAUTHORIZED, e.reason());
        assertTrue(e.getMessage().contains("refused the API key that was sent"), e.getMessage());
        assertTrue(!e.getMessage().contains("sk-wrong"), e.getMessage());
        assertEquals(URI.create(stub.baseUrl() + "/v1/models"), URI.create(e.getMessage().split(" ")[4]),
                "the first request, GET /v1/models, is the one refused");
    }

    @Test
    void aKeyAHeaderCannotCarryIsRefusedAtBuild() {
        for (String bad : List.of("", "sk key", "sk-key\n", "cl\u00e9")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> client().apiKey(bad).build());
            assertTrue(e.getMessage().startsWith("apiKey"), e.getMessage());
        }
    }

    @Test
    void aClosedClientRefusesCalls() {
        EmbeddingBackend backend = client().build();
        backend.close();
        backend.close();  // idempotent
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> backend.embed(List.of("x"), Instructions.DOCUMENT));
        assertEquals("ReasonIR client of " + endpoint() + " is closed", e.getMessage());
        assertEquals(0, stub.bodies.size());
    }
}
