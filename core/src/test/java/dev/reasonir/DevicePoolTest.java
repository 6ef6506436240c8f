package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DevicePool} behind {@link Embedder}, with fake engines and no native library: batches planned as for one
 * engine and dealt to all, results in input order, retry of a device fault's batch on a healthy engine (once), the
 * call failing when every engine is gone, input errors that are not device faults, calls from several threads.
 */
class DevicePoolTest {
    static final int VOCAB = 100;

    /**
     * A fake engine: the vector of input i is {i, tokens of i, id of the engine}. Counts its batches, checks that it
     * never runs two at once (as a native handle would not), and fails on the batches {@code failOn} says.
     */
    static class Fake implements Embedder.BatchEngine {
        final int id;
        final long sleepMicros;
        final List<int[]> batches = java.util.Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger inside = new AtomicInteger();
        volatile FailOn failOn = (n, idx) -> null;

        interface FailOn {
            /** The exception to throw for the {@code n}-th batch (0-based) of this engine, or null. */
            RuntimeException at(int n, int[] idx);
        }

        Fake(int id, long sleepMicros) {
            this.id = id;
            this.sleepMicros = sleepMicros;
        }

        @Override
        public void embedBatch(TokenizedInput[] inputs, int[] idx, int tokens, boolean normalize, float[][] vectors) {
            assertEquals(1, inside.incrementAndGet(), "engine " + id + " runs two batches at once");
            try {
                int n;
                synchronized (batches) {
                    n = batches.size();
                    batches.add(idx.clone());
                }
                if (sleepMicros > 0) sleep(sleepMicros);
                RuntimeException fail = failOn.at(n, idx);
                if (fail != null) {
                    // A faulty engine may have scribbled rows before it failed: the retry must overwrite them.
                    for (int i : idx) vectors[i] = new float[] {-1, -1, id};
                    throw fail;
                }
                int sum = 0;
                for (int i : idx) {
                    sum += inputs[i].ids().length;
                    vectors[i] = new float[] {i, inputs[i].ids().length, id};
                }
                assertEquals(sum, tokens, "tokens of the batch");
            } finally {
                inside.decrementAndGet();
            }
        }
    }

