package dev.reasonir.langchain4j;

import dev.reasonir.client.TestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The adapter in process, in a fresh JVM (SLF4J binds once per JVM, DJL loads its tokenizer library once): with no
 * SLF4J provider, LangChain4j's first use of SLF4J must not print "No SLF4J providers were found"; with one
 * (slf4j-jdk14, printing WARN to stderr), DJL's CUDA probe must not print "Failed to detect GPU count" on a machine
 * with a CUDA runtime and no GPU. Neither line appears elsewhere, so both are checked on every run.
 */
class QuietLogsTest {
    @TestKit.Model static Path dir;

    /** What the child runs: build the adapter on a folder, embed one text (tokenizer included), close. */
    public static void main(String[] args) {
        try (ReasonIREmbeddingModel m = ReasonIREmbeddingModel.builder().modelDir(Path.of(args[0])).device("cpu")
                .build()) {
            System.out.println("dimension " + m.embedAll(List.of(dev.langchain4j.data.segment.TextSegment.from(
                    "why is the sky blue?"))).content().get(0).dimension());
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void noSlf4jOrDjlWarningWithOrWithoutAProvider() throws Exception {
        String all = System.getProperty("java.class.path");
        String noProvider = Arrays.stream(all.split(File.pathSeparator))
                .filter(e -> !e.contains("slf4j-jdk14")).collect(Collectors.joining(File.pathSeparator));
        assertTrue(all.contains("slf4j-jdk14"), "the test class path should hold slf4j-jdk14: " + all);
        for (String cp : List.of(noProvider, all)) {
            String out = run(cp, dir);
            assertTrue(out.contains("dimension "), out);
            assertFalse(out.contains("SLF4J"), out);
            assertFalse(out.contains("Failed to detect GPU"), out);
        }
    }

    /** Runs {@link #main} in a child JVM; returns stdout and stderr together. */
    static String run(String classPath, Path dir) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", classPath, QuietLogsTest.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }
}
