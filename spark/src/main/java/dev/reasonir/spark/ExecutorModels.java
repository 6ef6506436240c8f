package dev.reasonir.spark;

import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The engines of one executor JVM: one per (model folder, device, options), opened by the first task that needs it
 * and reused by every later task and partition on that executor; closed when the JVM exits. Opening the 8B model
 * moves 15 GB, so it must never happen per row or per partition. Concurrent tasks of one executor share an engine on
 * the CPU (the engine serializes calls); on GPUs each task uses the device Spark assigned to it, so an executor with
 * two GPUs holds two engines.
 */
public final class ExecutorModels {
    private record Key(String modelDir, Options options) {}

    private static final Map<Key, ReasonIR> MODELS = new ConcurrentHashMap<>();
    private static final AtomicInteger OPENS = new AtomicInteger();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "reasonir-spark-close"));
    }

    private ExecutorModels() {}

    /**
     * The device for the current task: with device "auto", the first GPU address Spark assigned to the task
     * ({@code cuda:<address>}), or "cpu" when it assigned none (or outside a task); any other setting as given.
     */
    static String resolveDevice(String device) {
        if (!"auto".equals(device)) return device;
        TaskContext task = TaskContext.get();
        if (task == null) return "cpu";
        scala.Option<ResourceInformation> gpu = task.resources().get("gpu");
        if (gpu.isEmpty() || gpu.get().addresses().length == 0) return "cpu";
        String address = gpu.get().addresses()[0];
        try {
            return "cuda:" + Integer.parseInt(address.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException("Spark assigned GPU address '" + address + "' to this task; the GPU"
                    + " discovery script must report CUDA device ordinals (0, 1, ...)");
        }
    }

    /** The engine for these options on this executor, opened once. */
    static ReasonIR get(EmbedOptions options) {
        Options engine = options.engineOptions(resolveDevice(options.device()));
        Key key = new Key(Path.of(options.modelDir()).toAbsolutePath().normalize().toString(), engine);
        return MODELS.computeIfAbsent(key, k -> {
            OPENS.incrementAndGet();
            return ReasonIR.open(Path.of(k.modelDir()), k.options());
        });
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