    static void sleep(long micros) {
        try {
            TimeUnit.MICROSECONDS.sleep(micros);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static DevicePool pool(Fake... engines) {
        List<DevicePool.Member> members = new ArrayList<>();
        for (Fake f : engines) members.add(new DevicePool.Member("fake:" + f.id, "fake device " + f.id, f, 1, 1));
        return new DevicePool(members);
    }

    static Embedder embedder(Options options, DevicePool pool) {
        return new Embedder(options, options.maxLength(), VOCAB, pool, () -> {
            throw new AssertionError("no tokenizer in this test");
        });
    }

    static List<TokenizedInput> inputs(int n, int seed) {
        List<TokenizedInput> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = 1 + (i * 7 + seed * 13) % 57;
            int[] ids = new int[len];
            for (int t = 0; t < len; t++) ids[t] = 1 + (t + i) % (VOCAB - 1);
            out.add(TokenizedInput.of(ids, 0));
        }
        return out;
    }

    static final Options OPTIONS = Options.defaults().withMaxLength(64).withBatchTokens(200);

    static Set<List<Integer>> asSet(List<int[]> batches) {
        Set<List<Integer>> out = new HashSet<>();
        for (int[] b : batches) out.add(Arrays.stream(b).boxed().toList());
        return out;
    }

    static void assertRows(List<TokenizedInput> in, EmbeddingResult r) {
        assertEquals(in.size(), r.size());
        for (int i = 0; i < in.size(); i++) {
            float[] v = r.vectors()[i];
            assertEquals(i, (int) v[0], "row " + i + " is another input's");
            assertEquals(in.get(i).ids().length, (int) v[1], "row " + i);
        }
    }

    /**
     * The same batches as one engine (planned before dealing), each run exactly once, spread over every engine, and
     * the rows in input order, over two packing windows.
     */
    @Test
    void batchesArePlannedAsForOneEngineAndDealtToAll() {
        List<TokenizedInput> in = inputs(Embedder.PACKING_WINDOW + 500, 1);
        Fake single = new Fake(0, 0);
        EmbeddingResult want = embedder(OPTIONS, DevicePool.of(single)).embedTokens(in, true);
        Fake a = new Fake(1, 200), b = new Fake(2, 200), c = new Fake(3, 200);
        DevicePool pool = pool(a, b, c);
        try (Embedder e = embedder(OPTIONS, pool)) {
            EmbeddingResult got = e.embedTokens(in, true);
            assertRows(in, got);
            for (int i = 0; i < in.size(); i++) {
                assertEquals(want.vectors()[i][0], got.vectors()[i][0]);
                assertEquals(want.vectors()[i][1], got.vectors()[i][1]);
            }
            assertArrayEquals(want.tokenCounts(), got.tokenCounts());
            List<int[]> all = new ArrayList<>();
            for (Fake f : new Fake[] {a, b, c}) {
                assertTrue(f.batches.size() > 0, "engine " + f.id + " got no work");
                all.addAll(f.batches);
            }
            assertEquals(single.batches.size(), all.size(), "a batch ran twice or not at all");
            assertEquals(asSet(single.batches), asSet(all), "the pool changed the batches");
            long batches = 0, tokens = 0;
            for (DeviceInfo d : pool.devices()) {
                assertEquals(DeviceInfo.State.HEALTHY, d.state());
                batches += d.batches();
                tokens += d.tokens();
            }
            assertEquals(all.size(), batches);
            assertEquals(Arrays.stream(got.tokenCounts()).sum(), tokens);
        }
    }

    /**
     * A device fault takes its engine out (one WARN line naming it, a counter) and its batch runs again on another
     * engine: the call succeeds with every row from a healthy engine, each batch counted once. The pool keeps
     * serving on the others.
     */
    @Test
    void aDeviceFaultRetriesTheBatchOnAHealthyEngineOnce() {
        List<TokenizedInput> in = inputs(600, 2);
        Fake a = new Fake(1, 300), bad = new Fake(2, 300), c = new Fake(3, 300);
        int[][] failedBatch = new int[1][];
        bad.failOn = (n, idx) -> {
            if (n != 1) return null;
            failedBatch[0] = idx.clone();
            return new ReasonIRException(ReasonIRException.Kind.DEVICE, "cuda:2 is unusable after an earlier CUDA "
                    + "error: illegal address");
        };
        DevicePool pool = pool(a, bad, c);
        try (Embedder e = embedder(OPTIONS, pool)) {
            EmbeddingResult[] got = new EmbeddingResult[1];
            List<String> warnings = LogCapture.messages(ReasonIR.class.getName(),
                    l -> l.intValue() >= Level.WARNING.intValue(), () -> got[0] = e.embedTokens(in, true));
            assertRows(in, got[0]);
            // assertRows proves the scribbled rows (-1) were overwritten; the retry ran on another engine.
            for (int i : failedBatch[0]) assertTrue(got[0].vectors()[i][2] != 2, "row " + i + " of the failed batch");
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("fake:2") && warnings.get(0).contains("illegal address")
                    && warnings.get(0).contains("2 of 3 devices left"), warnings.get(0));
            assertEquals(2, bad.batches.size(), "the failed engine got work after its fault");
            // The failed batch ran once more, elsewhere; every other batch ran once.
            List<int[]> healthy = new ArrayList<>(a.batches);
            healthy.addAll(c.batches);
            assertEquals(1, healthy.stream().filter(b -> Arrays.equals(b, failedBatch[0])).count());
            assertEquals(healthy.size(), asSet(healthy).size(), "a batch ran twice on healthy engines");
            List<DeviceInfo> devices = pool.devices();
            assertEquals(DeviceInfo.State.FAILED, devices.get(1).state());
            assertEquals(1, devices.get(1).failures());
            assertEquals(1, devices.get(1).batches(), "only its successful batch counts");
            assertTrue(devices.get(1).lastFailure().contains("illegal address"));
            assertEquals(healthy.size() + 1, devices.stream().mapToLong(DeviceInfo::batches).sum());
            // Later calls run on the two others only.
            int before = bad.batches.size();
            assertRows(in, e.embedTokens(in, true));
            assertEquals(before, bad.batches.size());
        }
    }

