package dev.reasonir.springai.autoconfigure;

import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.springai.ReasonIRAuthenticationException;
import dev.reasonir.springai.ReasonIRServerException;
import dev.reasonir.springai.ReasonIRSpringEmbeddingModel;
import dev.reasonir.client.StubReasonIRServer;
import dev.reasonir.client.TestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ReasonIRAutoConfiguration} in real application contexts, compared with the Java API bit for bit. */
class ReasonIRAutoConfigurationTest {
    static final String DEFAULT_QUERY = Instructions.query(ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK);
    @TempDir static Path tmp;
    @TestKit.Model static Path dir;
    /** The reference: the Java API on the same checkpoint, opened outside any context. */
    @TestKit.Model static ReasonIR reference;
    static final String KEY = "sk-boot-test-1f2e3d4c";
    /** The real server, requiring {@link #KEY}, for reasonir.api-key end to end. */
    @TestKit.Server(apiKey = KEY) static EmbeddingServer guarded;

    final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ReasonIRAutoConfiguration.class));

    ApplicationContextRunner inProcess(String... more) {
        return runner.withPropertyValues("reasonir.model-dir=" + dir, "reasonir.device=cpu").withPropertyValues(more);
    }

    @Test
    void inProcessModeAutowiresAnEmbeddingModelEqualToTheJavaApiAndClosesTheModelWithTheContext() {
        AtomicReference<ReasonIR> opened = new AtomicReference<>();
        inProcess().run(context -> {
            assertNull(context.getStartupFailure(), () -> "startup failed: " + context.getStartupFailure());
            EmbeddingModel embeddingModel = context.getBean(EmbeddingModel.class);
            assertInstanceOf(ReasonIRSpringEmbeddingModel.class, embeddingModel);
            opened.set(context.getBean(ReasonIR.class));
            assertSameVectors(reference.embed(QUERIES, DEFAULT_QUERY).vectors(), embeddingModel.embed(QUERIES));
            assertSameVectors(reference.embed(List.of(DOCUMENTS.get(0)), Instructions.DOCUMENT).vectors(),
                    List.of(embeddingModel.embed(new Document(DOCUMENTS.get(0)))));
            assertEquals(reference.dimension(), embeddingModel.dimensions());
            assertEquals("model", embeddingModel.call(new EmbeddingRequest(QUERIES, null)).getMetadata().getModel());
        });
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> opened.get().dimension());
        assertTrue(closed.getMessage().contains("is closed"), closed.getMessage());
    }

    @Test
    void queryTaskBrightTaskMaxLengthAndModelNameProperties() {
        inProcess("reasonir.bright-task=biology", "reasonir.max-length=64", "reasonir.model-name=ReasonIR-8B")
                .run(context -> {
                    ReasonIRSpringEmbeddingModel m = context.getBean(ReasonIRSpringEmbeddingModel.class);
                    assertEquals(Instructions.bright("biology"), m.queryInstruction());
                    assertSameVectors(reference.embed(QUERIES, Instructions.bright("biology")).vectors(),
                            m.embed(QUERIES));
                    assertEquals(64, context.getBean(ReasonIR.class).maxLength());
                    assertEquals("ReasonIR-8B", m.modelName());
                });
        String task = "Given a gardening question, retrieve passages that answer it";
        inProcess("reasonir.query-task=" + task).run(context -> assertEquals(Instructions.query(task),
                context.getBean(ReasonIRSpringEmbeddingModel.class).queryInstruction()));
    }

    @Test
    void anEmptyBrightTaskIsUnsetLikeAnEmptyModelDir() {
        // the default query prompt, not "invalid reasonir.bright-task="
        inProcess("reasonir.bright-task=").run(context -> assertEquals(
                Instructions.query(ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK),
                context.getBean(ReasonIRSpringEmbeddingModel.class).queryInstruction()));
        String task = "Given a gardening question, retrieve passages that answer it";
        inProcess("reasonir.bright-task=", "reasonir.query-task=" + task).run(context -> assertEquals(
                Instructions.query(task), context.getBean(ReasonIRSpringEmbeddingModel.class).queryInstruction()));
        // as an empty model-dir is unset (the failure names the missing setting, not the empty bright-task)
        runner.withPropertyValues("reasonir.model-dir=", "reasonir.bright-task=").run(context -> assertTrue(
                startupFailure(context).getMessage().startsWith("reasonir.model-dir is not set"),
                startupFailure(context).getMessage()));
    }

    @Test
    void emptyQueryTaskAndModelNameAreUnsetToo() {
        // "reasonir.query-task=" (an empty environment variable, say) is the default task, not "invalid query-task"
        inProcess("reasonir.query-task=", "reasonir.model-name=").run(context -> {
            assertNull(context.getStartupFailure(), () -> "startup failed: " + context.getStartupFailure());
            ReasonIRSpringEmbeddingModel m = context.getBean(ReasonIRSpringEmbeddingModel.class);
            assertEquals(DEFAULT_QUERY, m.queryInstruction());
            assertEquals("model", m.modelName());  // the folder's name, as when model-name is not set at all
        });
        inProcess("reasonir.query-task=", "reasonir.bright-task=biology").run(context -> assertEquals(
                Instructions.bright("biology"), context.getBean(ReasonIRSpringEmbeddingModel.class).queryInstruction()));
    }

    @Test
    void overflowPropertyChoosesTruncateOrFail() {
        String longText = "word ".repeat(200);
        // unset: truncated and counted in the metadata (48 tokens: more than the query prompt)
        inProcess("reasonir.max-length=48").run(context -> {
            EmbeddingModel m = context.getBean(EmbeddingModel.class);
            assertEquals(1, (Integer) m.call(new EmbeddingRequest(List.of(longText), null)).getMetadata()
                    .get(ReasonIRSpringEmbeddingModel.TRUNCATED_METADATA_KEY));
        });
        // fail (any case, as Spring binds enums): refused, naming the limit
        inProcess("reasonir.max-length=48", "reasonir.overflow=fail").run(context -> {
            EmbeddingModel m = context.getBean(EmbeddingModel.class);
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> m.call(new EmbeddingRequest(List.of(longText), null)));
            assertTrue(e.getMessage().contains("more than maxLength 48"), e.getMessage());
        });
        // a value that is neither stops the startup, naming the property
        inProcess("reasonir.overflow=drop").run(context -> {
            StringBuilder causes = new StringBuilder();
            for (Throwable t = context.getStartupFailure(); t != null; t = t.getCause()) causes.append(t).append('\n');
            assertTrue(causes.toString().contains("Failed to bind properties under 'reasonir.overflow'"),
                    causes.toString());
        });
    }

    @Test
    void clientModeCallsTheServerAndOpensNoModel() throws Exception {
        try (StubReasonIRServer stub = StubReasonIRServer.start(reference)) {
            runner.withPropertyValues("reasonir.base-url=" + stub.baseUrl() + "/", "reasonir.bright-task=biology",
                    "reasonir.timeout=30s").run(context -> {
                assertFalse(context.containsBean("reasonIR"));
                assertEquals(0, context.getBeanNamesForType(ReasonIR.class).length);
                EmbeddingModel m = context.getBean(EmbeddingModel.class);
                assertSameVectors(reference.embed(QUERIES, Instructions.bright("biology")).vectors(), m.embed(QUERIES));
                assertEquals(Instructions.bright("biology"), stub.request(0).get("instruction").asText());
            });
        }
    }

    /**
     * reasonir.api-key end to end against a real server that requires it: the Java API's vectors with it; without it a
     * ReasonIRAuthenticationException saying none was set (the context still starts: the server is asked nothing
     * before the first call); an empty value is unset; a key no header can carry stops the start, never quoted.
     */
    @Test
    void clientModeSendsTheApiKeyProperty() {
        String url = "reasonir.base-url=http://127.0.0.1:" + guarded.port();
        runner.withPropertyValues(url, "reasonir.api-key=" + KEY).run(context -> {
            assertNull(context.getStartupFailure(), () -> "startup failed: " + context.getStartupFailure());
            EmbeddingModel m = context.getBean(EmbeddingModel.class);
            assertSameVectors(reference.embed(QUERIES, DEFAULT_QUERY).vectors(), m.embed(QUERIES));
            assertSameVectors(reference.embed(List.of(DOCUMENTS.get(0)), Instructions.DOCUMENT).vectors(),
                    List.of(m.embed(new Document(DOCUMENTS.get(0)))));
            assertFalse(m.toString().contains(KEY), m.toString());
        });
        for (String unset : List.of("reasonir.api-key=", "reasonir.enabled=true")) {
            runner.withPropertyValues(url, unset).run(context -> {
                EmbeddingModel m = context.getBean(EmbeddingModel.class);
                ReasonIRAuthenticationException e = assertThrows(ReasonIRAuthenticationException.class,
                        () -> m.embed(QUERIES));
                assertEquals(401, e.statusCode());
                assertTrue(e.getMessage().contains("it requires an API key and none is set"), e.getMessage());
            });
        }
        runner.withPropertyValues(url, "reasonir.api-key=" + KEY + "-wrong").run(context -> {
            ReasonIRServerException e = assertThrows(ReasonIRServerException.class,
                    () -> context.getBean(EmbeddingModel.class).embed(QUERIES));
            assertInstanceOf(ReasonIRAuthenticationException.class, e);
            assertTrue(e.getMessage().contains("refused the API key that was sent"), e.getMessage());
        });
        runner.withPropertyValues(url, "reasonir.api-key=two words").run(context -> {
            String message = startupFailure(context).getMessage();
            assertTrue(message.contains("reasonir.api-key set") && message.contains("printable ASCII"), message);
            assertFalse(message.contains("two words"), message);
        });
    }

    @Test
    void anApplicationsOwnReasonIRBeanIsUsed() {
        runner.withBean(ReasonIR.class, () -> ReasonIR.open(dir, CPU)).run(context -> {
            ReasonIR own = context.getBean(ReasonIR.class);
            assertSameVectors(own.embed(QUERIES, DEFAULT_QUERY).vectors(),
                    context.getBean(EmbeddingModel.class).embed(QUERIES));
        });
    }

    @Test
    void disabled() {
        runner.withPropertyValues("reasonir.enabled=false").run(context -> {
            assertEquals(0, context.getBeanNamesForType(EmbeddingModel.class).length);
            assertEquals(0, context.getBeanNamesForType(ReasonIR.class).length);
        });
    }

    @Test
    void missingModelDirFailsTheStartWithAClearMessage() {
        runner.run(context -> {
            ReasonIRConfigurationException e = startupFailure(context);
            assertEquals("reasonir.model-dir is not set, and neither is reasonir.base-url: ReasonIR has no model to "
                    + "embed with.", e.getMessage());
            FailureAnalysis analysis = new ReasonIRFailureAnalyzer().analyze(context.getStartupFailure());
            assertEquals(e.getMessage(), analysis.getDescription());
            assertTrue(analysis.getAction().startsWith("Set reasonir.model-dir to a ReasonIR-8B checkpoint folder"),
                    analysis.getAction());
        });
    }

    @Test
    void otherPropertyErrorsNameTheProperty() {
        Path missing = tmp.resolve("no-such-model");
        runner.withPropertyValues("reasonir.model-dir=" + missing).run(context -> assertEquals(
                "reasonir.model-dir=" + missing + " is not a folder (it does not exist).",
                startupFailure(context).getMessage()));
        runner.withPropertyValues("reasonir.model-dir=" + tmp).run(context -> assertTrue(
                startupFailure(context).getMessage().startsWith("cannot open the ReasonIR model in reasonir.model-dir="
                        + tmp + " on device auto: "), startupFailure(context).getMessage()));
        inProcess("reasonir.max-length=0").run(context -> assertTrue(startupFailure(context).getMessage()
                .contains("reasonir.max-length=0: maxLength must be >= 1"), startupFailure(context).getMessage()));
        inProcess("reasonir.base-url=http://localhost:8080").run(context -> assertTrue(startupFailure(context)
                .getMessage().startsWith("both reasonir.model-dir"), startupFailure(context).getMessage()));
        inProcess("reasonir.query-task=a task", "reasonir.bright-task=biology").run(context -> assertEquals(
                "both reasonir.query-task and reasonir.bright-task are set.", startupFailure(context).getMessage()));
        inProcess("reasonir.bright-task=astrology").run(context -> assertTrue(startupFailure(context).getMessage()
                .startsWith("invalid reasonir.bright-task=astrology: unknown BRIGHT task 'astrology'"),
                startupFailure(context).getMessage()));
        runner.withPropertyValues("reasonir.base-url=localhost:8080").run(context -> assertTrue(
                startupFailure(context).getMessage().startsWith("invalid client settings (reasonir.base-url="
                        + "localhost:8080"), startupFailure(context).getMessage()));
    }

    /** The {@link ReasonIRConfigurationException} somewhere in the causes of the context's startup failure. */
    static ReasonIRConfigurationException startupFailure(AssertableApplicationContext context) {
        Throwable failure = context.getStartupFailure();
        assertNotNull(failure, "the context started");
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof ReasonIRConfigurationException e) return e;
        }
        throw new AssertionError("no ReasonIRConfigurationException in " + failure, failure);
    }
}
