package dev.reasonir.spark;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.Precision;

import java.io.Serializable;
import java.util.Objects;

/**
 * What {@link ReasonIRSpark#embed} runs: the model folder (a path every executor can read: a shared filesystem, or a
 * folder shipped with {@code --archives}), the instruction and the engine's options. Immutable and serializable: it
 * travels from the driver to the tasks.
 *
 * @param modelDir    checkpoint folder (config.json, safetensors, tokenizer.json) as seen by the executors; a relative
 *                    path is also looked up among the files shipped with the job ({@code --archives m.tar.gz#model}
 *                    with {@code "model"}), and a folder whose one sub-folder holds the model (an archive of the model
 *                    folder itself) is taken for that sub-folder ({@link ExecutorModels#modelDir})
 * @param instruction prefix of every text, attended to but not pooled (default {@link Instructions#DOCUMENT})
 * @param device      "auto" (default): the GPU Spark assigned to the task ({@code spark.task.resource.gpu.amount}),
 *                    else the CPU; or "cpu", "cuda", "cuda:N" to force one
 * @param maxLength   tokens per input including BOS; longer inputs are truncated and flagged ({@code truncated})
 * @param batchTokens token budget of one packed batch
 * @param threads     CPU threads of one engine; 0 (default) = what Spark gives it, found on the executor: on the CPU
 *                    the executor's cores (one CPU engine serves all the tasks of its executor), on a GPU
 *                    {@code spark.task.cpus}; every core of the machine only where neither is known
 *                    ({@link ExecutorEnvironment#engineThreads})
 * @param precision   numeric mode
 * @param rowsPerCall rows handed to the engine at once (it packs them into token-budget batches and tokenizes the
 *                    next window while it embeds the current one)
 * @param onEmpty     a null or empty text: {@link OnEmpty#FAIL} the task naming the row (default), or
 *                    {@link OnEmpty#NULL}: keep the row with a null embedding and 0 tokens
 */
public record EmbedOptions(String modelDir, String instruction, String device, int maxLength, int batchTokens,
                           int threads, Precision precision, int rowsPerCall, OnEmpty onEmpty)
        implements Serializable {

    /** What to do with a row whose text is null or empty. */
    public enum OnEmpty { FAIL, NULL }

    public EmbedOptions {
        if (modelDir == null || modelDir.isBlank()) throw new IllegalArgumentException("modelDir is required");
        Objects.requireNonNull(instruction, "instruction");
        if (device == null || device.isBlank()) throw new IllegalArgumentException("device must not be empty");
        Objects.requireNonNull(onEmpty, "onEmpty");
        if (rowsPerCall < 1) throw new IllegalArgumentException("rowsPerCall must be >= 1, got " + rowsPerCall);
        // Fail on the driver, not in every task: the engine's own checks of maxLength, batchTokens, threads, precision
        // (the fields are not assigned yet inside this constructor, hence the parameters).
        Options.defaults().withMaxLength(maxLength).withBatchTokens(batchTokens).withThreads(threads)
                .withPrecision(precision);
    }

    /**
     * Defaults for a model folder: documents, device auto, max length 512, 8192-token batches, threads from Spark,
     * 1024 rows per call.
     */
    public static EmbedOptions of(String modelDir) {
        Options d = Options.defaults();
        return new EmbedOptions(modelDir, Instructions.DOCUMENT, d.device(), d.maxLength(), d.batchTokens(),
                d.threads(), d.precision(), 1024, OnEmpty.FAIL);
    }

    public EmbedOptions withInstruction(String v) {
        return new EmbedOptions(modelDir, v, device, maxLength, batchTokens, threads, precision, rowsPerCall, onEmpty);
    }

    public EmbedOptions withDevice(String v) {
        return new EmbedOptions(modelDir, instruction, v, maxLength, batchTokens, threads, precision, rowsPerCall,
                onEmpty);
    }

    public EmbedOptions withMaxLength(int v) {
        return new EmbedOptions(modelDir, instruction, device, v, batchTokens, threads, precision, rowsPerCall,
                onEmpty);
    }

    public EmbedOptions withBatchTokens(int v) {
        return new EmbedOptions(modelDir, instruction, device, maxLength, v, threads, precision, rowsPerCall,
                onEmpty);
    }

    public EmbedOptions withThreads(int v) {
        return new EmbedOptions(modelDir, instruction, device, maxLength, batchTokens, v, precision, rowsPerCall,
                onEmpty);
    }

    public EmbedOptions withPrecision(Precision v) {
        return new EmbedOptions(modelDir, instruction, device, maxLength, batchTokens, threads, v, rowsPerCall,
                onEmpty);
    }

    public EmbedOptions withRowsPerCall(int v) {
        return new EmbedOptions(modelDir, instruction, device, maxLength, batchTokens, threads, precision, v,
                onEmpty);
    }

    public EmbedOptions withOnEmpty(OnEmpty v) {
        return new EmbedOptions(modelDir, instruction, device, maxLength, batchTokens, threads, precision, rowsPerCall,
                v);
    }

    /** The engine's options on the device and with the threads a task resolved ("cpu", "cuda:N"). */
    Options engineOptions(String resolvedDevice, int resolvedThreads) {
        return Options.defaults().withDevice(resolvedDevice).withMaxLength(maxLength).withBatchTokens(batchTokens)
                .withThreads(resolvedThreads).withPrecision(precision);
    }
}
