package dev.reasonir.spark;

import dev.reasonir.Options;
import picocli.CommandLine.Option;

/**
 * The engine options both Spark jobs take (a picocli mixin), each declared once, with the engine's defaults from
 * {@link Options} (never retyped here).
 */
final class JobEngineOptions {
    @Option(names = "--device", paramLabel = "DEV",
            description = "auto (the task's GPU, else CPU), cpu, cuda, cuda:N (default: ${DEFAULT-VALUE})")
    String device = Options.DEFAULT_DEVICE;

    @Option(names = "--max-length", paramLabel = "N",
            description = "tokens per input including BOS (default: ${DEFAULT-VALUE})")
    int maxLength = Options.DEFAULT_MAX_LENGTH;

    // 0 is Options.DEFAULT_THREADS, whose meaning on Spark is the share Spark gives the engine (EmbedOptions#threads).
    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads of an executor's engine; 0 = Spark's share: the executor's cores on the CPU (one"
                    + " engine serves all the executor's tasks), spark.task.cpus on a GPU (default: ${DEFAULT-VALUE})")
    int threads = Options.DEFAULT_THREADS;
}
