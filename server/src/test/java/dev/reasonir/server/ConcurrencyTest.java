package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.json;
import static dev.reasonir.server.TestServer.openAiVectors;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.quote;
import static dev.reasonir.server.TestServer.teiVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 64 concurrent clients x 50 requests each, mixing OpenAI and TEI routes, prompts and batch sizes: every response is
 * a 200 whose vectors are bit-identical to the Java API called serially on the same texts, nothing is lost, and the
 * batcher really packed requests together.
 */
class ConcurrencyTest {
    static final int CLIENTS = 64;
    static final int REQUESTS = 50;

    @Test
    void concurrentClientsGetExactlyTheSerialResults() throws Exception {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 24; i++) texts.add("text " + i + (i % 3 == 0 ? " about the sky" : ""));
        // Short inputs and a short query prompt keep the engine work (the bottleneck on 2 cores) small.
        List<String> prompts = List.of("document", "q");
        try (ReasonIR model = TestServer.open();
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config()
                     .prompt("q", Instructions.query("find it")).build())) {
            // Serial reference: the Java API on each (text, prompt) alone.
            Map<String, float[]> expected = new HashMap<>();
            for (String p : prompts) {
                String instruction = server.config().prompts().get(p);
                float[][] v = model.embed(texts, instruction).vectors();
                for (int i = 0; i < texts.size(); i++) expected.put(p + "|" + i, v[i]);
            }

            ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger ok = new AtomicInteger();
            long t0 = System.nanoTime();
            List<Future<?>> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                clients.add(pool.submit(() -> {
                    for (int r = 0; r < REQUESTS; r++) {
                        int n = 1 + (client + r) % 3;
                        int[] idx = new int[n];
                        for (int k = 0; k < n; k++) idx[k] = (client * 7 + r * 5 + k * 11) % texts.size();
                        String prompt = prompts.get((client + r) % 2);
                        boolean openAi = (client * 3 + r) % 2 == 0;
                        StringBuilder input = new StringBuilder("[");
                        for (int k = 0; k < n; k++) input.append(k > 0 ? "," : "").append(quote(texts.get(idx[k])));
                        input.append(']');
                        HttpResponse<String> resp = openAi
                                ? post(server, "/v1/embeddings", "{\"input\":" + input + ",\"prompt_name\":"
                                        + quote(prompt) + (r % 2 == 0 ? ",\"encoding_format\":\"base64\"" : "") + "}")
                                : post(server, "/embed", "{\"inputs\":" + input + ",\"prompt_name\":" + quote(prompt)
                                        + "}");
                        if (resp.statusCode() != 200) {
                            failures.add(resp.statusCode() + " " + resp.body());
                            continue;
                        }
                        JsonNode body = json(resp);
                        float[][] got = openAi ? openAiVectors(body) : teiVectors(body);
                        float[][] want = new float[n][];
                        for (int k = 0; k < n; k++) want[k] = expected.get(prompt + "|" + idx[k]);
                        try {
                            assertSameVectors(want, got);
                            ok.incrementAndGet();
                        } catch (AssertionError e) {
                            failures.add("client " + client + " request " + r + ": " + e.getMessage());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : clients) f.get(120, TimeUnit.SECONDS);
            pool.shutdown();
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(failures.isEmpty(), () -> failures.size() + " failures, first: " + failures.peek());
            assertEquals(CLIENTS * REQUESTS, ok.get());
            long batches = server.metrics().batchCount();
            System.out.printf("%d requests from %d clients in %.1f s (%.0f req/s), %d engine batches%n",
                    ok.get(), CLIENTS, seconds, ok.get() / seconds, batches);
            assertTrue(batches < CLIENTS * REQUESTS, "requests were batched together: " + batches + " batches");
            String metrics = TestServer.get(server, "/metrics").body();
            metrics.lines().filter(l -> l.startsWith("reasonir_engine_seconds_total")
                    || l.startsWith("reasonir_tokens_embedded_total")).forEach(System.out::println);
            assertTrue(metrics.contains("reasonir_requests_in_flight 0"), metrics);
            assertTrue(metrics.contains("reasonir_queue_depth 0"), metrics);
        }
    }
}
