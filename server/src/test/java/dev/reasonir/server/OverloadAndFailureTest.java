package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.reasonir.server.TestServer.HTTP;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.get;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.uri;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 429 (too many in flight, queue timeout), 422 Tokenizer (a model folder without tokenizer.json) and 424 (engine
 * failure: the model closed under the server).
 */
class OverloadAndFailureTest {

    /** Makes the batcher wait before its next engine call until {@link #release} is counted down. */
    static final class Pause {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        Pause(EmbeddingServer server) {
            server.batcher().beforeBatch = n -> {
                entered.countDown();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
        }

        void awaitEntered() throws InterruptedException {
            assertTrue(entered.await(30, TimeUnit.SECONDS), "the batcher never started a batch");
        }
    }

    static CompletableFuture<HttpResponse<String>> postAsync(EmbeddingServer server, String path, String body) {
        return HTTP.sendAsync(HttpRequest.newBuilder(uri(server, path)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void moreRequestsInFlightThanTheLimitGet429() throws Exception {
        try (ReasonIR model = TestServer.open();
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().maxConcurrentRequests(1)
                     .build())) {
            Pause pause = new Pause(server);
            var first = postAsync(server, "/embed", "{\"inputs\":\"first\"}");
            pause.awaitEntered();
            var e = expect(429, post(server, "/embed", "{\"inputs\":\"second\"}"));
            assertEquals("Overloaded", e.get("error_type").textValue());
            assertTrue(e.get("error").textValue().contains("maxConcurrentRequests"), e.toString());
            JsonNode openAi = expect(429, post(server, "/v1/embeddings", "{\"input\":\"third\"}")).get("error");
            assertEquals("overloaded", openAi.get("code").textValue());
            expect(200, get(server, "/health"));  // health and metrics are not work: never refused for load
            pause.release.countDown();
            expect(200, first.get(30, TimeUnit.SECONDS));
            expect(200, post(server, "/embed", "{\"inputs\":\"after\"}"));
            assertTrue(get(server, "/metrics").body().contains("reasonir_requests_total{endpoint=\"/embed\","
                    + "status=\"429\"} 1"));
        }
    }

    @Test
    void aRequestThatWaitedLongerThanTheQueueTimeoutGets429() throws Exception {
        try (ReasonIR model = TestServer.open();
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config()
                     .queueTimeout(Duration.ofMillis(200)).build())) {
            Pause pause = new Pause(server);
            var first = postAsync(server, "/embed", "{\"inputs\":\"first\"}");
            pause.awaitEntered();
            var late = postAsync(server, "/v1/embeddings", "{\"input\":\"late\"}");
            while (server.batcher().queuedRequests() < 1) Thread.sleep(5);
            Thread.sleep(400);
            pause.release.countDown();
            expect(200, first.get(30, TimeUnit.SECONDS));
            JsonNode e = expect(429, late.get(30, TimeUnit.SECONDS)).get("error");
            assertTrue(e.get("message").textValue().contains("queue timeout"), e.toString());
            assertEquals(1, server.metrics().droppedCount("queue_timeout"));
        }
    }

    /**
     * The 429 comes when the queue timeout is up, wherever the request is in the queue: here while the batcher is
     * still busy with the batch before it (the soak found 429s arriving only when the batcher reached the request).
     */
    @Test
    void theQueueTimeout429ArrivesWhileTheBatcherIsStillBusy() throws Exception {
        try (ReasonIR model = TestServer.open();
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config()
                     .queueTimeout(Duration.ofMillis(300)).build())) {
            Pause pause = new Pause(server);
            try {
                var first = postAsync(server, "/embed", "{\"inputs\":\"first\"}");
                pause.awaitEntered();
                var behind = postAsync(server, "/embed", "{\"inputs\":[\"one\",\"two\"]}");
                var late = postAsync(server, "/v1/embeddings", "{\"input\":\"late\"}");
                // Both get their 429 while the first request is still inside the (paused) engine call.
                JsonNode tei = expect(429, behind.get(30, TimeUnit.SECONDS));
                assertEquals("Overloaded", tei.get("error_type").textValue());
                JsonNode e = expect(429, late.get(30, TimeUnit.SECONDS)).get("error");
                assertTrue(e.get("message").textValue().contains("more than the queue timeout of 300 ms"),
                        e.toString());
                assertFalse(first.isDone(), "the first request is still inside the engine call");
                assertEquals(0, server.batcher().queuedRequests(), "timed-out requests leave the queue at once");
                assertEquals(0, server.batcher().queuedInputs());
                assertEquals(2, server.metrics().droppedCount("queue_timeout"));
                pause.release.countDown();
                expect(200, first.get(30, TimeUnit.SECONDS));
                expect(200, post(server, "/embed", "{\"inputs\":\"after\"}"));
            } finally {
                pause.release.countDown();
            }
        }
    }

    @Test
    void withoutATokenizerTextIs422TokenizerAndTokenIdsStillWork() throws Exception {
        // The bare generated checkpoint: no tokenizer.json. The server starts (token ids need no tokenizer).
        Path bare = Path.of(System.getProperty("reasonir.generated"), "h256_l4");
        try (ReasonIR model = ReasonIR.open(bare, Options.defaults().withDevice("cpu"));
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().build())) {
            JsonNode e = expect(422, post(server, "/embed", "{\"inputs\":\"text\"}"));
            assertEquals("Tokenizer", e.get("error_type").textValue());
            assertTrue(e.get("error").textValue().contains("tokenizer.json"), e.toString());
            assertEquals("Tokenizer", expect(422, post(server, "/tokenize", "{\"inputs\":\"text\"}"))
                    .get("error_type").textValue());
            expect(422, post(server, "/v1/embeddings", "{\"input\":\"text\"}"));
            expect(200, post(server, "/v1/embeddings", "{\"input\":[128000, 15339]}"));
            expect(200, get(server, "/health"));
        }
    }

    @Test
    void anEngineFailureIs424AndMakesTheServerUnhealthy() throws Exception {
        ReasonIR model = TestServer.open();
        try (EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().build())) {
            expect(200, post(server, "/embed", "{\"inputs\":\"fine\"}"));
            model.close();  // the caller closes the model under a running server
            // Token ids skip the tokenizer: the failure comes from the engine call in the batcher.
            JsonNode tei = expect(424, post(server, "/embed", "{\"inputs\":[128000, 15339]}"));
            assertEquals("Backend", tei.get("error_type").textValue());
            assertTrue(tei.get("error").textValue().contains("closed"), tei.toString());
            // Text fails in the tokenizer, on the request thread: a backend failure too.
            JsonNode openAi = expect(424, post(server, "/v1/embeddings", "{\"input\":\"text\"}")).get("error");
            assertEquals("backend_error", openAi.get("code").textValue());
            JsonNode health = expect(503, get(server, "/health"));
            assertEquals("Unhealthy", health.get("error_type").textValue());
            assertEquals("unhealthy", health.get("status").textValue());
            assertTrue(health.get("error").textValue().contains("closed"), health.toString());
        } finally {
            model.close();
        }
    }
}
