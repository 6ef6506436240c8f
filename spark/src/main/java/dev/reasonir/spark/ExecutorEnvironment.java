package dev.reasonir.spark;

import dev.reasonir.ReasonIRException;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import org.apache.spark.TaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an executor's engine needs from the machine it runs on, found out on the executor itself: how many CPU threads
 * Spark gives the engine, and writable folders for the two native libraries that are unpacked from the jar on first
 * use (the engine's, through JavaCPP, and the tokenizer's, through DJL).
 */
final class ExecutorEnvironment {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorEnvironment.class);

    /** JavaCPP's cache folder property (the engine's native library is unpacked there). */
    static final String JAVACPP_CACHE = "org.bytedeco.javacpp.cachedir";
    /** DJL's folders for native libraries and for everything (environment variable or system property). */
    static final String DJL_ENGINE_CACHE = "ENGINE_CACHE_DIR", DJL_CACHE = "DJL_CACHE_DIR";
    /** Under the executor's work folder: where the native libraries go when the usual folders are not writable. */
    static final String FALLBACK_FOLDER = "reasonir-native-cache";

    private static boolean nativeCachesReady;
    private static volatile Threads executorCores;

    private ExecutorEnvironment() {}

    /** An engine's CPU thread count and where it came from (for the log line of the engine's opening). */
    record Threads(int count, String source) {
        @Override
        public String toString() {
            return (count == 0 ? "all cores" : count + (count == 1 ? " thread" : " threads")) + " (" + source + ")";
        }
    }

    /**
     * The threads of an engine on {@code device} ("cpu", "cuda", "cuda:N", as resolved for the task). A positive
     * {@code requested} is kept. With 0 (the default), what Spark gives the engine: on the CPU, the executor's cores,
     * because one CPU engine serves every task of the executor (the engine runs one call at a time, each call on all
     * of its threads); on a GPU, {@code spark.task.cpus}, the CPU share of the one task that drives the device. Without
     * either (outside a task, an unknown cluster manager), 0: every core of the machine, the engine's own default.
     */
    static Threads engineThreads(int requested, String device) {
        if (requested > 0) return new Threads(requested, "--threads");
        if (!"cpu".equals(device)) {
            TaskContext task = TaskContext.get();
            return task == null ? new Threads(0, "outside a Spark task")
                    : new Threads(task.cpus(), "spark.task.cpus");
        }
        Threads cores = executorCores;
        if (cores == null) {
            SparkEnv env = SparkEnv.get();
            cores = executorCores(javaCommand(), env == null ? null : env.conf());
            executorCores = cores;  // the same for the life of the JVM
        }
        return cores;
    }

    /**
     * The cores of this executor: the {@code --cores} its cluster manager started it with (the executor backend's
     * command line, for standalone, YARN and Kubernetes alike: standalone gives an executor every free core of its
     * worker when {@code spark.executor.cores} is not set, and this is the number it got); in local mode the threads
     * of the master URL ({@code local[N]}, {@code local[*]}); else {@code spark.executor.cores}; else 0.
     */
    static Threads executorCores(List<String> command, SparkConf conf) {
        boolean backend = command.stream().anyMatch(a -> a.endsWith("ExecutorBackend"));
        int i = command.indexOf("--cores");
        if (backend && i >= 0 && i + 1 < command.size()) {
            try {
                int n = Integer.parseInt(command.get(i + 1).trim());
                if (n > 0) return new Threads(n, "the executor's cores");
            } catch (NumberFormatException e) {
                // not a number: fall through to the configuration
            }
        }
        if (conf != null) {
            int local = localThreads(conf.get("spark.master", ""));
            if (local > 0) return new Threads(local, "the threads of local mode");
            int cores = conf.getInt("spark.executor.cores", 0);
            if (cores > 0) return new Threads(cores, "spark.executor.cores");
        }
        return new Threads(0, "the executor's cores are unknown");
    }

    private static final Pattern LOCAL = Pattern.compile("local\\[(\\*|\\d+)(?:,\\s*\\d+)?]");

    /** Task threads of a local master URL ("local" 1, "local[N]" or "local[N,F]" N, "local[*]" all), else 0. */
    static int localThreads(String master) {
        if ("local".equals(master)) return 1;
        Matcher m = LOCAL.matcher(master);
        if (!m.matches()) return 0;
        return "*".equals(m.group(1)) ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(m.group(1));
    }

    /** This JVM's main class and arguments. */
    private static List<String> javaCommand() {
        String command = System.getProperty("sun.java.command");
        if (command != null && !command.isBlank()) return Arrays.asList(command.trim().split("\\s+"));
        return Arrays.asList(ProcessHandle.current().info().arguments().orElse(new String[0]));
    }

    /**
     * Makes sure both native libraries can be unpacked on this executor, before the first engine or scorer of the JVM
     * loads them. Each library has its own search for a folder: JavaCPP's {@code org.bytedeco.javacpp.cachedir},
     * {@code ~/.javacpp/cache}, then {@code <tmp>/.javacpp-<user>/cache}; DJL's {@code ENGINE_CACHE_DIR} or
     * {@code DJL_CACHE_DIR}, {@code ~/.djl.ai}, then {@code <tmp>/.djl.ai} when the home is not writable. Executors
     * often run as a service user without a writable home, and {@code <tmp>/.djl.ai} is shared by every user of the
     * machine: it belongs to whoever created it first, and another user's executor then failed at its first text
     * with DJL's "Failed to load Huggingface native library" (cause: "Unexpected flavor: cpu"), which names neither
     * the folder nor the fix. Where a library's folder is not writable, its folder is set to one in the executor's
     * work folder (private to the application, removed with it); a folder the user set is left alone.
     *
     * @throws ReasonIRException (IO) when no folder is writable, naming the settings that fix it
     */
    static synchronized void prepareNativeCaches() {
        if (nativeCachesReady) return;
        Function<String, String> settings = name -> {
            String v = System.getenv(name);
            return v != null && !v.isEmpty() ? v : System.getProperty(name);
        };
        Path work = workFolder();
        boolean javacppUsable;
        try {
            // Its own search; it throws only when no candidate folder can be created and written.
            org.bytedeco.javacpp.Loader.getCacheDir();
            javacppUsable = true;
        } catch (IOException | RuntimeException e) {
            javacppUsable = false;
        }
        if (!javacppUsable) {
            Path dir = fallback(work, "javacpp", ExecutorEnvironment::writableFolder,
                    "-D" + JAVACPP_CACHE + "=/a/writable/folder in spark.executor.extraJavaOptions");
            System.setProperty(JAVACPP_CACHE, dir.toString());
            LOG.info("reasonir-spark: no writable JavaCPP cache (~/.javacpp/cache, <tmp>/.javacpp-<user>; user.home={}),"
                    + " the engine's native library is unpacked into {}", System.getProperty("user.home"), dir);
        }
        Path djlOwn = ai.djl.util.Utils.getEngineCacheDir("tokenizers");
        String djl = djlCacheChoice(settings, () -> djlOwn, work, ExecutorEnvironment::writableFolder);
        if (djl != null) {
            System.setProperty(DJL_ENGINE_CACHE, djl);
            LOG.info("reasonir-spark: DJL's cache {} is not writable (user.home={}), the tokenizer's native library is"
                    + " unpacked into {}", djlOwn, System.getProperty("user.home"), djl);
        }
        nativeCachesReady = true;
    }

    /**
     * The folder to set as DJL's {@code ENGINE_CACHE_DIR}, or null to leave DJL's own choice: when the user set
     * {@code ENGINE_CACHE_DIR} or {@code DJL_CACHE_DIR}, or when DJL's tokenizer folder can be written.
     */
    static String djlCacheChoice(Function<String, String> settings, java.util.function.Supplier<Path> djlFolder,
                                 Path work, Predicate<Path> writable) {
        if (settings.apply(DJL_ENGINE_CACHE) != null || settings.apply(DJL_CACHE) != null) return null;
        if (writable.test(djlFolder.get())) return null;
        // DJL appends "tokenizers" to ENGINE_CACHE_DIR.
        Path dir = fallback(work, "djl", writable, DJL_CACHE + "=/a/writable/folder in spark.executorEnv."
                + DJL_CACHE);
        return dir.toString();
    }

    /** {@code work/reasonir-native-cache/name}, or a clear failure naming the settings that fix it. */
    static Path fallback(Path work, String name, Predicate<Path> writable, String fix) {
        Path dir = work.resolve(FALLBACK_FOLDER).resolve(name);
        if (writable.test(dir)) return dir;
        throw new ReasonIRException(ReasonIRException.Kind.IO, "reasonir-spark: this executor has no writable folder"
                + " to unpack the " + ("djl".equals(name) ? "tokenizer's" : "engine's") + " native library into:"
                + " neither the home folder (user.home=" + System.getProperty("user.home") + "), the temporary folder"
                + " (java.io.tmpdir=" + System.getProperty("java.io.tmpdir") + ") nor the work folder " + work
                + " can be written. Give the executors' user a writable home, or set " + fix);
    }

    /** Whether {@code dir} exists or can be created, and is a folder this process can write to. */
    static boolean writableFolder(Path dir) {
        try {
            Files.createDirectories(dir);
            return Files.isDirectory(dir) && Files.isWritable(dir);
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return false;
        }
    }

    /**
     * The executor's work folder: Spark's folder of files shipped with the job (the executor's working directory on
     * a cluster, a temporary folder in local mode), else the working directory.
     */
    static Path workFolder() {
        try {
            if (SparkEnv.get() != null) return Path.of(SparkFiles.getRootDirectory()).toAbsolutePath();
        } catch (RuntimeException e) {
            // no SparkFiles root yet: the working directory
        }
        return Path.of("").toAbsolutePath();
    }
}
