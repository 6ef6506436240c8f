package dev.reasonir.server;

import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.expect;
import static dev.reasonir.server.TestServer.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dynamic batcher: packing across requests in arrival order under the token budget, requests spanning batches,
 * normalize changes, an over-budget input alone, bit-exact results per request, and requests dropped before
 * computing when their client is gone.
 */
class BatchingTest {
    static ReasonIR model;

    @BeforeAll
    static void open() throws Exception {
        model = TestServer.open();
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    private static TokenizedInput tokens(Random rnd, int n) {
        int[] ids = new int[n];
        ids[0] = 128000;
        for (int i = 1; i < n; i++) ids[i] = rnd.nextInt(120000);
        return TokenizedInput.of(ids, 0);
    }

    @Test
    void packsAcrossRequestsInArrivalOrderUnderTheTokenBudget() throws Exception {
        Random rnd = new Random(3);
        Metrics metrics = new Metrics();
        try (Batcher batcher = new Batcher(model, 40, Duration.ZERO, metrics)) {
            List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch release = new CountDownLatch(1);
            batcher.beforeBatch = n -> {
                sizes.add(n);
                if (sizes.size() == 1) {
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            List<List<TokenizedInput>> jobs = List.of(
                    List.of(tokens(rnd, 5)),                                 // runs alone while the rest queue up
                    List.of(tokens(rnd, 12), tokens(rnd, 12)),               // 24 tokens
                    List.of(tokens(rnd, 12), tokens(rnd, 12), tokens(rnd, 12)),  // 1 joins the batch above, 2 next
                    List.of(tokens(rnd, 8)),                                 // normalize=false: a batch of its own
                    List.of(tokens(rnd, 50), tokens(rnd, 3)));               // 50 > budget: alone, then 3
            boolean[] normalize = {true, true, true, false, true};
            List<CompletableFuture<float[][]>> futures = new ArrayList<>();
            futures.add(batcher.submit(jobs.get(0), normalize[0], () -> false));
            while (sizes.isEmpty()) Thread.sleep(1);
            for (int j = 1; j < jobs.size(); j++) futures.add(batcher.submit(jobs.get(j), normalize[j], () -> false));
            assertEquals(8, batcher.queuedInputs());
            assertEquals(4, batcher.queuedRequests());
            release.countDown();
            for (int j = 0; j < jobs.size(); j++) {
                float[][] alone = model.embedTokens(jobs.get(j), normalize[j]).vectors();
                assertSameVectors(alone, futures.get(j).get(30, TimeUnit.SECONDS));
            }
            // [5] | [12 12 12] (2 requests) | [12 12] | [8] normalize=false | [50] alone | [3]
            assertEquals(List.of(1, 3, 2, 1, 1, 1), sizes);
            assertEquals(0, batcher.queuedInputs());
            assertEquals(0, batcher.queuedRequests());
            assertEquals(6, metrics.batchCount());
            assertEquals(1 + 8, metrics.inputsEmbedded());
        }
    }

    /**
     * Fair share: a 1-input request queued behind four 64-input requests goes into the very next batch (a strict FIFO
     * would compute it after all 256 inputs), while the large requests still finish in arrival order.
     */
    @Test
    void aShortRequestIsNotQueuedBehindLargeOnes() throws Exception {
        Random rnd = new Random(5);
        Metrics metrics = new Metrics();
        // 10 tokens per input, 100 per batch: 10 inputs per batch, at most 5 of them from the fair pass.
        try (Batcher batcher = new Batcher(model, 100, Duration.ZERO, metrics)) {
            CountDownLatch release = new CountDownLatch(1);
            List<Integer> sizes = Collections.synchronizedList(new ArrayList<>());
            batcher.beforeBatch = n -> {
                sizes.add(n);
                if (sizes.size() == 1) {
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            var first = batcher.submit(List.of(tokens(rnd, 10)), true, () -> false);
            while (sizes.isEmpty()) Thread.sleep(1);
            List<List<TokenizedInput>> large = new ArrayList<>();
            List<CompletableFuture<float[][]>> largeFutures = new ArrayList<>();
            // The batch in which each request completed (futures complete on the batcher thread, after the hook).
            List<Integer> largeDoneAt = Collections.synchronizedList(new ArrayList<>());
            for (int r = 0; r < 4; r++) {
                List<TokenizedInput> inputs = new ArrayList<>();
                for (int i = 0; i < 64; i++) inputs.add(tokens(rnd, 10));
                large.add(inputs);
                int request = r;
                largeFutures.add(batcher.submit(inputs, true, () -> false));
                largeFutures.get(r).thenRun(() -> largeDoneAt.add(request));
            }
            List<TokenizedInput> query = List.of(tokens(rnd, 10));
            int[] queryDoneAfter = {-1};
            var small = batcher.submit(query, true, () -> false);
            small.thenRun(() -> queryDoneAfter[0] = sizes.size());
            release.countDown();
            assertSameVectors(model.embedTokens(query, true).vectors(), small.get(30, TimeUnit.SECONDS));
            first.get(30, TimeUnit.SECONDS);
            for (int r = 0; r < 4; r++) {
                assertSameVectors(model.embedTokens(large.get(r), true).vectors(),
                        largeFutures.get(r).get(60, TimeUnit.SECONDS));
            }
            assertEquals(2, queryDoneAfter[0], "the query completes in the first batch after the busy one");
            assertEquals(List.of(0, 1, 2, 3), largeDoneAt, "large requests finish in arrival order");
            assertEquals(1 + 26, sizes.size(), "the batches stay full: 257 inputs, 10 per batch");
            assertEquals(0, batcher.queuedInputs());
            assertEquals(0, batcher.queuedRequests());
        }
    }

    @Test
    void requestsWhoseClientLeftAreDroppedBeforeComputing() throws Exception {
        Random rnd = new Random(4);
        Metrics metrics = new Metrics();
        try (Batcher batcher = new Batcher(model, 1000, Duration.ZERO, metrics)) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            batcher.beforeBatch = n -> {
                entered.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            var first = batcher.submit(List.of(tokens(rnd, 4)), true, () -> false);
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            boolean[] gone = {false};
            var left = batcher.submit(List.of(tokens(rnd, 4), tokens(rnd, 4)), true, () -> gone[0]);
            var cancelled = batcher.submit(List.of(tokens(rnd, 4)), true, () -> false);
            var kept = batcher.submit(List.of(tokens(rnd, 6)), true, () -> false);
            gone[0] = true;
            cancelled.cancel(false);
            release.countDown();
            first.get(30, TimeUnit.SECONDS);
            kept.get(30, TimeUnit.SECONDS);
            assertThrows(CancellationException.class, () -> left.getNow(null));
            assertEquals(2, metrics.droppedCount("client_gone"));
            assertEquals(2, metrics.inputsEmbedded(), "only 'first' and 'kept' were computed");
            assertEquals(0, batcher.queuedInputs());
        }
    }

    @Test
    void aClientThatClosesItsConnectionIsDroppedFromTheQueue() throws Exception {
        try (EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().build())) {
            OverloadAndFailureTest.Pause pause = new OverloadAndFailureTest.Pause(server);
            var first = OverloadAndFailureTest.postAsync(server, "/embed", "{\"inputs\":\"first\"}");
            pause.awaitEntered();
            String body = "{\"input\":[\"never computed\",\"nor this\"]}";
            try (Socket s = new Socket("127.0.0.1", server.port())) {
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (server.batcher().queuedRequests() < 1 && System.nanoTime() < deadline) Thread.sleep(2);
                assertEquals(2, server.batcher().queuedInputs());
            }
            Thread.sleep(300);  // Netty sees the FIN and marks the channel inactive
            long before = server.metrics().inputsEmbedded();
            pause.release.countDown();
            expect(200, first.get(30, TimeUnit.SECONDS));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (server.metrics().droppedCount("client_gone") < 1 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, server.metrics().droppedCount("client_gone"));
            assertEquals(before + 1, server.metrics().inputsEmbedded(), "only 'first' was computed");
            expect(200, post(server, "/embed", "{\"inputs\":\"the server goes on\"}"));
            assertTrue(TestServer.get(server, "/metrics").body().contains("reasonir_requests_in_flight 0"));
        }
    }
}
