package dev.reasonir.server;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Defaults, built-in prompts, validation and the model-dependent fields of {@link ServerConfig}. */
class ServerConfigTest {
    @Test
    void defaults() {
        ServerConfig c = ServerConfig.defaults();
        assertEquals("127.0.0.1", c.host());
        assertEquals(8080, c.port());
        assertNull(c.modelName());
        assertEquals("document", c.defaultPromptName());
        assertEquals(512, c.maxConcurrentRequests());
        assertEquals(128, c.maxClientBatchSize());
        assertEquals(16384, c.maxBatchTokens());
        assertEquals(0, c.maxInputLength());
        assertEquals(2 * 1024 * 1024, c.payloadLimitBytes());
        assertEquals(Duration.ofSeconds(60), c.queueTimeout());
        assertEquals(Duration.ofSeconds(30), c.requestReadTimeout());
        assertEquals(1024, c.maxConnections());
        assertEquals(Duration.ZERO, c.drainGrace());
        assertEquals(Duration.ofSeconds(30), c.shutdownTimeout());
        assertNull(c.apiKey());
        assertFalse(c.requiresApiKey());
        assertEquals(Instructions.DOCUMENT, c.prompts().get("document"));
        for (String task : Instructions.BRIGHT_TASKS) {
            assertEquals(Instructions.bright(task), c.prompts().get("query:" + task));
        }
        assertEquals(1 + Instructions.BRIGHT_TASKS.size(), c.prompts().size());
    }

    @Test
    void builderAddsAndReplacesPromptsAndTheRecordIsImmutable() {
        ServerConfig c = ServerConfig.builder().prompt("mine", "Mine: ").defaultPromptName("mine").build();
        assertEquals("Mine: ", c.prompts().get("mine"));
        assertTrue(c.prompts().containsKey("query:biology"));
        assertThrows(UnsupportedOperationException.class, () -> c.prompts().put("x", "y"));
        ServerConfig only = ServerConfig.builder().prompts(Map.of("p", "P")).defaultPromptName("p").build();
        assertEquals(Map.of("p", "P"), only.prompts());
        assertEquals(c, c.toBuilder().build());
    }

    @Test
    void invalidValuesAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().port(70000).build())
                .getMessage().contains("port"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().maxBatchTokens(0)
                .build()).getMessage().contains("maxBatchTokens"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder()
                .defaultPromptName("nope").build()).getMessage().contains("nope"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder()
                .queueTimeout(Duration.ofSeconds(-1)).build()).getMessage().contains("queueTimeout"));
        assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().modelName(" ").build());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().maxConnections(0)
                .build()).getMessage().contains("maxConnections"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder()
                .requestReadTimeout(Duration.ofSeconds(-1)).build()).getMessage().contains("requestReadTimeout"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder()
                .shutdownTimeout(Duration.ofSeconds(-1)).build()).getMessage().contains("shutdownTimeout"));
        var grace = assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder()
                .drainGrace(Duration.ofSeconds(40)).build());
        assertTrue(grace.getMessage().contains("drainGrace (40 s) must not exceed shutdownTimeout (30 s)"),
                grace.getMessage());
        assertEquals(Duration.ofSeconds(40), ServerConfig.builder().drainGrace(Duration.ofSeconds(40))
                .shutdownTimeout(Duration.ZERO).build().drainGrace(), "no shutdown timeout: any grace");
        assertEquals(Duration.ZERO, ServerConfig.builder().requestReadTimeout(Duration.ZERO).build()
                .requestReadTimeout(), "0: no limit");
        assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().maxInputLength(-1).build());
    }

    /** The key is printable ASCII (what a header carries), refused without echoing it, and never in toString(). */
    @Test
    void theApiKeyIsCheckedAndNeverPrinted() {
        ServerConfig c = ServerConfig.builder().apiKey("sk-abc_123.XYZ~+/=").build();
        assertTrue(c.requiresApiKey());
        assertEquals("sk-abc_123.XYZ~+/=", c.apiKey());
        assertFalse(c.toString().contains("sk-abc"), c.toString());
        assertTrue(c.toString().contains("apiKey=(set)"), c.toString());
        assertTrue(ServerConfig.defaults().toString().contains("apiKey=none"));
        assertEquals(c, c.toBuilder().build());
        for (String bad : List.of("", "secret\n", "two words", "caf\u00e9-secret", "tab\tkey")) {
            var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().apiKey(bad).build());
            assertTrue(e.getMessage().startsWith("apiKey"), e.getMessage());
            if (!bad.isEmpty()) assertFalse(e.getMessage().contains(bad.strip()), e.getMessage());
        }
    }

    @Test
    void modelDependentFieldsComeFromTheModel() throws Exception {
        try (ReasonIR model = ReasonIR.open(TestServer.modelDir(), Options.defaults().withDevice("cpu")
                .withMaxLength(300))) {
            ServerConfig r = ServerConfig.defaults().resolve(model);
            assertEquals("h256_l4", r.modelName());
            assertEquals(300, r.maxInputLength());
            assertEquals(100, ServerConfig.builder().maxInputLength(100).modelName("x").build().resolve(model)
                    .maxInputLength());
            var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().maxInputLength(301)
                    .build().resolve(model));
            assertTrue(e.getMessage().contains("301") && e.getMessage().contains("300"), e.getMessage());
            try (EmbeddingServer s = EmbeddingServer.start(model, ServerConfig.builder().port(0).modelName("named")
                    .build())) {
                assertTrue(s.port() > 0);
                assertEquals("named", s.config().modelName());
                assertEquals(300, s.config().maxInputLength());
            }
        }
    }
}