    /** When every engine has failed, the call (and every later one) fails with the devices and their causes. */
    @Test
    void noEngineLeftFailsTheCallNamingEveryDevice() {
        Fake a = new Fake(1, 100), b = new Fake(2, 100);
        a.failOn = (n, idx) -> new ReasonIRException(ReasonIRException.Kind.DEVICE, "lost device A");
        b.failOn = (n, idx) -> n >= 2 ? new ReasonIRException(ReasonIRException.Kind.DEVICE, "lost device B") : null;
        DevicePool pool = pool(a, b);
        try (Embedder e = embedder(OPTIONS, pool)) {
            List<TokenizedInput> in = inputs(300, 3);
            var ex = assertThrows(DevicesFailedException.class, () -> e.embedTokens(in, true));
            assertEquals(ReasonIRException.Kind.DEVICE, ex.kind());
            assertEquals(Map.of("fake:1", "lost device A", "fake:2", "lost device B"), ex.failures());
            assertTrue(ex.getMessage().contains("fake:1: lost device A") && ex.getMessage().contains(
                    "fake:2: lost device B"), ex.getMessage());
            int calls = a.batches.size() + b.batches.size();
            var again = assertThrows(DevicesFailedException.class, () -> e.embedTokens(in, true));
            assertEquals(ex.failures(), again.failures());
            assertEquals(calls, a.batches.size() + b.batches.size(), "an engine was used after it failed");
            for (DeviceInfo d : pool.devices()) assertEquals(DeviceInfo.State.FAILED, d.state());
        }
    }

    /**
     * Not every failure is the device's: a bad input (or memory, or anything but DEVICE) fails its call as with one
     * engine, unchanged, and the engine stays in the pool.
     */
    @Test
    void anInputErrorIsNotADeviceFault() {
        Fake a = new Fake(1, 100), b = new Fake(2, 100);
        var failure = new InvalidInputException(7, "rejected by the engine");
        a.failOn = (n, idx) -> Arrays.stream(idx).anyMatch(i -> i == 7) ? failure : null;
        b.failOn = a.failOn;
        DevicePool pool = pool(a, b);
        try (Embedder e = embedder(OPTIONS, pool)) {
            List<TokenizedInput> in = inputs(300, 4);
            assertSame(failure, assertThrows(InvalidInputException.class, () -> e.embedTokens(in, true)));
            for (DeviceInfo d : pool.devices()) {
                assertEquals(DeviceInfo.State.HEALTHY, d.state());
                assertEquals(0, d.failures());
            }
            a.failOn = (n, idx) -> null;
            b.failOn = a.failOn;
            assertRows(in, e.embedTokens(in, true));
        }
    }

