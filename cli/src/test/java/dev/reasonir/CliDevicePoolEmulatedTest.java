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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code reasonir index --device cuda:all} and {@code reasonir serve --device cuda:all} on the CUDA emulator with four
 * devices (cli/pom.xml, execution {@code emulated-gpu-pool}): the index is the bytes of the one-device index, and the
 * server answers several concurrent clients with the Java API's vectors on cuda:0, bit for bit, and reports the four
 * devices in /metrics. Skipped elsewhere.
 */
class CliDevicePoolEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();

    @TempDir
    Path tmp;

    static void assumeFourDevices() {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && (fault == null || fault.isEmpty()), "needs the emulator without a fault");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
    }

    @Test
    void indexOnCudaAllIsTheOneDeviceIndex() throws Exception {
        assumeFourDevices();
        Path model = EmulatedCli.model();
        Path corpus = EmulatedCli.corpus(tmp.resolve("docs.jsonl"), 16);
        try (EmulatedCli.EngineLog log = new EmulatedCli.EngineLog()) {
            for (String device : List.of("cuda:0", "cuda:all")) {
                // --batch-tokens 32: one or two documents a batch, so the one chunk is many batches for four devices
                EmulatedCli.Run r = EmulatedCli.run("index", "--model", model.toString(), "--corpus",
                        corpus.toString(), "--out", tmp.resolve("index-" + device).toString(), "--device", device,
                        "--max-length", "64", "--batch-tokens", "32");
                assertEquals(0, r.status(), r.err());
                assertTrue(r.err().contains("indexed 16 documents"), r.err());
            }
            // A device set logs each engine it opened; which device ran which batch is not visible to the CLI (the
            // core's DevicePoolEmulatedTest checks through devices() that the batches spread).
            for (int k = 0; k < 4; k++) {
                String opened = " on cuda:" + k + " (";
                assertTrue(log.lines().stream().anyMatch(l -> l.startsWith("INFO opened") && l.contains(opened)),
                        "no engine on cuda:" + k + ": " + log.lines());
            }
        }
        EmulatedCli.assertSameIndex(tmp.resolve("index-cuda:0"), tmp.resolve("index-cuda:all"));
    }

    /**
     * The GPU check's pool row (GpuSmoke on "cuda", as benchmarks/gpu-check.sh runs it on the GPU machine), here over
     * four emulated devices: cuda:all gives the bits of cuda:0, and cuda:0,0 is refused.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void gpuSmokeChecksThePoolRow() throws Exception {
        assumeFourDevices();
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "-Dreasonir.emulatedLibrary=" + System.getProperty("reasonir.emulatedLibrary"),
                "-Dreasonir.jniLibrary=" + System.getProperty("reasonir.jniLibrary"),
                EmulatedCli.class.getName(), "--main", "dev.reasonir.tools.GpuSmoke",
                Fixtures.checkpoint("llama3_gqa").toString(), "", "cuda");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        JsonNode row = new ObjectMapper().readTree(last);
        assertTrue(row.get("ok").asBoolean(), last);
        assertEquals(4, row.get("pool_devices").asInt(), last);
        assertTrue(row.get("pool_bits_equal_cuda0").asBoolean(), last);
        assertTrue(row.get("pool_duplicate_refused").asBoolean(), last);
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void serveOnCudaAllAnswersLikeOneDevice() throws Exception {
        assumeFourDevices();
        Path model = EmulatedCli.model();
        // The real command in a child JVM (it serves until SIGTERM), over the emulated engine; the child inherits
        // this JVM's environment, EMU_DEVICE_COUNT=4 included.
        try (EmulatedCli.Served served = EmulatedCli.serve(model, "--device", "cuda:all", "--max-length", "64",
                "--max-batch-tokens", "32")) {
            assertTrue(served.log().contains("device cuda:0 (") && served.log().contains("cuda:3 ("), served.log());
            URI base = served.base();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

            // Several clients at once, a few short inputs each: the batchers of the four engines share the work.
            List<List<String>> requests = new ArrayList<>();
            for (int c = 0; c < 6; c++) {
                requests.add(List.of("client " + c + " asks about the cell membrane",
                        "river sediment " + c, "prime " + c + " theorem and integral"));
            }
            List<Future<float[][]>> answers = new ArrayList<>();
            ExecutorService clients = Executors.newFixedThreadPool(requests.size());
            try {
                for (List<String> inputs : requests) answers.add(clients.submit(() -> embed(http, base, inputs)));
                float[][][] got = new float[requests.size()][][];
                for (int c = 0; c < requests.size(); c++) got[c] = answers.get(c).get(2, TimeUnit.MINUTES);
                Options one = Options.defaults().withDevice("cuda:0").withMaxLength(64);
                try (ReasonIR m = ReasonIR.open(model, one)) {
                    for (int c = 0; c < requests.size(); c++) {
                        // The server's default prompt is the document prompt, as ReasonIR.embedDocuments uses.
                        float[][] want = m.embedDocuments(requests.get(c));
                        for (int i = 0; i < want.length; i++) {
                            assertArrayEquals(want[i], got[c][i], "client " + c + ", input " + i);
                        }
                    }
                }
            } finally {
                clients.shutdownNow();
            }

            String metrics = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).GET().build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            long batches = 0;
            int busy = 0;
            for (int k = 0; k < 4; k++) {
                assertTrue(metrics.contains("reasonir_device_up{device=\"cuda:" + k + "\"} 1\n"), metrics);
                Matcher b = Pattern.compile("reasonir_device_batches_total\\{device=\"cuda:" + k + "\"} (\\d+)")
                        .matcher(metrics);
                assertTrue(b.find(), metrics);
                long n = Long.parseLong(b.group(1));
                batches += n;
                if (n > 0) busy++;
            }
            assertEquals(4, metrics.lines().filter(l -> l.startsWith("reasonir_device_up{")).count(), metrics);
            // the warm-up is one batch on one device; the clients' dozen batches went to several
            assertTrue(batches > requests.size() && busy >= 2, metrics);
        }
    }

    /** POST /v1/embeddings with the vectors as base64 (the float32 bytes, so that the comparison is bit for bit). */
    static float[][] embed(HttpClient http, URI base, List<String> inputs) throws Exception {
        ObjectMapper json = new ObjectMapper();
        String body = json.writeValueAsString(java.util.Map.of("input", inputs, "encoding_format", "base64"));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/embeddings"))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode data = json.readTree(r.body()).get("data");
        float[][] out = new float[data.size()][];
        for (int i = 0; i < out.length; i++) {
            assertEquals(i, data.get(i).get("index").intValue());
            ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(data.get(i).get("embedding").textValue()))
                    .order(ByteOrder.LITTLE_ENDIAN);
            out[i] = new float[b.remaining() / 4];
            b.asFloatBuffer().get(out[i]);
        }
        return out;
    }
}
