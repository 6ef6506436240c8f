package dev.reasonir.spark;

import dev.reasonir.Instructions;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.Search;
import dev.reasonir.retrieval.cli.EnvironmentDefaults;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The spark-submit search job: exact top-k of a query file against a corpus embedded by {@link EmbedJob} (Parquet with
 * id and embedding columns). Queries and output are those of {@code ./reasonir search}: query lines
 * {@code {"id", "query", "excluded_ids"}}, a TREC run file and JSON lines, written on the driver.
 *
 * <pre>
 * spark-submit --class dev.reasonir.spark.SearchJob reasonir-spark-all.jar --corpus embedded.parquet \
 *     --queries queries.jsonl --model /models/ReasonIR-8B --task biology --out run.trec [--top-k 100]
 * </pre>
 */
@Command(name = "SearchJob", sortOptions = false,
        description = "Ranks a corpus embedded by EmbedJob for each query of a query file (exact cosine, top k) on "
                + "Spark; writes a TREC run file and JSON lines, like ./reasonir search.")
public final class SearchJob implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help and exit")
    boolean help;

    @Option(names = "--corpus", required = true, paramLabel = "PATH", description = "Parquet written by EmbedJob")
    String corpus;

    @Option(names = "--queries", required = true, paramLabel = "Q.jsonl", description = "the queries")
    Path queries;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "the model that embedded the corpus")
    String model;

    static final class QueryInstruction {
        @Option(names = "--task", required = true, paramLabel = "NAME",
                description = "a BRIGHT task: its official query prompt")
        String task;
        @Option(names = "--instruction", required = true, paramLabel = "TEXT",
                description = "your own query instruction (\"\" for none)")
        String instruction;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    QueryInstruction queryInstruction;

    @Option(names = "--out", required = true, paramLabel = "RUN.trec", description = "the TREC run file")
    Path out;

    @Option(names = "--jsonl", paramLabel = "FILE", description = "JSON lines results (default: RUN.jsonl)")
    Path jsonl;

    @Option(names = "--top-k", paramLabel = "K", description = "hits per query (default: ${DEFAULT-VALUE})")
    int k = 100;

    @Option(names = "--id-column", paramLabel = "NAME", description = "(default: ${DEFAULT-VALUE})")
    String idColumn = "id";

    @Option(names = "--embedding-column", paramLabel = "NAME", description = "(default: ${DEFAULT-VALUE})")
    String embeddingColumn = ReasonIRSpark.EMBEDDING;

    @Mixin
    JobEngineOptions engine;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        return commandLine(System::getenv);
    }

    /** The job's command line, its options' environment variables read with {@code env}. */
    static CommandLine commandLine(java.util.function.Function<String, String> env) {
        return EnvironmentDefaults.install(EmbedJob.withOneLineErrors(new CommandLine(new SearchJob()), "SearchJob"),
                env);
    }

    @Override
    public Integer call() throws Exception {
        String instruction = queryInstruction.task != null ? Instructions.bright(queryInstruction.task)
                : queryInstruction.instruction;
        List<Search.Query> qs = Search.readQueries(queries);
        SparkSession spark = SparkSession.builder().appName("reasonir-search").getOrCreate();
        Dataset<Row> docs = spark.read().parquet(corpus);
        EmbedOptions options = EmbedOptions.of(model).withInstruction(instruction).withDevice(engine.device)
                .withMaxLength(engine.maxLength).withThreads(engine.threads);
        List<List<Hit>> hits = SparkSearch.search(docs, idColumn, embeddingColumn, qs, options, k);
        Search.writeTrec(out, qs, hits);
        Search.writeJsonl(jsonl != null ? jsonl : out.resolveSibling(stem(out) + ".jsonl"), qs, hits);
        return 0;
    }

    private static String stem(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