    /** Calls from several threads share every engine, each gets its own rows, and no engine runs two at once. */
    @Test
    void callsFromSeveralThreadsShareThePool() throws Exception {
        Fake a = new Fake(1, 100), b = new Fake(2, 100), c = new Fake(3, 100);
        DevicePool pool = pool(a, b, c);
        ExecutorService callers = Executors.newFixedThreadPool(6);
        try (Embedder e = embedder(OPTIONS, pool)) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            Map<Integer, Integer> sizes = new ConcurrentHashMap<>();
            for (int t = 0; t < 6; t++) {
                int seed = t;
                done.add(callers.submit(() -> {
                    start.await();
                    for (int round = 0; round < 3; round++) {
                        List<TokenizedInput> in = inputs(40 + 60 * seed + round, seed + round);
                        assertRows(in, e.embedTokens(in, true));
                        sizes.merge(seed, 1, Integer::sum);
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) f.get(2, TimeUnit.MINUTES);
            assertEquals(6, sizes.size());
            for (Fake f : new Fake[] {a, b, c}) assertTrue(f.batches.size() > 0, "engine " + f.id + " idle");
        } finally {
            callers.shutdownNow();
        }
    }

    /**
     * Calls take turns batch by batch: a one-batch call that arrives while a long call is queued is served after at
     * most a round of batches, not after the whole long call.
     */
    @Test
    void aShortCallIsNotQueuedBehindALongOne() throws Exception {
        Fake a = new Fake(1, 2000), b = new Fake(2, 2000);
        DevicePool pool = pool(a, b);
        ExecutorService callers = Executors.newFixedThreadPool(1);
        try (Embedder e = embedder(OPTIONS, pool)) {
            List<TokenizedInput> longCall = inputs(2000, 5);
            Future<EmbeddingResult> big = callers.submit(() -> e.embedTokens(longCall, true));
            while (a.batches.size() + b.batches.size() < 4) Thread.sleep(1);
            List<TokenizedInput> one = inputs(1, 6);
            assertRows(one, e.embedTokens(one, true));
            assertTrue(!big.isDone(), "the long call ended first: the test proves nothing");
            int started = a.batches.size() + b.batches.size();
            assertRows(longCall, big.get(2, TimeUnit.MINUTES));
            int total = a.batches.size() + b.batches.size();
            assertTrue(started < total / 2, "the short call waited for " + started + " of " + total + " batches");
        } finally {
            callers.shutdownNow();
        }
    }

    /**
     * One engine: batches run on the caller's thread as before there was a pool, and a device fault reaches the
     * caller as it is (nothing to retry on); the engine stays in use, its state says that it failed until a batch
     * succeeds again.
     */
    @Test
    void oneEngineRunsOnTheCallersThreadAndKeepsItsFaults() {
        Thread caller = Thread.currentThread();
        var fault = new ReasonIRException(ReasonIRException.Kind.DEVICE, "cuda:0 is unusable");
        boolean[] fail = {true};
        Embedder.BatchEngine engine = (inputs, idx, tokens, normalize, vectors) -> {
            assertSame(caller, Thread.currentThread());
            if (fail[0]) throw fault;
            for (int i : idx) vectors[i] = new float[] {i, inputs[i].ids().length, 0};
        };
        DevicePool pool = DevicePool.of(engine);
        try (Embedder e = embedder(OPTIONS, pool)) {
            List<TokenizedInput> in = inputs(50, 7);
            assertSame(fault, assertThrows(ReasonIRException.class, () -> e.embedTokens(in, true)));
            DeviceInfo d = pool.devices().get(0);
            assertEquals(DeviceInfo.State.FAILED, d.state());
            assertEquals(1, d.failures());
            fail[0] = false;
            assertRows(in, e.embedTokens(in, true));
            assertEquals(DeviceInfo.State.HEALTHY, pool.devices().get(0).state());
        }
    }

    /** The workers are daemons and end with close(). */
    @Test
    void closeEndsTheWorkers() {
        List<Thread> others = workers();  // of pools other tests left open, if any
        Fake a = new Fake(1, 0), b = new Fake(2, 0);
        Embedder e = embedder(OPTIONS, pool(a, b));
        assertRows(inputs(100, 8), e.embedTokens(inputs(100, 8), true));
        List<Thread> mine = workers().stream().filter(t -> !others.contains(t)).toList();
        assertEquals(2, mine.size(), mine.toString());
        for (Thread t : mine) assertTrue(t.isDaemon(), t.getName());
        e.close();
        for (Thread t : mine) assertTrue(!t.isAlive(), t.getName() + " outlived close()");
        e.close();  // idempotent
    }

    static List<Thread> workers() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith(DevicePool.WORKER_THREAD_PREFIX) && t.isAlive()).toList();
    }
}
