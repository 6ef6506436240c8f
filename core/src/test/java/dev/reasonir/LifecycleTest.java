package dev.reasonir;

import dev.reasonir.internal.NativeModel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** close() racing with work in other threads: every call either completes or throws IllegalStateException. */
class LifecycleTest {
    @TempDir
    static Path tmp;

    @Test
    void closeWhileTokenizingAndEmbedding() throws Exception {
        Path dir = Fixtures.withTokenizer("h256_l4", tmp.resolve("m"));
        // Random letters make long, rare "words": the tokenizer works on them for a while, so close() lands mid-call.
        StringBuilder sb = new StringBuilder();
        java.util.Random rnd = new java.util.Random(1);
        for (int i = 0; i < 300_000; i++) sb.append((char) ('a' + rnd.nextInt(26))).append(i % 7 == 0 ? " " : "");
        String longText = sb.toString();
        for (int round = 0; round < 8; round++) {
            ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withMaxLength(256));
            m.countTokens("warm-up");  // the tokenizer is loaded: close() now races with calls inside it
            ExecutorService pool = Executors.newFixedThreadPool(4);
            CountDownLatch started = new CountDownLatch(4);
            List<Future<?>> work = new ArrayList<>();
            work.add(pool.submit(() -> loop(started, () -> m.countTokens(longText))));
            work.add(pool.submit(() -> loop(started, () -> m.countTokens(longText))));
            work.add(pool.submit(() -> loop(started, () -> m.embedDocuments(List.of(longText, "short")))));
            work.add(pool.submit(() -> loop(started, () -> m.tokenize(Instructions.DOCUMENT, longText))));
            started.await();
            Thread.sleep(5L + 10L * round);  // close at different points of the tokenizer's work
            m.close();
            for (Future<?> f : work) assertEquals("closed", f.get(60, TimeUnit.SECONDS));
            pool.shutdown();
            assertThrows(IllegalStateException.class, () -> m.countTokens("x"));
        }
    }

    /** Repeats op until the model is closed; returns "closed" (any other exception fails the test). */
    private static String loop(CountDownLatch started, Runnable op) {
        started.countDown();
        while (true) {
            try {
                op.run();
            } catch (IllegalStateException e) {
                assertTrue(e.getMessage().contains("closed"), e.getMessage());
                return "closed";
            }
        }
    }

    /** A failure after rir_open succeeded (here injected, before the model object exists) frees the handle. */
    @Test
    void failureAfterNativeOpenClosesTheHandle() {
        int before = NativeModel.liveHandles();
        ReasonIR.afterNativeOpen = () -> {
            throw new IllegalStateException("injected failure after rir_open");
        };
        try {
            var e = assertThrows(IllegalStateException.class,
                    () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu")));
            assertEquals("injected failure after rir_open", e.getMessage());
        } finally {
            ReasonIR.afterNativeOpen = null;
        }
        assertEquals(before, NativeModel.liveHandles(), "the native handle leaked");
        // The counter does count: an open model holds one handle until close().
        ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu"));
        assertEquals(before + 1, NativeModel.liveHandles());
        m.close();
        m.close();
        assertEquals(before, NativeModel.liveHandles());
    }

    static List<Thread> tokenizerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith(Embedder.TOKENIZER_THREAD_PREFIX) && t.isAlive()).toList();
    }

    /** More texts than one packing window: the next window is tokenized ahead on the model's own daemon thread. */
    static List<String> manyTexts(int n) {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < n; i++) texts.add("document number " + i + (i % 3 == 0 ? " with a few more words" : ""));
        return texts;
    }

    @Test
    void tokenizeAheadThreadEndsWithClose() throws Exception {
        Path dir = Fixtures.withTokenizer("h256_l4", tmp.resolve("threads"));
        int n = Embedder.PACKING_WINDOW + 50;
        List<Thread> others = tokenizerThreads();  // of models other tests left open, if any
        ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withMaxLength(32));
        var res = m.embed(manyTexts(n), Instructions.DOCUMENT);
        assertEquals(n, res.size());
        assertTrue(res.timings().tokenizeNanos() > 0 && res.timings().engineNanos() > 0, res.timings().toString());
        List<Thread> mine = new ArrayList<>(tokenizerThreads());
        mine.removeAll(others);
        assertEquals(1, mine.size(), "one tokenize-ahead thread per model: " + mine);
        for (Thread t : mine) assertTrue(t.isDaemon(), t.getName() + " is not a daemon thread");
        m.close();
        for (Thread t : mine) {
            t.join(10_000);
            assertTrue(!t.isAlive(), t.getName() + " outlived close()");
        }
    }

    /** close() racing with a multi-window text call: the call completes (or never starts), nothing crashes. */
    @Test
    void closeWaitsForTokenizeAhead() throws Exception {
        Path dir = Fixtures.withTokenizer("h256_l4", tmp.resolve("race"));
        List<String> texts = manyTexts(2 * Embedder.PACKING_WINDOW + 10);
        for (int round = 0; round < 3; round++) {
            ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withMaxLength(16));
            m.countTokens("warm-up");
            ExecutorService pool = Executors.newSingleThreadExecutor();
            Future<Object> f = pool.submit(() -> {
                try {
                    return m.embedDocuments(texts).length;
                } catch (IllegalStateException e) {
                    return "closed";
                }
            });
            Thread.sleep(50L + 200L * round);
            m.close();
            Object r = f.get(120, TimeUnit.SECONDS);
            assertTrue(r.equals(texts.size()) || r.equals("closed"), String.valueOf(r));
            pool.shutdown();
        }
    }

    @Test
    void emptyCallsNeedNoTokenizer() {
        try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu"))) {
            assertEquals(0, m.embedDocuments(List.of()).length);   // plain_mha has no tokenizer.json
            assertEquals(0, m.embedTokens(List.of()).size());
            assertThrows(NullPointerException.class, () -> m.tokenize("", null));
        }
    }
}
