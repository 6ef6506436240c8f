package dev.reasonir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code reasonir index --device cuda:all} when a device dies under it: on the CUDA emulator with four devices and a
 * sticky fault on cuda:3 inside its first batch (cli/pom.xml, execution {@code emulated-gpu-fault}:
 * {@code EMU_FAULT=3:50:cudaErrorIllegalAddress}; h256_l4 opens with 38 launches and runs a batch in 24). The pool
 * takes cuda:3 out with a warning, runs its batch on another device, and the index completes with exactly the bytes
 * of the one-device index. Launches are counted per device from the start of a process, so nothing else in this JVM
 * may use cuda:3 first (the serve test runs in a child JVM with its own counts). Skipped elsewhere.
 */
class CliDeviceFaultEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();

    @TempDir
    Path tmp;

    @Test
    void indexOnCudaAllCompletesWithoutTheFaultyDevice() throws Exception {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && fault != null && fault.startsWith("3:50:"),
                "needs the emulator with a fault in cuda:3's first batch");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
        Path model = EmulatedCli.model();
        Path corpus = EmulatedCli.corpus(tmp.resolve("docs.jsonl"), 16);
        // The reference on cuda:0 alone first (cuda:3 untouched), then the pool.
        EmulatedCli.Run one = EmulatedCli.run("index", "--model", model.toString(), "--corpus", corpus.toString(),
                "--out", tmp.resolve("one").toString(), "--device", "cuda:0", "--max-length", "64",
                "--batch-tokens", "32");
        assertEquals(0, one.status(), one.err());
        try (EmulatedCli.EngineLog log = new EmulatedCli.EngineLog()) {
            EmulatedCli.Run all = EmulatedCli.run("index", "--model", model.toString(), "--corpus",
                    corpus.toString(), "--out", tmp.resolve("all").toString(), "--device", "cuda:all",
                    "--max-length", "64", "--batch-tokens", "32");
            assertEquals(0, all.status(), all.err());
            assertTrue(all.err().contains("indexed 16 documents"), all.err());
            // cuda:3 took a batch (16 documents of one or two a batch, dealt to four devices), failed in it, and
            // was taken out; its batch ran on another device.
            assertTrue(log.lines().stream().anyMatch(l -> l.startsWith("WARNING device cuda:3 taken out of the pool")
                    && l.contains("3 of 4 devices left; its batch is retried on another")), log.lines().toString());
            assertEquals(1, log.lines().stream().filter(l -> l.contains("taken out of the pool")).count(),
                    log.lines().toString());
        }
        EmulatedCli.assertSameIndex(tmp.resolve("one"), tmp.resolve("all"));
    }

    /**
     * {@code serve --device cuda:all} when a device dies under it, in a child JVM with the same fault (its own launch
     * counts): every request is answered with the vectors of one device, cuda:3 is taken out, {@code /metrics} shows
     * it down and {@code /health} answers 200 "degraded" naming it.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void serveOnCudaAllKeepsServingAndSaysDegraded() throws Exception {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && fault != null && fault.startsWith("3:50:"),
                "needs the emulator with a fault in cuda:3's first batch");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
        Path model = EmulatedCli.model();
        try (EmulatedCli.Served served = EmulatedCli.serve(model, "--device", "cuda:all", "--max-length", "64",
                "--max-batch-tokens", "32")) {
            URI base = served.base();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            // Rounds of concurrent requests until cuda:3 has taken a batch (and failed in it).
            List<List<String>> requests = new ArrayList<>();
            List<float[][]> answers = new ArrayList<>();
            ExecutorService clients = Executors.newFixedThreadPool(6);
            String metrics = "";
            try {
                for (int round = 0; round < 5 && !metrics.contains("reasonir_device_up{device=\"cuda:3\"} 0"); round++) {
                    List<Future<float[][]>> pending = new ArrayList<>();
                    for (int c = 0; c < 6; c++) {
                        List<String> inputs = List.of("round " + round + " client " + c + " on the cell membrane",
                                "sediment " + c + " in river " + round);
                        requests.add(inputs);
                        pending.add(clients.submit(() -> CliDevicePoolEmulatedTest.embed(http, base, inputs)));
                    }
                    for (Future<float[][]> f : pending) answers.add(f.get(2, TimeUnit.MINUTES));
                    metrics = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).GET().build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                }
            } finally {
                clients.shutdownNow();
            }
            assertTrue(metrics.contains("reasonir_device_up{device=\"cuda:3\"} 0\n"), metrics);
            assertTrue(metrics.contains("reasonir_device_failures_total{device=\"cuda:3\"} 1\n"), metrics);
            for (int k = 0; k < 3; k++) {
                assertTrue(metrics.contains("reasonir_device_up{device=\"cuda:" + k + "\"} 1\n"), metrics);
            }
            HttpResponse<String> health = http.send(HttpRequest.newBuilder(base.resolve("/health")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode(), health.body());
            JsonNode h = new ObjectMapper().readTree(health.body());
            assertEquals("degraded", h.get("status").asText(), health.body());
            assertEquals("cuda:3", h.get("failed_devices").get(0).asText(), health.body());
            // every answer, the failed device's batch included, is one device's
            try (ReasonIR m = ReasonIR.open(model, Options.defaults().withDevice("cuda:0").withMaxLength(64))) {
                for (int r = 0; r < requests.size(); r++) {
                    float[][] want = m.embedDocuments(requests.get(r));
                    for (int i = 0; i < want.length; i++) {
                        assertArrayEquals(want[i], answers.get(r)[i], "request " + r + ", input " + i);
                    }
                }
            }
        }
    }
}
