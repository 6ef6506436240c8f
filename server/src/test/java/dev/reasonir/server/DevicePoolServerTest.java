package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.DeviceInfo;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.json;
import static dev.reasonir.server.TestServer.openAiVectors;
import static dev.reasonir.server.TestServer.post;
import static dev.reasonir.server.TestServer.quote;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server over a device pool (here two CPU engines, {@code cpu*2}; on a GPU node {@code cuda:all}): one batcher
 * thread per engine keeps both busy, every response is bit-identical to the Java API on one engine, /metrics counts
 * per device, and /health says "degraded" when a pool has lost devices but still serves.
 */
class DevicePoolServerTest {
    static final int CLIENTS = 8;
    static final int REQUESTS = 12;

    @Test
    void bothEnginesServeAndEveryResponseIsTheJavaApis() throws Exception {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 16; i++) texts.add("passage " + i + " on the colour of leaves in autumn".repeat(1 + i % 3));
        try (ReasonIR one = TestServer.open();
             ReasonIR pool = ReasonIR.open(TestServer.modelDir(),
                     Options.defaults().withDevice("cpu*2").withMaxLength(512));
             EmbeddingServer server = EmbeddingServer.start(pool, TestServer.config().maxBatchTokens(256).build())) {
            assertEquals(2, pool.devices().size());
            float[][] expected = one.embed(texts, Instructions.DOCUMENT).vectors();
            ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                done.add(clients.submit(() -> {
                    for (int r = 0; r < REQUESTS; r++) {
                        int first = (client * 5 + r * 3) % texts.size();
                        int n = 1 + (client + r) % 6;
                        StringBuilder input = new StringBuilder("[");
                        float[][] want = new float[n][];
                        for (int k = 0; k < n; k++) {
                            int i = (first + k) % texts.size();
                            input.append(k > 0 ? "," : "").append(quote(texts.get(i)));
                            want[k] = expected[i];
                        }
                        HttpResponse<String> resp = post(server, "/v1/embeddings", "{\"input\":" + input + "]}");
                        if (resp.statusCode() != 200) {
                            failures.add(resp.statusCode() + " " + resp.body());
                            continue;
                        }
                        try {
                            assertSameVectors(want, openAiVectors(json(resp)));
                        } catch (AssertionError e) {
                            failures.add("client " + client + " request " + r + ": " + e.getMessage());
                        }
                    }
                }));
            }
            for (Future<?> f : done) f.get(5, TimeUnit.MINUTES);
            clients.shutdown();
            assertTrue(failures.isEmpty(), failures.size() + " failures, first: " + failures.peek());

            String metrics = TestServer.get(server, "/metrics").body();
            long total = 0;
            for (String name : List.of("cpu#0", "cpu#1")) {
                Matcher m = Pattern.compile("reasonir_device_batches_total\\{device=\"" + Pattern.quote(name)
                        + "\"} (\\d+)").matcher(metrics);
                assertTrue(m.find(), metrics);
                long batches = Long.parseLong(m.group(1));
                assertTrue(batches > 0, name + " got no batch: " + metrics);
                total += batches;
                assertTrue(metrics.contains("reasonir_device_up{device=\"" + name + "\"} 1"), metrics);
            }
            assertEquals(pool.devices().stream().mapToLong(DeviceInfo::batches).sum(), total);
            JsonNode health = json(TestServer.get(server, "/health"));
            assertEquals("ok", health.get("status").asText());
        }
    }

    @Test
    void healthSaysDegradedWhileAPoolHasDevicesLeft() throws Exception {
        DeviceInfo ok = new DeviceInfo("cuda:0", "cuda:0 (GPU)", DeviceInfo.State.HEALTHY, 5, 500, 0, null, 1, 1);
        DeviceInfo failed = new DeviceInfo("cuda:1", "cuda:1 (GPU)", DeviceInfo.State.FAILED, 2, 200, 1,
                "cudaErrorIllegalAddress", 1, 1);
        Endpoints.Response degraded = Endpoints.healthy(List.of(ok, failed));
        assertEquals(200, degraded.status());
        JsonNode body = TestServer.JSON.readTree(new String(degraded.body(), StandardCharsets.UTF_8));
        assertEquals("degraded", body.get("status").asText());
        assertEquals("cuda:1", body.get("failed_devices").get(0).asText());
        assertEquals(2, body.get("devices").asInt());
        // all healthy, or a single engine (whose failure is reported through the engine-failure path): ok
        for (List<DeviceInfo> devices : List.of(List.of(ok, ok), List.of(failed), List.<DeviceInfo>of())) {
            Endpoints.Response r = Endpoints.healthy(devices);
            assertEquals("{\"status\":\"ok\"}", new String(r.body(), StandardCharsets.UTF_8), devices.toString());
        }
    }
}
