package dev.reasonir.examples.springai;

import dev.reasonir.client.TestSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged application, run as a user runs it ({@code java -jar}, settings on the command line), in a fresh JVM
 * (SLF4J binds once per JVM, DJL loads its tokenizer library once) on the small test checkpoint: it prints the two best
 * documents and exits, with neither SLF4J's "No SLF4J providers" warning nor DJL's "Failed to detect GPU count" (on a
 * machine with a CUDA runtime and no GPU) in its output.
 */
class SpringAiAppIT {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void thePackagedAppPrintsTheTwoBestDocumentsQuietly() throws Exception {
        Path dir = TestSupport.modelDir(tmp, "model");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", System.getProperty("app.jar"),
                "--reasonir.model-dir=" + dir, "--reasonir.device=cpu").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        List<String> lines = out.lines().filter(l -> l.matches(SpringAiAppTest.RESULT)).toList();
        assertEquals(2, lines.size(), out);
        assertTrue(out.contains("a leetcode query: "), out);
        assertFalse(out.contains("SLF4J"), out);
        assertFalse(out.contains("Failed to detect GPU"), out);
    }
}
