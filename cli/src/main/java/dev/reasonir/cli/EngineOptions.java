package dev.reasonir.cli;

import dev.reasonir.Options;
import dev.reasonir.Precision;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The options of every command that opens a model (a picocli mixin). {@code --batch-tokens} and {@code --overflow}
 * are separate mixins, for the commands that use them (serve has its own batching; only embed can fail on overflow).
 */
final class EngineOptions {
    /** What the CLI does with an input longer than --max-length. */
    enum Overflow { truncate, fail }

    /** The CLI's names of the engine's numeric modes. */
    enum PrecisionFlag {
        DEFAULT(Precision.DEFAULT), FP32(Precision.FP32), BF16(Precision.BF16);

        final Precision value;

        PrecisionFlag(Precision value) {
            this.value = value;
        }
    }

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "model folder: config.json, safetensors shards, tokenizer.json")
    Path model;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "auto",
            description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--max-length", paramLabel = "N",
            description = "tokens per input including BOS (default 512); longer inputs keep their first N tokens "
                    + "(commands with --overflow: unless --overflow fail refuses them)")
    Integer maxLength;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "CPU threads, 0 = all cores (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "default",
            description = "default, fp32 or bf16 (default: fp32 on CPU, bf16 on CUDA)")
    PrecisionFlag precision;

    @Option(names = "--copy-weights",
            description = "copy the weights into memory instead of mapping the files (a checkpoint file modified "
                    + "while the model is open can otherwise crash the process)")
    boolean copyWeights;

    /** {@code --batch-tokens}, for the commands whose engine calls it sizes. */
    static final class BatchTokens {
        @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "8192",
                description = "token budget of one packed batch (default: ${DEFAULT-VALUE})")
        int value;
    }

    /** {@code --overflow}, for the commands that can refuse a long input instead of truncating it. */
    static final class OverflowOption {
        @Option(names = "--overflow", paramLabel = "MODE", defaultValue = "truncate",
                description = "inputs longer than --max-length: truncate (keep the first tokens, as the official "
                        + "encode does; reported) or fail (refused, naming the input) (default: ${DEFAULT-VALUE})")
        Overflow value;
    }

    /**
     * The engine options. The CLI applies --overflow itself (see {@link Main#prepare}) so that its messages speak of
     * flags and file lines; the engine always truncates.
     */
    Options options(int defaultMaxLength, int batchTokens) {
        int max = maxLength != null ? maxLength : defaultMaxLength;
        if (max < 1) throw new CliException("--max-length must be >= 1, got " + max);
        if (batchTokens < 1) throw new CliException("batch tokens must be >= 1, got " + batchTokens);
        if (threads < 0) throw new CliException("--threads must be >= 0, got " + threads);
        try {
            return Options.defaults().withDevice(device).withMaxLength(max).withBatchTokens(batchTokens)
                    .withThreads(threads).withPrecision(precision.value).withCopyWeights(copyWeights);
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
    }

    Options options(BatchTokens batch) {
        return options(Options.defaults().maxLength(), batch.value);
    }
}
