package dev.reasonir.examples.langchain4j;

import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestSupport;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the application's {@code main} as a user would, in a fresh JVM on its runtime class path (SLF4J binds once per
 * JVM, DJL loads its tokenizer library once; the class path has no SLF4J provider, like an application that adds
 * none), on the small test checkpoint (random weights: the ranking itself means nothing): in process, then against a
 * real ReasonIR server on loopback, which must print the same lines. Neither run may print SLF4J's "No SLF4J
 * providers" warning or DJL's "Failed to detect GPU count" (on a machine with a CUDA runtime and no GPU).
 */
class LangChain4jAppTest {
    /** A line the app prints: InMemoryEmbeddingStore's score (cosine mapped to 0..1), two spaces, the text. */
    static final String RESULT = "0\\.\\d{4}  .+\\.|1\\.0000  .+\\.";

    @TempDir
    static Path tmp;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theAppPrintsTheTwoBestDocumentsInProcessAndThroughAServerAlike() throws Exception {
        Path dir = TestSupport.modelDir(tmp, "model");
        List<String> local = results(runMain(dir.toString(), "cpu"));
        assertEquals(2, local.size(), "" + local);
        for (String line : local) assertTrue(line.matches(RESULT), line);

        try (ReasonIR model = ReasonIR.open(dir, TestSupport.CPU);
             EmbeddingServer server = EmbeddingServer.start(model, ServerConfig.builder().port(0).build())) {
            assertEquals(local, results(runMain("http://127.0.0.1:" + server.port())));
        }
    }

    @Test
    void withoutArgumentsTheAppPrintsItsUsage() throws Exception {
        Process p = start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.waitFor(), out);
        assertTrue(out.startsWith("usage: LangChain4jApp MODEL_FOLDER"), out);
    }

    /** The result lines of the application's output, after checking the output holds no SLF4J or DJL warning. */
    static List<String> results(String out) {
        assertFalse(out.contains("SLF4J"), out);
        assertFalse(out.contains("Failed to detect GPU"), out);
        return out.lines().filter(l -> l.matches(RESULT)).toList();
    }

    /** Runs {@link LangChain4jApp#main} in a child JVM; returns stdout and stderr together. */
    static String runMain(String... args) throws Exception {
        Process p = start(args);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    static Process start(String... args) throws Exception {
        String classPath = System.getProperty("app.classPath") + File.pathSeparator
                + Files.readString(Path.of(System.getProperty("app.dependencyClassPath"))).strip();
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", classPath, LangChain4jApp.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }
}
