package dev.reasonir;

import dev.reasonir.internal.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A device pool of real CPU engines ({@code cpu*N}) on a fixture checkpoint: the vectors are bit-identical to one
 * engine's for every batch shape (the batches are the same, and an engine's result does not depend on its thread
 * count), calls from several threads share it, each engine is reported, and a failed open leaks nothing. The GPU
 * counterpart on the emulator is DevicePoolEmulatedTest.
 */
class CpuPoolTest {
    static final String FIXTURE = "llama3_gqa";
    @TempDir
    Path tmp;

    static Options options(String device, Precision precision, int batchTokens) {
        return Options.defaults().withDevice(device).withPrecision(precision).withMaxLength(4096)
                .withBatchTokens(batchTokens);
    }

    /** Inputs of many shapes: 1 token to past the budget, with and without an instruction prefix. */
    static List<TokenizedInput> shapes(int vocab, int n, long seed) {
        Random r = new Random(seed);
        List<TokenizedInput> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = switch (i % 5) {
                case 0 -> 1 + r.nextInt(4);
                case 1 -> 5 + r.nextInt(60);
                case 2 -> 64 + r.nextInt(200);
                case 3 -> 300 + r.nextInt(500);
                default -> 1 + r.nextInt(40);
            };
            int[] ids = new int[len];
            for (int t = 0; t < len; t++) ids[t] = r.nextInt(vocab);
            out.add(TokenizedInput.of(ids, len > 8 && i % 3 == 0 ? 1 + r.nextInt(len / 2) : 0));
        }
        return out;
    }

    static void assertSameBits(EmbeddingResult want, EmbeddingResult got, String what) {
        assertEquals(want.size(), got.size(), what);
        for (int i = 0; i < want.size(); i++) assertArrayEquals(want.vectors()[i], got.vectors()[i], what + ", row " + i);
        assertArrayEquals(want.tokenCounts(), got.tokenCounts(), what);
    }

    @Test
    void poolVectorsAreBitIdenticalToOneEngine() {
        for (Precision p : new Precision[] {Precision.FP32, Precision.BF16}) {
            for (int budget : new int[] {64, 700, 8192}) {
                try (ReasonIR one = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu", p, budget));
                     ReasonIR pool = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu*3", p, budget))) {
                    List<TokenizedInput> in = shapes(one.vocabSize(), 120, budget);
                    String what = p + ", budget " + budget;
                    assertSameBits(one.embedTokens(in), pool.embedTokens(in), what);
                    assertSameBits(one.embedTokens(in, false), pool.embedTokens(in, false), what + ", raw");
                    // One input alone, and the empty call.
                    assertSameBits(one.embedTokens(in.subList(3, 4)), pool.embedTokens(in.subList(3, 4)), what);
                    assertEquals(0, pool.embedTokens(List.of()).size());
                    if (budget == 64) {
                        int busy = 0;
                        for (DeviceInfo d : pool.devices()) busy += d.batches() > 0 ? 1 : 0;
                        assertTrue(busy >= 2, "the batches went to one engine only: " + pool.devices());
                    }
                }
            }
        }
    }

    @Test
    void devicesReportEachEngine() {
        try (ReasonIR pool = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu*2", Precision.FP32, 256))) {
            List<TokenizedInput> in = shapes(pool.vocabSize(), 60, 9);
            EmbeddingResult r = pool.embedTokens(in);
            List<DeviceInfo> devices = pool.devices();
            assertEquals(List.of("cpu#0", "cpu#1"), devices.stream().map(DeviceInfo::name).toList());
            long tokens = 0;
            for (DeviceInfo d : devices) {
                assertEquals(DeviceInfo.State.HEALTHY, d.state());
                assertTrue(d.device().startsWith("cpu ("), d.device());
                assertTrue(d.loadNanos() > 0 && d.loadGBps() > 0, d.toString());
                assertEquals(0, d.failures());
                assertEquals("", d.lastFailure());
                tokens += d.tokens();
            }
            assertEquals(java.util.Arrays.stream(r.tokenCounts()).sum(), tokens);
            assertEquals(2, pool.device().split("cpu \\(").length - 1, pool.device());
            assertEquals("cpu", pool.backend());
            assertEquals("cpu*2", pool.options().device());
        }
        try (ReasonIR one = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu", Precision.FP32, 256))) {
            DeviceInfo d = one.devices().get(0);
            assertEquals(1, one.devices().size());
            assertEquals("cpu", d.name());
            assertEquals(one.device(), d.device());
            assertTrue(d.loadNanos() > 0, d.toString());
        }
    }

    /** Several caller threads on one pool: every call's vectors equal one engine's. */
    @Test
    void callersOnSeveralThreadsShareThePool() throws Exception {
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try (ReasonIR one = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu", Precision.FP32, 300));
             ReasonIR pool = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu*2", Precision.FP32, 300))) {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int seed = t;
                done.add(callers.submit(() -> {
                    for (int round = 0; round < 3; round++) {
                        List<TokenizedInput> in = shapes(one.vocabSize(), 20 + 10 * seed, 100 + 10L * seed + round);
                        assertSameBits(one.embedTokens(in), pool.embedTokens(in), "thread " + seed);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get(5, TimeUnit.MINUTES);
        } finally {
            callers.shutdownNow();
        }
    }

    /** Text calls go through the same pool (tokenize-ahead unchanged): the same vectors as one engine. */
    @Test
    void textCallsOnThePool() throws IOException {
        Path dir = Fixtures.withTokenizer("h256_l4", tmp.resolve("m"));  // a fixture with the tokenizer's vocabulary
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 50; i++) texts.add("text " + i + " about " + "plants ".repeat(i % 9));
        try (ReasonIR one = ReasonIR.open(dir, options("cpu", Precision.FP32, 100));
             ReasonIR pool = ReasonIR.open(dir, options("cpu*2", Precision.FP32, 100))) {
            assertSameBits(one.embed(texts), pool.embed(texts), "texts");
        }
    }

    /** All or none: a failed open closes every engine it had opened, and the failure names the device. */
    @Test
    void aFailedOpenClosesEveryEngineAndNamesTheDevice() throws IOException {
        int live = NativeModel.liveHandles();
        ReasonIR.afterNativeOpen = () -> {
            assertEquals(live + 3, NativeModel.liveHandles(), "three engines open");
            throw new IllegalStateException("injected");
        };
        try {
            assertThrows(IllegalStateException.class, () -> ReasonIR.open(Fixtures.checkpoint(FIXTURE),
                    options("cpu*3", Precision.FP32, 256)));
        } finally {
            ReasonIR.afterNativeOpen = null;
        }
        assertEquals(live, NativeModel.liveHandles(), "an engine of the failed open leaked");

        Path broken = Fixtures.copyCheckpoint(FIXTURE, tmp.resolve("broken"));
        try (var files = Files.list(broken)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().endsWith(".safetensors")) Files.write(f, new byte[] {1, 2, 3});
            }
        }
        var e = assertThrows(CheckpointException.class, () -> ReasonIR.open(broken,
                options("cpu*2", Precision.FP32, 256)));
        assertTrue(e.getMessage().startsWith("device cpu (of cpu*2): "), e.getMessage());
        assertEquals(1, e.getSuppressed().length, "the other engine's failure is attached");
        assertEquals(live, NativeModel.liveHandles());
    }

    /** Sets are checked before any weights are read. */
    @Test
    void badSetsFailBeforeLoading() {
        var twice = assertThrows(ReasonIRException.class, () -> ReasonIR.open(Fixtures.checkpoint(FIXTURE),
                Options.defaults().withDevice("cuda:0,0")));
        assertEquals(ReasonIRException.Kind.INVALID_ARGUMENT, twice.kind());
        assertTrue(twice.getMessage().contains("cuda:0 is listed twice"), twice.getMessage());
        if (ReasonIR.cudaDeviceCount().count() > 0) return;  // the GPU side is DevicePoolEmulatedTest's
        var all = assertThrows(ReasonIRException.class, () -> ReasonIR.open(Fixtures.checkpoint(FIXTURE),
                Options.defaults().withDevice("cuda:all")));
        assertEquals(ReasonIRException.Kind.DEVICE, all.kind());
        assertTrue(all.getMessage().startsWith("device 'cuda:all' requested, but "), all.getMessage());
    }

    /** close() ends the pool's workers. */
    @Test
    void closeEndsTheWorkers() {
        List<Thread> others = DevicePoolTest.workers();
        ReasonIR pool = ReasonIR.open(Fixtures.checkpoint(FIXTURE), options("cpu*2", Precision.FP32, 64));
        pool.embedTokens(shapes(pool.vocabSize(), 30, 5));
        List<Thread> mine = DevicePoolTest.workers().stream().filter(t -> !others.contains(t)).toList();
        assertEquals(2, mine.size(), mine.toString());
        pool.close();
        for (Thread t : mine) assertTrue(!t.isAlive(), t.getName() + " outlived close()");
        assertThrows(IllegalStateException.class, pool::devices);
    }
}
