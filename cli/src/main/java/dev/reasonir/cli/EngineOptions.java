package dev.reasonir.cli;

import dev.reasonir.Options;
import dev.reasonir.Precision;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The options of every command that opens a model (a picocli mixin), each declared once, with the engine's defaults
 * from {@link Options} (never retyped here). {@code --batch-tokens} and {@code --overflow} are separate mixins, for the
 * commands that use them (serve has its own batching; tokenize opens no engine but shares --model, --max-length and
 * --overflow). Every option also reads an environment variable
 * ({@code dev.reasonir.retrieval.cli.EnvironmentDefaults}).
 */
final class EngineOptions {
    /** What the CLI does with an input longer than --max-length. */
    enum Overflow {
        truncate, fail;

        /** The CLI's name of the engine's policy. */
        static Overflow of(Options.Overflow o) {
            return valueOf(o.name().toLowerCase(Locale.ROOT));
        }
    }

    /** The CLI's names of the engine's numeric modes. */
    enum PrecisionFlag {
        DEFAULT(Precision.DEFAULT), FP32(Precision.FP32), BF16(Precision.BF16);

        final Precision value;

        PrecisionFlag(Precision value) {
            this.value = value;
        }

        static PrecisionFlag of(Precision p) {
            for (PrecisionFlag f : values()) if (f.value == p) return f;
            throw new IllegalArgumentException("no flag for " + p);
        }

        /** As typed and shown: lower case. */
        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The CLI's names of the CUDA attention kernels (lower case, as typed). */
    enum AttentionFlag {
        DEFAULT, AUTO, SM80, SM90;

        Options.Attention value() {
            return Options.Attention.valueOf(name());
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The CLI's names of the CUDA graphs choices. */
    enum GraphsFlag {
        DEFAULT, AUTO, ON, OFF;

        Options.CudaGraphs value() {
            return Options.CudaGraphs.valueOf(name());
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** {@code --model}. */
    static final class ModelOption {
        @Option(names = "--model", required = true, paramLabel = "DIR",
                description = "model folder: config.json, safetensors shards, tokenizer.json")
        Path value;
    }

    /** {@code --max-length}: its default depends on the command (eval: BRIGHT's 32768). */
    static final class MaxLengthOption {
        @Option(names = "--max-length", paramLabel = "N",
                description = "tokens per input including BOS; longer inputs keep their first N tokens (commands "
                        + "with --overflow: unless --overflow fail refuses them) (default: "
                        + Options.DEFAULT_MAX_LENGTH + "; eval: " + RetrievalCommands.EVAL_MAX_LENGTH + ")")
        Integer value;

        /** The flag's (or its variable's) value, else {@code commandDefault}; checked. */
        int orDefault(int commandDefault) {
            int max = value != null ? value : commandDefault;
            if (max < 1) throw new CliException("--max-length must be >= 1, got " + max);
            return max;
        }
    }

    @Mixin
    ModelOption modelOption;
    @Mixin
    MaxLengthOption maxLengthOption;

    /** The model folder (--model). */
    Path model() {
        return modelOption.value;
    }

    @Option(names = "--device", paramLabel = "DEV", defaultValue = Options.DEFAULT_DEVICE,
            description = "auto, cpu, cuda or cuda:N; several (one engine each, batches go to whichever is free,"
                    + " same results): cuda:all, cuda:0,2,3 or 'cpu*N' (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "" + Options.DEFAULT_THREADS,
            description = "CPU threads, 0 = all cores (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--precision", paramLabel = "P",
            description = "default, fp32 or bf16; default is fp32 on CPU, bf16 on CUDA (default: ${DEFAULT-VALUE})")
    PrecisionFlag precision = PrecisionFlag.of(Options.DEFAULT_PRECISION);

    @Option(names = "--copy-weights", defaultValue = "" + Options.DEFAULT_COPY_WEIGHTS,
            description = "copy the weights into memory instead of mapping the files (a checkpoint file modified "
                    + "while the model is open can otherwise crash the process)")
    boolean copyWeights;

    @Option(names = "--attention", paramLabel = "K",
            description = "CUDA attention kernel: auto, sm80 (any GPU) or sm90 (H100/H200 only); auto is sm80 "
                    + "until a GPU report shows sm90 faster (default: auto)")
    AttentionFlag attention = AttentionFlag.valueOf(Options.DEFAULT_ATTENTION.name());

    @Option(names = "--cuda-graphs", paramLabel = "G",
            description = "replay batches of at most 512 tokens as CUDA graphs: auto, on or off; same vectors, "
                    + "lower latency for short queries; auto is off until a GPU report shows it faster "
                    + "(default: auto)")
    GraphsFlag cudaGraphs = GraphsFlag.valueOf(Options.DEFAULT_CUDA_GRAPHS.name());

    /** {@code --batch-tokens}, for the commands whose engine calls it sizes. */
    static final class BatchTokens {
        @Option(names = "--batch-tokens", paramLabel = "N", defaultValue = "" + Options.DEFAULT_BATCH_TOKENS,
                description = "token budget of one packed batch (default: ${DEFAULT-VALUE})")
        int value;
    }

    /** {@code --overflow}, for the commands that can refuse a long input instead of truncating it. */
    static final class OverflowOption {
        @Option(names = "--overflow", paramLabel = "MODE",
                description = "inputs longer than --max-length: truncate (keep the first tokens, as the official "
                        + "encode does; reported) or fail (refused, naming the input) (default: ${DEFAULT-VALUE})")
        Overflow value = Overflow.of(Options.DEFAULT_OVERFLOW);
    }

    /**
     * The engine options. The CLI applies --overflow itself (see {@link Main#prepare}) so that its messages speak of
     * flags and file lines; the engine always truncates.
     */
    Options options(int defaultMaxLength, int batchTokens) {
        int max = maxLengthOption.orDefault(defaultMaxLength);
        if (batchTokens < 1) throw new CliException("batch tokens must be >= 1, got " + batchTokens);
        if (threads < 0) throw new CliException("--threads must be >= 0, got " + threads);
        try {
            return Options.defaults().withDevice(device).withMaxLength(max).withBatchTokens(batchTokens)
                    .withThreads(threads).withPrecision(precision.value).withCopyWeights(copyWeights)
                    .withAttention(attention.value()).withCudaGraphs(cudaGraphs.value());
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
    }

    Options options(BatchTokens batch) {
        return options(Options.DEFAULT_MAX_LENGTH, batch.value);
    }
}
