package dev.reasonir.server;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.teiVectors;
import static dev.reasonir.server.TestServer.uri;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Graceful shutdown: a request in flight when close() starts is answered in full; while it is, the listener stays
 * open and new requests, on new connections as on open ones, get 503 ({@code /health} too); close() returns once the
 * in-flight request is answered, and only then are new connections refused; the model stays open for its owner. The
 * drain grace keeps the listener open (and {@code /health} at 503) even with nothing in flight; the shutdown timeout
 * bounds the wait for requests in flight.
 */
class ShutdownTest {
    @Test
    void inFlightRequestsFinishAndNewOnesAreRefused() throws Exception {
        try (ReasonIR model = TestServer.open()) {
            EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().build());
            // A client whose connection is open before shutdown starts (it sends one request now, one during it).
            HttpClient keepAlive = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            assertEquals(200, send(keepAlive, server, "/health").statusCode());

            OverloadAndFailureTest.Pause pause = new OverloadAndFailureTest.Pause(server);
            String slowBody = "{\"inputs\":[\"slow one\",\"slow two\"]}";
            var slow = OverloadAndFailureTest.postAsync(server, "/embed", slowBody);
            pause.awaitEntered();  // the slow request is inside the engine call

            CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!server.draining() && System.nanoTime() < deadline) Thread.sleep(1);
            Thread.sleep(100);  // the listening socket is being closed
            assertFalse(closing.isDone(), "close() waits for the request in flight");

            // While a request is in flight the listener stays open (issue 20: the docs promised 503 while draining,
            // and a load balancer must see /health fail before the port closes; this test asserted a refused
            // connection before). A new connection gets 503 on /health and on work, with Connection: close; a
            // request on an already open connection gets 503.
            HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            var health = send(fresh, server, "/health");
            assertEquals(503, health.statusCode(), health.body());
            assertEquals("server is shutting down", TestServer.json(health).get("error").textValue());
            assertEquals("close", health.headers().firstValue("Connection").orElse(""));
            var freshWork = sendPost(fresh, server, "/v1/embeddings", "{\"input\":\"too late\"}");
            assertEquals(503, freshWork.statusCode(), freshWork.body());
            assertEquals("unhealthy", TestServer.json(freshWork).get("error").get("code").textValue());
            var during = sendPost(keepAlive, server, "/embed", "{\"inputs\":\"too late\"}");
            assertEquals(503, during.statusCode(), during.body());
            assertEquals("Unhealthy", TestServer.json(during).get("error_type").textValue());
            assertFalse(closing.isDone(), "close() still waits for the request in flight");

            pause.release.countDown();
            HttpResponse<String> done = slow.get(30, TimeUnit.SECONDS);
            assertSameVectors(model.embed(List.of("slow one", "slow two"), Instructions.DOCUMENT).vectors(),
                    teiVectors(expect(200, done)));
            closing.get(30, TimeUnit.SECONDS);
            // Once close() has returned, the port is closed: a new connection is refused.
            UncheckedIOException refused = assertThrows(UncheckedIOException.class, () -> send(
                    HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build(), server, "/health"));
            assertTrue(refused.getCause() instanceof ConnectException, refused.toString());
            server.close();  // idempotent
            assertEquals(256, model.dimension(), "the server does not close the caller's model");
            assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.isAlive()
                            && (t.getName().startsWith("reasonir-http") || t.getName().startsWith("reasonir-batcher"))),
                    "server threads are gone");
        }
    }

    /**
     * With a drain grace and nothing in flight, close() keeps the listener open for the grace: new connections get
     * 503 on /health and on work, so that a load balancer takes the server out before its port closes; then the port
     * closes.
     */
    @Test
    void theDrainGraceKeepsTheListenerOpenWithHealthFailing() throws Exception {
        Duration grace = Duration.ofSeconds(2);
        try (ReasonIR model = TestServer.open()) {
            EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().drainGrace(grace).build());
            expect(200, TestServer.get(server, "/health"));
            long t0 = System.nanoTime();
            CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!server.draining() && System.nanoTime() < deadline) Thread.sleep(1);
            HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            var health = send(fresh, server, "/health");
            assertEquals(503, health.statusCode(), health.body());
            assertEquals("unhealthy", TestServer.json(health).get("status").textValue());
            var work = sendPost(fresh, server, "/embed", "{\"inputs\":\"during the grace\"}");
            assertEquals(503, work.statusCode(), work.body());
            closing.get(30, TimeUnit.SECONDS);
            assertTrue(System.nanoTime() - t0 >= grace.toNanos(), "close() kept the listener open for the grace");
            UncheckedIOException refused = assertThrows(UncheckedIOException.class, () -> send(fresh, server,
                    "/health"));
            assertTrue(refused.getCause() instanceof ConnectException, refused.toString());
        }
    }

    /**
     * The shutdown timeout bounds close(): with a batch stuck in the engine past it, close() returns anyway, the
     * request still queued gets 503, and the connection of the one computing is closed.
     */
    @Test
    void theShutdownTimeoutBoundsTheWaitForRequestsInFlight() throws Exception {
        try (ReasonIR model = TestServer.open()) {
            EmbeddingServer server = EmbeddingServer.start(model, TestServer.config()
                    .shutdownTimeout(Duration.ofSeconds(1)).build());
            // Like OverloadAndFailureTest.Pause, but deaf to the interrupt close() sends the batcher: an engine call
            // cannot be interrupted either.
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            server.batcher().beforeBatch = n -> {
                entered.countDown();
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (release.getCount() > 0 && System.nanoTime() < until) {
                    try {
                        release.await(10, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException ignored) {
                        // keep blocking, as the engine would
                    }
                }
            };
            var stuck = OverloadAndFailureTest.postAsync(server, "/embed", "{\"inputs\":\"stuck in the engine\"}");
            assertTrue(entered.await(30, TimeUnit.SECONDS), "the batcher never started a batch");
            var queued = OverloadAndFailureTest.postAsync(server, "/v1/embeddings", "{\"input\":\"queued behind\"}");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (server.batcher().queuedRequests() < 1 && System.nanoTime() < deadline) Thread.sleep(2);
            try {
                // The engine call is still held by the pause: close() returns without it.
                CompletableFuture.runAsync(server::close).get(30, TimeUnit.SECONDS);
                HttpResponse<String> cut = queued.get(30, TimeUnit.SECONDS);
                assertEquals(503, cut.statusCode(), cut.body());
                assertEquals("unhealthy", TestServer.json(cut).get("error").get("code").textValue());
                assertTrue(assertThrows(java.util.concurrent.ExecutionException.class,
                        () -> stuck.get(30, TimeUnit.SECONDS)).getCause() instanceof java.io.IOException,
                        "the connection of the request still computing is closed");
            } finally {
                release.countDown();
            }
            // The stuck batch finishes on its own (its answer has nowhere to go) before the model closes.
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (server.metrics().batchCount() < 1 && System.nanoTime() < until) Thread.sleep(5);
            assertEquals(1, server.metrics().batchCount());
        }
    }

    private static HttpResponse<String> send(HttpClient client, EmbeddingServer server, String path) {
        return TestServer.send(client, HttpRequest.newBuilder(uri(server, path)).timeout(Duration.ofSeconds(30)).GET()
                .build());
    }

    private static HttpResponse<String> sendPost(HttpClient client, EmbeddingServer server, String path,
                                                 String body) {
        return TestServer.send(client, HttpRequest.newBuilder(uri(server, path)).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }
}
