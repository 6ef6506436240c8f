package dev.reasonir.server;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        assertThrows(IllegalArgumentException.class, () -> ServerConfig.builder().maxInputLength(-1).build());
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
