package dev.reasonir.client;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.ReasonIRClientException.Reason;
import dev.reasonir.server.EmbeddingServer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server backend against the real reasonir-server started with an API key: with the key, the Java API's vectors
 * bit for bit and the server's model name; without it or with a wrong one, {@link Reason#UNAUTHORIZED} saying which.
 */
class ApiKeyRealServerTest {
    static final String KEY = "sk-client-test-5a4b3c2d1e";
    @TestKit.Model static ReasonIR model;
    @TestKit.Server(apiKey = KEY) static EmbeddingServer server;

    static EmbeddingBackend.Builder client() {
        return EmbeddingBackend.builder().baseUrl("http://127.0.0.1:" + server.port());
    }

    @Test
    void withTheKeyTheVectorsAreTheJavaApis() {
        assertTrue(server.config().requiresApiKey());
        try (EmbeddingBackend backend = client().apiKey(KEY).build()) {
            assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                    backend.embed(DOCUMENTS, Instructions.DOCUMENT).vectors());
            assertEquals("model", backend.modelName(), "GET /v1/models answered with the key");
        }
    }

    @Test
    void withoutTheKeyOrWithAWrongOneTheFailureSaysWhich() {
        try (EmbeddingBackend none = client().build(); EmbeddingBackend wrong = client().apiKey(KEY + "0").build()) {
            ReasonIRClientException e = assertThrows(ReasonIRClientException.class,
                    () -> none.embed(List.of("x"), Instructions.DOCUMENT));
            assertEquals(Reason.UNAUTHORIZED, e.reason());
            assertEquals(401, e.statusCode());
            assertTrue(e.getMessage().contains("requires an API key and none is set"), e.getMessage());
            assertTrue(e.getMessage().contains("(server: missing API key"), e.getMessage());
            e = assertThrows(ReasonIRClientException.class, () -> wrong.embed(List.of("x"), Instructions.DOCUMENT));
            assertEquals(Reason.UNAUTHORIZED, e.reason());
            assertTrue(e.getMessage().contains("refused the API key that was sent"), e.getMessage());
            assertTrue(e.getMessage().contains("(server: invalid API key"), e.getMessage());
            assertFalse(e.getMessage().contains(KEY), e.getMessage());
        }
    }
}
