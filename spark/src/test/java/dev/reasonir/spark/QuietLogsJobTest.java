package dev.reasonir.spark;

import dev.reasonir.FixturesAccess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
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
 * A CPU-only {@code EmbedJob} as spark-submit runs it (a fresh JVM, Spark's own log4j2 binding, no
 * {@code ai.djl.offline} set by the caller), in local mode: the job's output holds nothing from SLF4J's provider lookup
 * or DJL's CUDA probe (the "Failed to detect GPU count" WARN every executor printed before), on a machine with a CUDA
 * runtime and no GPU as on any other. Spark's own INFO lines are Spark's business and are not asserted on.
 */
class QuietLogsJobTest {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void embedJobPrintsNoSlf4jOrDjlWarning() throws Exception {
        Path outDir = tmp.resolve("embedded.parquet");
        String out = runJob(outDir, List.of());
        assertTrue(Files.exists(outDir.resolve("_SUCCESS")), out);
        assertFalse(out.contains("SLF4J"), out);
        assertFalse(out.contains("Failed to detect GPU"), out);
    }

    /**
     * An executor whose user has no writable home, on a machine where the shared fallbacks of the two native
     * libraries ({@code <tmp>/.djl.ai}, {@code <tmp>/.javacpp-<user>}) belong to someone else: before, the first text
     * failed with DJL's "Failed to load Huggingface native library" (and JavaCPP's "Could not create the cache").
     * Paths under a regular file stand for folders this user cannot write (whoever runs the test, root included).
     * The job works, with the libraries in the executor's work folder, and the executor's log names its engine's
     * device, precision and threads.
     */
    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void anExecutorWithoutAWritableHomeWorksAndLogsItsEngine() throws Exception {
        Path notAFolder = Files.writeString(tmp.resolve("not-a-folder"), "x");
        Path temp = Files.createDirectories(tmp.resolve("java-tmp"));
        Files.writeString(temp.resolve(".djl.ai"), "another user's");
        Files.writeString(temp.resolve(".javacpp-" + System.getProperty("user.name")), "another user's");
        Path outDir = tmp.resolve("homeless.parquet");
        String out = runJob(outDir, List.of("-Duser.home=" + notAFolder.resolve("home"),
                "-Djava.io.tmpdir=" + temp));
        assertTrue(Files.exists(outDir.resolve("_SUCCESS")), out);
        assertTrue(out.contains("DJL's cache " + temp.resolve(".djl.ai").resolve("tokenizers") + " is not writable"),
                out);
        assertTrue(out.contains("the tokenizer's native library is unpacked into "), out);
        assertTrue(out.contains("the engine's native library is unpacked into "), out);
        assertTrue(out.contains(ExecutorEnvironment.FALLBACK_FOLDER), out);
        assertTrue(out.matches("(?s).*reasonir-spark: executor driver opened \\S+ in [0-9.]+ s: device cpu \\(2"
                + " threads, [^)]*\\), precision \\w+, CPU threads: 2 threads \\(the threads of local mode\\).*"),
                out);
    }

    /** Runs EmbedJob on two texts in a fresh JVM (local[2]) with extra JVM options; returns its output. */
    private String runJob(Path outDir, List<String> jvmOptions) throws Exception {
        Path model = FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model-" + outDir.getFileName()));
        Path in = tmp.resolve("corpus.jsonl");
        Files.write(in, List.of("{\"id\": \"a\", \"content\": \"Rayleigh scattering makes the sky blue.\"}",
                "{\"id\": \"b\", \"content\": \"Chlorophyll breaks down in autumn.\"}"), StandardCharsets.UTF_8);
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // the JVM options this test JVM runs with (surefire's argLine: the --add-opens Spark needs on Java 17+)
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("--add-opens") || a.startsWith("--enable-native-access")
                        || a.startsWith("-Xss") || a.startsWith("-Djdk.reflect"))
                .toList());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-Dspark.master=local[2]", "-Dspark.ui.enabled=false",
                "-cp", System.getProperty("java.class.path"), "dev.reasonir.spark.EmbedJob",
                "--input", in.toString(), "--output", outDir.toString(), "--model", model.toString(),
                "--device", "cpu", "--max-length", "32"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }
}
