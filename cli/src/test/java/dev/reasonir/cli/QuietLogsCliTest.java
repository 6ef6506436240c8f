package dev.reasonir.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A CPU-only {@code embed} as a user runs it (a fresh JVM through {@code Main.main}, the CLI's class path with
 * slf4j-jdk14, no {@code ai.djl.offline} set by the caller): nothing from SLF4J or DJL's CUDA probe on stdout or
 * stderr, on a machine with a CUDA runtime and no GPU as on any other.
 */
class QuietLogsCliTest {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void embedPrintsNoSlf4jOrDjlWarning() throws Exception {
        Path model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        Path in = tmp.resolve("in.jsonl");
        Files.write(in, List.of("{\"text\": \"why is the sky blue?\", \"role\": \"query\", \"task\": \"biology\"}",
                "{\"text\": \"Rayleigh scattering\"}"), StandardCharsets.UTF_8);
        Path outFile = tmp.resolve("out.npy");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.reasonir.cli.Main", "embed", "--model", model.toString(), "--input", in.toString(), "--output",
                outFile.toString(), "--device", "cpu").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("embedded 2 inputs"), out);
        assertFalse(out.contains("SLF4J"), out);
        assertFalse(out.contains("Failed to detect GPU"), out);
    }
}
