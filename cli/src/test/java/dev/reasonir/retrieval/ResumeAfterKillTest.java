package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Crash safety, for real: {@code reasonir index} runs in a child JVM that is killed with SIGKILL
 * ({@link Process#destroyForcibly()}) at several points of the build, then run again on the same folder. The
 * finished folder must be byte-identical, manifest included, to that of an uninterrupted run.
 *
 * <p>What byte identity assumes of the engine: a document's vector is the same bits whatever process, model handle
 * and batch embeds it (the resumed run packs its documents into other batches than the uninterrupted one). On the CPU
 * backend that holds (determinism, batch invariance and two handles are bit-exact; docs/numerics.md). On CUDA only
 * determinism is bit-exact: alone vs in a batch, and on a second handle, vectors agree to cosine >= 0.9999 (cuBLASLt
 * picks its kernels by row count), so a GPU index resumed after a kill equals an uninterrupted one to that tolerance,
 * not byte for byte. benchmarks/reasonir_bench/hf_parity.py measures all three on the GPU ("What the retrieval workflow
 * relies on").
 */
class ResumeAfterKillTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    @Test
    void killedBuildsResumeToTheSameBytes() throws Exception {
        Path model = TestCorpus.model(tmp);
        Path corpus = TestCorpus.write(tmp.resolve("docs.jsonl"), 400, 3);

        Path reference = tmp.resolve("reference");
        Process p = index(model, corpus, reference);
        assertEquals(0, p.waitFor(), () -> read(log(reference)));
        Map<String, String> expected = TestCorpus.folderHashes(reference);
        assertEquals(List.of(Index.EMBEDDINGS, Index.IDS, Index.MANIFEST), List.copyOf(expected.keySet()));

        Path dir = tmp.resolve("killed");
        // Kill as soon as the build has started (before or inside its first chunk), then after 60 and 200 of the
        // 400 documents are committed: each later run resumes the folder the previous one left.
        long[] killAt = {0, 60, 200};
        List<Long> committedAtKill = new ArrayList<>();
        for (long threshold : killAt) {
            Process run = index(model, corpus, dir);
            long committed = waitForCommitted(dir, threshold, run);
            run.destroyForcibly();  // SIGKILL: no shutdown hook, no finally block runs
            run.waitFor(30, TimeUnit.SECONDS);
            assertFalse(Files.exists(dir.resolve(Index.MANIFEST)),
                    "the run finished before it could be killed at " + threshold + " documents");
            assertTrue(Files.exists(dir.resolve(PartialIndex.PROGRESS)));
            committedAtKill.add(committedDocuments(dir));
            assertTrue(committedAtKill.get(committedAtKill.size() - 1) >= committed);
        }
        Process last = index(model, corpus, dir);
        assertEquals(0, last.waitFor(), () -> read(log(dir)));
        assertTrue(Files.readString(log(dir)).contains("resuming"), Files.readString(log(dir)));
        assertEquals(expected, TestCorpus.folderHashes(dir), "killed at " + committedAtKill + " documents");
    }

    /** Starts {@code reasonir index} in a child JVM; its stderr goes to DIR.log. */
    private Process index(Path model, Path corpus, Path dir) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-Dai.djl.offline=true", "dev.reasonir.cli.Main",
                "index", "--model", model.toString(), "--corpus", corpus.toString(), "--out", dir.toString(),
                "--device", "cpu", "--threads", "1", "--max-length", "64", "--commit-docs", "4"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log(dir).toFile()));
        pb.environment().put("SOURCE_DATE_EPOCH", "1764115200");
        return pb.start();
    }

    private static String read(Path f) {
        try {
            return Files.readString(f);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private Path log(Path dir) {
        return dir.resolveSibling(dir.getFileName() + ".log");
    }

    /** Waits until the build in {@code dir} has committed at least {@code n} documents (n = 0: has started). */
    private long waitForCommitted(Path dir, long n, Process run) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (System.nanoTime() < deadline) {
            if (!run.isAlive()) throw new AssertionError("the build ended early: " + Files.readString(log(dir)));
            if (Files.exists(dir.resolve(PartialIndex.PROGRESS))) {
                long c = committedDocuments(dir);
                if (c >= n) return c;
            }
            Thread.sleep(2);
        }
        throw new AssertionError("no progress to " + n + " documents: " + Files.readString(log(dir)));
    }

    private static long committedDocuments(Path dir) throws IOException {
        // progress.json is replaced by rename, so a read sees a whole file
        JsonNode o = JSON.readTree(Files.readString(dir.resolve(PartialIndex.PROGRESS), StandardCharsets.UTF_8));
        return o.get("committed").get("documents").longValue();
    }
}
