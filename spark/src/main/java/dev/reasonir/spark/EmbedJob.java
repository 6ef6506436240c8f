package dev.reasonir.spark;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.retrieval.cli.EnvironmentDefaults;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The spark-submit job: reads a corpus (Parquet, or JSON lines), embeds one string column and writes Parquet with
 * every input column plus {@code embedding}, {@code tokens} and {@code truncated}.
 *
 * <pre>
 * spark-submit --class dev.reasonir.spark.EmbedJob reasonir-spark-all.jar \
 *     --input corpus.jsonl --output embedded.parquet --model /models/ReasonIR-8B [--device auto] [--max-length 512]
 * </pre>
 *
 * The output goes through Spark's writer and its commit protocol: a finished job holds every input row exactly once,
 * and a failed one leaves no partial output (only Spark's own temporary folder, removed on the next run of
 * {@code --mode overwrite}).
 */
@Command(name = "EmbedJob", sortOptions = false,
        description = "Embeds a text column of a Parquet or JSON-lines corpus with ReasonIR on Spark; writes Parquet.")
public final class EmbedJob implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help and exit")
    boolean help;

    @Option(names = "--input", required = true, paramLabel = "PATH",
            description = "corpus: Parquet (a .parquet file or folder) or JSON lines (.jsonl, .json)")
    String input;

    @Option(names = "--output", required = true, paramLabel = "PATH", description = "Parquet folder to write")
    String output;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "model folder readable by every executor (shared filesystem, or shipped with --archives)")
    String model;

    @Option(names = "--column", paramLabel = "NAME", description = "text column (default: ${DEFAULT-VALUE})")
    String column = "content";

    @Option(names = "--instruction", paramLabel = "TEXT", description = "prefix of every text (default: documents)")
    String instruction = Instructions.DOCUMENT;

    @Mixin
    JobEngineOptions engine;

    @Option(names = "--batch-tokens", paramLabel = "N",
            description = "token budget of a batch (default: ${DEFAULT-VALUE})")
    int batchTokens = Options.DEFAULT_BATCH_TOKENS;

    @Option(names = "--precision", paramLabel = "P", description = "default, fp32 or bf16 (default: ${DEFAULT-VALUE})")
    String precision = Options.DEFAULT_PRECISION.name().toLowerCase(Locale.ROOT);

    @Option(names = "--on-empty", paramLabel = "MODE",
            description = "null or empty text: fail, or null (keep the row, null embedding) "
                    + "(default: ${DEFAULT-VALUE})")
    String onEmpty = "fail";

    @Option(names = "--partitions", paramLabel = "N",
            description = "spread the input over N partitions first (at least the number of task slots, so every"
                    + " executor works); 0 = as read (default: ${DEFAULT-VALUE})")
    int partitions = 0;

    @Option(names = "--mode", paramLabel = "MODE",
            description = "when --output exists: error or overwrite (default: ${DEFAULT-VALUE})")
    String mode = "error";

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The job's command line; a failure of the job prints one line naming the cause (exit 1), bad options exit 2. */
    static CommandLine commandLine() {
        return commandLine(System::getenv);
    }

    /** The job's command line, its options' environment variables read with {@code env}. */
    static CommandLine commandLine(java.util.function.Function<String, String> env) {
        return EnvironmentDefaults.install(withOneLineErrors(new CommandLine(new EmbedJob()), "EmbedJob"), env);
    }

    /** A failure prints "NAME: cause" on one line and exits 1 (the cause: ours, or the one Spark wrapped). */
    static CommandLine withOneLineErrors(CommandLine cmd, String name) {
        return cmd.setExecutionExceptionHandler((e, c, parsed) -> {
            String why = e.getMessage();
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof IllegalArgumentException || t instanceof dev.reasonir.ReasonIRException
                        || t instanceof dev.reasonir.retrieval.RetrievalException) {
                    why = t.getMessage();
                }
            }
            c.getErr().println(name + ": " + (why == null ? e.getClass().getSimpleName()
                    : why.lines().findFirst().orElse(why)));
            return 1;
        });
    }

    @Override
    public Integer call() {
        EmbedOptions options = EmbedOptions.of(model).withInstruction(instruction).withDevice(engine.device)
                .withMaxLength(engine.maxLength).withBatchTokens(batchTokens)
                .withPrecision(parsePrecision(precision))
                .withOnEmpty(switch (onEmpty) {
                    case "fail" -> EmbedOptions.OnEmpty.FAIL;
                    case "null" -> EmbedOptions.OnEmpty.NULL;
                    default -> throw new CommandLine.ParameterException(new CommandLine(this),
                            "--on-empty must be fail or null, not '" + onEmpty + "'");
                });
        SaveMode save = switch (mode) {
            case "error" -> SaveMode.ErrorIfExists;
            case "overwrite" -> SaveMode.Overwrite;
            default -> throw new CommandLine.ParameterException(new CommandLine(this),
                    "--mode must be error or overwrite, not '" + mode + "'");
        };
        SparkSession spark = SparkSession.builder().appName("reasonir-embed").getOrCreate();
        String lower = input.toLowerCase(Locale.ROOT);
        Dataset<Row> corpus = lower.endsWith(".jsonl") || lower.endsWith(".json")
                ? spark.read().option("mode", "FAILFAST").json(input)
                : spark.read().parquet(input);
        if (partitions < 0) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--partitions must be >= 0");
        }
        if (partitions > 0) corpus = corpus.repartition(partitions);
        ReasonIRSpark.embed(corpus, column, options).write().mode(save).parquet(output);
        return 0;
    }

    private Precision parsePrecision(String p) {
        return switch (p) {
            case "default" -> Precision.DEFAULT;
            case "fp32" -> Precision.FP32;
            case "bf16" -> Precision.BF16;
            default -> throw new CommandLine.ParameterException(new CommandLine(this),
                    "--precision must be default, fp32 or bf16, not '" + p + "'");
        };
    }
}
