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
 * Graceful shutdown: a request in flight when close() starts is answered in full; new connections are refused and
 * new requests on open connections get 503; close() returns once the in-flight request is answered; the model stays
 * open for its owner.
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

            // A new connection is refused; a request on an already open connection gets 503.
            HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            UncheckedIOException refused = assertThrows(UncheckedIOException.class, () -> send(fresh, server,
                    "/health"));
            assertTrue(refused.getCause() instanceof ConnectException, refused.toString());
            var during = sendPost(keepAlive, server, "/embed", "{\"inputs\":\"too late\"}");
            assertEquals(503, during.statusCode(), during.body());
            assertEquals("Unhealthy", TestServer.json(during).get("error_type").textValue());

            pause.release.countDown();
            HttpResponse<String> done = slow.get(30, TimeUnit.SECONDS);
            assertSameVectors(model.embed(List.of("slow one", "slow two"), Instructions.DOCUMENT).vectors(),
                    teiVectors(expect(200, done)));
            closing.get(30, TimeUnit.SECONDS);
            server.close();  // idempotent
            assertEquals(256, model.dimension(), "the server does not close the caller's model");
            assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.isAlive()
                            && (t.getName().startsWith("reasonir-http") || t.getName().startsWith("reasonir-batcher"))),
                    "server threads are gone");
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
