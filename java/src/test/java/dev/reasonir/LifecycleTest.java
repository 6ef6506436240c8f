package dev.reasonir;

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

    @Test
    void emptyCallsNeedNoTokenizer() {
        try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu"))) {
            assertEquals(0, m.embedDocuments(List.of()).length);   // plain_mha has no tokenizer.json
            assertEquals(0, m.embedTokens(List.of()).size());
            assertThrows(NullPointerException.class, () -> m.tokenize("", null));
        }
    }
}
