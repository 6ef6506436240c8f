package dev.reasonir.spark;

import dev.reasonir.ReasonIRException;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What an executor finds out about its machine, without Spark running: thread counts and native library folders. */
class ExecutorEnvironmentTest {
    @TempDir
    Path tmp;

    static final List<String> STANDALONE_EXECUTOR = List.of("org.apache.spark.executor.CoarseGrainedExecutorBackend",
            "--driver-url", "spark://CoarseGrainedScheduler@10.0.0.1:40000", "--executor-id", "3", "--hostname",
            "10.0.0.2", "--cores", "6", "--app-id", "app-20261207-0001", "--worker-url",
            "spark://Worker@10.0.0.2:35000", "--resourceProfileId", "0");

    @Test
    void cpuThreadsAreTheExecutorsCoresNotTheMachines() {
        // a standalone executor started with --cores 6 (spark.executor.cores unset: every free core of its worker)
        assertEquals(new ExecutorEnvironment.Threads(6, "the executor's cores"),
                ExecutorEnvironment.executorCores(STANDALONE_EXECUTOR, new SparkConf(false)
                        .set("spark.master", "spark://10.0.0.1:7077")));
        // --cores of another program's command line means nothing
        assertEquals(0, ExecutorEnvironment.executorCores(List.of("my.App", "--cores", "6"), null).count());
        SparkConf conf = new SparkConf(false).set("spark.master", "spark://m:7077").set("spark.executor.cores", "4");
        assertEquals(new ExecutorEnvironment.Threads(4, "spark.executor.cores"),
                ExecutorEnvironment.executorCores(List.of("some.Launcher"), conf));
        assertEquals(new ExecutorEnvironment.Threads(3, "the threads of local mode"),
                ExecutorEnvironment.executorCores(List.of("my.App"), new SparkConf(false).set("spark.master",
                        "local[3,2]")));
        assertEquals(0, ExecutorEnvironment.executorCores(List.of("my.App"),
                new SparkConf(false).set("spark.master", "yarn")).count());

        assertEquals(1, ExecutorEnvironment.localThreads("local"));
        assertEquals(2, ExecutorEnvironment.localThreads("local[2]"));
        assertEquals(Runtime.getRuntime().availableProcessors(), ExecutorEnvironment.localThreads("local[*, 4]"));
        assertEquals(0, ExecutorEnvironment.localThreads("local-cluster[2,1,1024]"));

        // a number the user gave wins; outside a task a GPU engine has no task share: the engine's default
        assertEquals(new ExecutorEnvironment.Threads(5, "--threads"), ExecutorEnvironment.engineThreads(5, "cpu"));
        assertEquals(0, ExecutorEnvironment.engineThreads(0, "cuda:0").count());
        assertEquals("2 threads (spark.task.cpus)", new ExecutorEnvironment.Threads(2, "spark.task.cpus").toString());
    }

    @Test
    void djlCacheMovesToTheWorkFolderOnlyWhenItsOwnIsNotWritable() throws Exception {
        Path work = tmp.resolve("work");
        Path home = tmp.resolve("home/.djl.ai/tokenizers");
        Map<String, String> none = Map.of();
        // DJL's folder is writable: DJL decides
        assertNull(ExecutorEnvironment.djlCacheChoice(none::get, () -> home, work, p -> true));
        // the user chose a folder: kept, even a bad one (DJL reports it)
        assertNull(ExecutorEnvironment.djlCacheChoice(Map.of("DJL_CACHE_DIR", "/mine")::get, () -> home, work,
                p -> false));
        // not writable (a home of another user, a <tmp>/.djl.ai created by another user): the work folder
        String chosen = ExecutorEnvironment.djlCacheChoice(none::get, () -> home, work, p -> !p.equals(home));
        assertEquals(work.resolve(ExecutorEnvironment.FALLBACK_FOLDER).resolve("djl").toString(), chosen);
        // nothing writable: one message that says what to set
        ReasonIRException e = assertThrows(ReasonIRException.class,
                () -> ExecutorEnvironment.djlCacheChoice(none::get, () -> home, work, p -> false));
        assertEquals(ReasonIRException.Kind.IO, e.kind());
        assertTrue(e.getMessage().contains("no writable folder") && e.getMessage().contains("user.home=")
                && e.getMessage().contains("spark.executorEnv.DJL_CACHE_DIR"), e.getMessage());

        // the real check: a path under a regular file can never be a folder, whoever runs the test
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        assertTrue(!ExecutorEnvironment.writableFolder(file.resolve("sub")));
        assertTrue(ExecutorEnvironment.writableFolder(tmp.resolve("new/folder")));
    }
}
