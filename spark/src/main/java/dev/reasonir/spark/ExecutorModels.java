package dev.reasonir.spark;

import dev.reasonir.CheckpointException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The engines of one executor JVM: one per (model folder, device, options), opened by the first task that needs it
 * and reused by every later task and partition on that executor; closed when the JVM exits. Opening the 8B model
 * moves 15 GB, so it must never happen per row or per partition. Concurrent tasks of one executor share an engine on
 * the CPU (the engine serializes calls); on GPUs each task uses the devices Spark assigned to it: one GPU per task,
 * so an executor with two GPUs holds two engines, or all of the executor's GPUs for its one task, as one device pool
 * ({@link #deviceFor}). Each opening logs one INFO line naming the executor, the model folder, the device, the
 * precision and the CPU threads ({@link ExecutorEnvironment#engineThreads}), so that a user can see in the executor's
 * log what each executor really runs on.
 */
public final class ExecutorModels {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);

    private record Key(String modelDir, Options options) {}

    private static final Map<Key, ReasonIR> MODELS = new ConcurrentHashMap<>();
    /** The model folder each given path resolved to on this executor (resolved once, it is looked up per call). */
    private static final Map<String, Path> MODEL_DIRS = new ConcurrentHashMap<>();
    private static final AtomicInteger OPENS = new AtomicInteger();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "reasonir-spark-close"));
    }

    private ExecutorModels() {}

    /**
     * The device for the current task: with device "auto", the GPUs Spark assigned to the task, or "cpu" when it
     * assigned none (or outside a task); any other setting as given. See {@link #deviceFor}.
     */
    static String resolveDevice(String device) {
        if (!"auto".equals(device)) return device;
        TaskContext task = TaskContext.get();
        if (task == null) return "cpu";
        scala.Option<ResourceInformation> gpu = task.resources().get("gpu");
        if (gpu.isEmpty() || gpu.get().addresses().length == 0) return "cpu";
        SparkEnv env = SparkEnv.get();
        String executorGpus = env == null ? null : env.conf().get("spark.executor.resource.gpu.amount", null);
        return deviceFor(gpu.get().addresses(), executorGpus);
    }

    /**
     * The engine device for a task Spark assigned the GPU {@code addresses} on an executor with
     * {@code executorGpus} GPUs ({@code spark.executor.resource.gpu.amount}, null when not set). Two layouts keep
     * every GPU under exactly one engine:
     * <ul>
     * <li><b>one task per GPU</b> ({@code spark.task.resource.gpu.amount=1}): the task's one GPU, {@code cuda:N}; an
     * executor with several GPUs runs as many tasks at once, each on its own engine;</li>
     * <li><b>one task per executor</b> ({@code spark.task.resource.gpu.amount} equal to the executor's amount): every
     * GPU of the executor, as one device pool ({@code cuda:0,1,...}, in ordinal order so that every task of the
     * executor gets the same pool): the task's batches are dealt to whichever GPU is free.</li>
     * </ul>
     * A task with several GPUs but not all of the executor's would let two tasks build pools that share a GPU (two
     * engines, two copies of the weights on one device), so it is refused with what to set.
     */
    static String deviceFor(String[] addresses, String executorGpus) {
        int[] ordinals = new int[addresses.length];
        for (int i = 0; i < addresses.length; i++) {
            try {
                ordinals[i] = Integer.parseInt(addresses[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalStateException("Spark assigned GPU address '" + addresses[i] + "' to this task; the"
                        + " GPU discovery script must report CUDA device ordinals (0, 1, ...)");
            }
        }
        if (ordinals.length == 1) return "cuda:" + ordinals[0];
        java.util.Arrays.sort(ordinals);
        if (executorGpus != null && !executorGpus.isBlank()) {
            double executorAmount = Double.parseDouble(executorGpus.trim());
            if (ordinals.length != (int) executorAmount) {
                throw new IllegalStateException("Spark assigned " + ordinals.length + " of this executor's "
                        + executorGpus.trim() + " GPUs to one task: two tasks could then share a GPU. Set"
                        + " spark.task.resource.gpu.amount to 1 (one task and engine per GPU) or to "
                        + executorGpus.trim() + " (one task per executor, its GPUs as one device pool)");
            }
        }
        StringBuilder device = new StringBuilder("cuda:");
        for (int i = 0; i < ordinals.length; i++) device.append(i > 0 ? "," : "").append(ordinals[i]);
        return device.toString();
    }

    /** The engine for these options on this executor, opened once. */
    static ReasonIR get(EmbedOptions options) {
        String device = resolveDevice(options.device());
        ExecutorEnvironment.Threads threads = ExecutorEnvironment.engineThreads(options.threads(), device);
        Path dir = MODEL_DIRS.computeIfAbsent(options.modelDir(), ExecutorModels::modelDir);
        Key key = new Key(dir.toString(), options.engineOptions(device, threads.count()));
        return MODELS.computeIfAbsent(key, k -> open(k, options.device(), threads));
    }

    private static ReasonIR open(Key k, String requestedDevice, ExecutorEnvironment.Threads threads) {
        ExecutorEnvironment.prepareNativeCaches();
        long t0 = System.nanoTime();
        ReasonIR model = ReasonIR.open(Path.of(k.modelDir()), k.options());
        OPENS.incrementAndGet();
        SparkEnv env = SparkEnv.get();
        // One line per engine, in the executor's log: what a task on this executor really runs on.
        LOG.info("reasonir-spark: executor {} opened {} in {} s: device {}{}, precision {}, CPU threads: {}",
                env == null ? "?" : env.executorId(), k.modelDir(),
                String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9), model.device(),
                requestedDevice.equals(k.options().device()) ? "" : ", from device " + requestedDevice,
                model.precision().name().toLowerCase(Locale.ROOT), threads);
        return model;
    }

    /**
     * The model folder as this executor sees it. A relative path is looked up in the working directory, then in
     * Spark's folder of files shipped with the job ({@code SparkFiles}: the executor's working directory on a
     * cluster, a temporary folder in local mode), so that {@code --archives model.tar.gz#model} with
     * {@code --model model} finds the unpacked archive in both. An archive of the model folder itself
     * ({@code tar -czf model.tar.gz ReasonIR-8B}, the common way) unpacks to {@code model/ReasonIR-8B/}: a folder
     * without {@code config.json} whose one sub-folder with a {@code config.json} is the model is taken for that
     * sub-folder. Anything else fails here, naming what the executor sees and how to ship the model.
     */
    static Path modelDir(String given) {
        Path dir = Path.of(given);
        if (!dir.isAbsolute() && !Files.exists(dir)) {
            Path shipped = ExecutorEnvironment.workFolder().resolve(given);
            if (Files.exists(shipped)) dir = shipped;
        }
        dir = dir.toAbsolutePath().normalize();
        if (Files.isRegularFile(dir.resolve("config.json"))) return dir;
        SparkEnv env = SparkEnv.get();
        String where = "executor " + (env == null ? "?" : env.executorId()) + " on "
                + hostName() + " (working directory " + Path.of("").toAbsolutePath() + ")";
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(ReasonIRException.Kind.IO, "reasonir-spark: model folder " + given
                    + " does not exist on " + where + ". Every executor must read it: a path on a filesystem shared"
                    + " by every worker, or an archive shipped with the job (--archives model.tar.gz#model and"
                    + " --model model)");
        }
        List<Path> models = new ArrayList<>();
        List<String> names = new ArrayList<>();
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path e : entries.sorted().toList()) {
                String name = e.getFileName().toString();
                names.add(name);
                if (Files.isDirectory(e) && Files.isRegularFile(e.resolve("config.json"))) models.add(e);
            }
        } catch (IOException e) {
            throw new CheckpointException(ReasonIRException.Kind.IO, "reasonir-spark: cannot list model folder "
                    + dir + " on " + where + ": " + e.getMessage());
        }
        if (models.size() == 1) return models.get(0);
        throw new CheckpointException(ReasonIRException.Kind.IO, "reasonir-spark: no config.json in model folder "
                + dir + " on " + where + "; it holds " + (names.size() > 12 ? names.subList(0, 12) + "..." : names)
                + (models.size() > 1 ? ", several models: name one of them" : "") + ". An archive shipped with"
                + " --archives must hold the model's files at its root (tar -czf model.tar.gz -C ReasonIR-8B .) or"
                + " one folder holding them (tar -czf model.tar.gz ReasonIR-8B)");
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "this host";
        }
    }

    /** How many engines this JVM has opened so far (tests check that it is one per device, not one per task). */
    public static int opens() {
        return OPENS.get();
    }

    /** Closes every engine of this JVM (at JVM exit; tests call it directly). */
    public static synchronized void closeAll() {
        List<ReasonIR> open = new ArrayList<>(MODELS.values());
        MODELS.clear();
        for (ReasonIR m : open) m.close();
    }
}
