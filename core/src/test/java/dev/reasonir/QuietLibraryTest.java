package dev.reasonir;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library says nothing a user did not ask for, and its caches stay bounded. */
class QuietLibraryTest {
    @TempDir
    Path tmp;

    /** A fresh JVM with only the library's dependencies (no SLF4J provider) prints nothing while it tokenizes. */
    @Test
    void aFreshProcessPrintsNothing() throws Exception {
        Path model = Fixtures.withTokenizer("h256_l4", tmp.resolve("model"));
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), QuietMain.class.getName(), model.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), output);
        assertEquals("ok\n", output, "the library printed something");
    }

    /** What the fresh JVM runs: open a model on the CPU, tokenize and embed text (DJL loads), print "ok". */
    public static final class QuietMain {
        public static void main(String[] args) {
            try (ReasonIR m = ReasonIR.open(Path.of(args[0]), Options.defaults().withDevice("cpu").withMaxLength(8))) {
                m.embed(List.of("a text long enough to be truncated at eight tokens"), Instructions.DOCUMENT);
            }
            System.out.println("ok");
        }
    }

    /** Truncation is in the result; the log has nothing above DEBUG for it (the CLI reports it in its own terms). */
    @Test
    void truncationIsNotLoggedAsAWarning() throws IOException {
        Logger log = Logger.getLogger(ReasonIR.class.getName());
        List<LogRecord> records = new ArrayList<>();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.INFO.intValue()) records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        log.addHandler(h);
        try (ReasonIR m = ReasonIR.open(Fixtures.withTokenizer("h256_l4", tmp.resolve("m2")),
                Options.defaults().withDevice("cpu").withMaxLength(8))) {
            EmbeddingResult r = m.embed(List.of("a text long enough to be truncated at eight tokens"), "");
            assertEquals(1, r.truncations().size());
        } finally {
            log.removeHandler(h);
        }
        assertTrue(records.isEmpty(), () -> "logged: " + records.get(0).getMessage());
    }

    @Test
    void theInstructionCacheIsBounded() throws IOException {
        try (TextTokenizer t = TextTokenizer.load(Fixtures.withTokenizer("h256_l4", tmp.resolve("m3")))) {
            for (int i = 0; i < TextTokenizer.INSTRUCTION_CACHE + 500; i++) {
                assertEquals(t.encode("instruction " + i).length, t.instructionLength("instruction " + i));
            }
            assertEquals(TextTokenizer.INSTRUCTION_CACHE, t.cachedInstructions());
            // recently used entries stay, answers stay right after eviction
            assertEquals(t.encode("instruction 3").length, t.instructionLength("instruction 3"));
        }
    }
}
