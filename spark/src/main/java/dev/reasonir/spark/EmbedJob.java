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

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
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
 * The output goes through Spark's writer and its commit protocol: a finished job holds every input row exactly once
 * and a {@code _SUCCESS} marker. A failed job leaves no output: the folder it created is removed, and the leftover of
 * a job that could not clean up (killed: an empty folder, or one holding only Spark's {@code _temporary}) is replaced
 * by the next run without {@code --mode overwrite}. Anything else in an existing output folder is never deleted
 * without {@code --mode overwrite}.
 *
 * <p>Without {@code --partitions}, an input read as fewer partitions than Spark's default parallelism (a small JSON
 * file is one partition, one task, one busy executor) is spread over the default parallelism first.
 */
@Command(name = "EmbedJob", sortOptions = false,
        description = {"Embeds a text column of a Parquet or JSON-lines corpus with ReasonIR on Spark; writes Parquet "
                + "with every input column plus embedding, tokens and truncated.",
                "The text is read from the column 'content' unless --column names another."})
public final class EmbedJob implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(EmbedJob.class);

    /** What Spark's file committer leaves in the output folder of a job that did not finish. */
    static final String SPARK_TEMPORARY = "_temporary", SUCCESS = "_SUCCESS";

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

    @Option(names = "--column", paramLabel = "NAME",
            description = "the input's text column to embed (default: ${DEFAULT-VALUE})")
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
                    + " executor works); 0 = as read, or Spark's default parallelism when the input has fewer"
                    + " partitions (default: ${DEFAULT-VALUE})")
    int partitions = 0;

    @Option(names = "--mode", paramLabel = "MODE",
            description = "when --output exists: error, or overwrite (replace it); the leftover of a failed run"
                    + " (no _SUCCESS, nothing but Spark's _temporary) is replaced either way (default: ${DEFAULT-VALUE})")
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
                .withMaxLength(engine.maxLength).withBatchTokens(batchTokens).withThreads(engine.threads)
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
        if (partitions < 0) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--partitions must be >= 0");
        }
        SparkSession spark = SparkSession.builder().appName("reasonir-embed").getOrCreate();
        String lower = input.toLowerCase(Locale.ROOT);
        Dataset<Row> corpus = lower.endsWith(".jsonl") || lower.endsWith(".json")
                ? spark.read().option("mode", "FAILFAST").json(input)
                : spark.read().parquet(input);
        List<String> columns = Arrays.asList(corpus.columns());
        if (!columns.contains(column)) {
            throw new IllegalArgumentException("reasonir-spark: the input has no column '" + column + "'"
                    + ("content".equals(column) ? " (the default text column; name yours with --column)" : "")
                    + "; columns: " + columns);
        }
        corpus = spread(corpus, partitions, spark.sparkContext().defaultParallelism());
        Dataset<Row> embedded = ReasonIRSpark.embed(corpus, column, options);

        org.apache.hadoop.fs.Path out = new org.apache.hadoop.fs.Path(output);
        FileSystem fs;
        boolean existed;
        try {
            fs = out.getFileSystem(spark.sparkContext().hadoopConfiguration());
            existed = fs.exists(out);
            if (existed && save == SaveMode.ErrorIfExists) {
                String why = notALeftover(fs, out);
                if (why != null) {
                    throw new IllegalArgumentException("reasonir-spark: output " + output + " already exists ("
                            + why + "); choose another --output, or pass --mode overwrite to replace it");
                }
                LOG.info("reasonir-spark: {} is the leftover of a failed run (no {}, nothing but Spark's {}):"
                        + " replacing it", output, SUCCESS, SPARK_TEMPORARY);
                fs.delete(out, true);
                existed = false;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reasonir-spark: cannot inspect output " + output + ": " + e.getMessage(),
                    e);
        }
        try {
            embedded.write().mode(save).parquet(output);
        } catch (Throwable e) {  // Spark's failures are checked SparkExceptions thrown undeclared (Scala)
            removeFailedOutput(spark, fs, out, existed, e);
            throw e;
        }
        return 0;
    }

    /**
     * The input spread over {@code partitions} (when positive), or, with 0, over Spark's default parallelism when it
     * has fewer partitions: a small input is read as one partition, which would be one task on one executor while the
     * others idle. The spread is Spark's round-robin repartition, which sorts rows first so that a retried task gets
     * the same rows (the exactly-once output stays exactly-once); a larger input keeps its own partitions (no
     * shuffle). The default parallelism counts the cores of the executors registered so far, so right after the
     * start of a cluster it can be lower than the final count: {@code --partitions} sets it exactly.
     */
    static Dataset<Row> spread(Dataset<Row> corpus, int partitions, int defaultParallelism) {
        if (partitions > 0) return corpus.repartition(partitions);
        int read = corpus.rdd().getNumPartitions();
        if (read >= defaultParallelism) return corpus;
        LOG.info("reasonir-spark: the input is {} partition(s), spread over Spark's default parallelism {} (set"
                + " --partitions to choose)", read, defaultParallelism);
        return corpus.repartition(defaultParallelism);
    }

    /**
     * Null when {@code out} is the leftover of a failed run that can be replaced without {@code --mode overwrite}: a
     * folder that is empty or holds nothing but Spark's {@code _temporary} (what a killed job leaves); else why not
     * (it would hold a user's data or a finished run's, which only {@code --mode overwrite} may delete).
     */
    static String notALeftover(FileSystem fs, org.apache.hadoop.fs.Path out) throws IOException {
        FileStatus status = fs.getFileStatus(out);
        if (!status.isDirectory()) return "a file";
        FileStatus[] entries = fs.listStatus(out);
        if (Arrays.stream(entries).anyMatch(e -> e.getPath().getName().equals(SUCCESS))) {
            return "a finished run: it has " + SUCCESS;
        }
        List<String> other = Arrays.stream(entries).map(e -> e.getPath().getName())
                .filter(n -> !n.equals(SPARK_TEMPORARY)).sorted().toList();
        if (other.isEmpty()) return null;
        return "no " + SUCCESS + ", but it holds " + (other.size() > 5 ? other.subList(0, 5) + "..." : other);
    }

    /**
     * After a failed write: removes the output folder when this run created it (nothing in it is anyone else's), or
     * when it is now nothing but a failed run's leftover; anything else stays. A failure to remove it is added to the
     * write's failure, which is the one reported.
     */
    static void removeFailedOutput(SparkSession spark, FileSystem fs, org.apache.hadoop.fs.Path out, boolean existed,
                                   Throwable failure) {
        try {
            // The failed job's other tasks are killed asynchronously and may still write under _temporary: wait for
            // them (bounded), or the folder would be created again after its removal.
            long deadline = System.nanoTime() + TASKS_DRAIN_NANOS;
            while (runningTasks(spark) > 0 && System.nanoTime() < deadline) Thread.sleep(50);
            if (fs.exists(out) && (!existed || notALeftover(fs, out) == null)) {
                fs.delete(out, true);
                LOG.info("reasonir-spark: the job failed; removed its output folder {}", out);
            }
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure.addSuppressed(e);
        }
    }

    /** How long a failed job's cleanup waits for its killed tasks to end. */
    static final long TASKS_DRAIN_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(30);

    private static int runningTasks(SparkSession spark) {
        int n = 0;
        for (org.apache.spark.SparkExecutorInfo e : spark.sparkContext().statusTracker().getExecutorInfos()) {
            n += e.numRunningTasks();
        }
        return n;
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
