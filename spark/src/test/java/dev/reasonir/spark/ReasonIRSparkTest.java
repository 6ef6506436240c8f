package dev.reasonir.spark;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.FixturesAccess;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.NpyWriter;
import dev.reasonir.ReasonIR;
import dev.reasonir.retrieval.Dtype;
import dev.reasonir.retrieval.ExactSearch;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.MappedMatrix;
import dev.reasonir.retrieval.Search;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spark local mode ({@code local[2,3]}: two task threads, a failed task is tried up to 3 times) on h256_l4, CPU. */
class ReasonIRSparkTest {
    private static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("content", DataTypes.StringType, true);
    private static final int MAX_LENGTH = 48;

    @TempDir
    static Path tmp;
    static SparkSession spark;
    static Path model;
    static List<Row> docs;

    @BeforeAll
    static void start() throws Exception {
        model = FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        spark = SparkSession.builder().master("local[2,3]").appName("reasonir-spark-test")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
        docs = new ArrayList<>();
        String[] words = "the proof of the lemma uses induction on the length of a sequence of tokens".split(" ");
        for (int i = 0; i < 40; i++) {
            StringBuilder t = new StringBuilder("Document " + i + ":");
            for (int w = 0; w < 3 + (i * 7) % 60; w++) t.append(' ').append(words[(i + w) % words.length]);
            docs.add(RowFactory.create("d" + i, t.toString()));
        }
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
        ExecutorModels.closeAll();
    }

    static Dataset<Row> frame(List<Row> rows, int partitions) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        return spark.createDataFrame(jsc.parallelize(rows, partitions), SCHEMA);
    }

    static EmbedOptions options() {
        return EmbedOptions.of(model.toString()).withDevice("cpu").withMaxLength(MAX_LENGTH).withRowsPerCall(3);
    }

    /** The Java API's result for the same texts, in docs order. */
    static EmbeddingResult reference() {
        List<String> texts = docs.stream().map(r -> r.getString(1)).toList();
        try (ReasonIR m = ReasonIR.open(model, Options.defaults().withDevice("cpu").withMaxLength(MAX_LENGTH))) {
            return m.embed(texts, Instructions.DOCUMENT);
        }
    }

    static void assertMatchesReference(List<Row> out) {
        EmbeddingResult ref = reference();
        Set<Integer> truncated = new HashSet<>();
        for (EmbeddingResult.Truncation t : ref.truncations()) truncated.add(t.index());
        assertEquals(docs.size(), out.size());
        for (Row r : out) {
            int i = Integer.parseInt(r.<String>getAs("id").substring(1));
            assertEquals(docs.get(i).getString(1), r.getAs("content"));
            List<Float> v = r.getList(r.fieldIndex("embedding"));
            float[] got = new float[v.size()];
            for (int k = 0; k < got.length; k++) got[k] = v.get(k);
            // bit for bit: the engine is batch-invariant, so grouping rows differently changes nothing
            assertArrayEquals(ref.vectors()[i], got, 0.0f, "embedding of d" + i);
            assertEquals(ref.tokenCounts()[i], r.<Integer>getAs("tokens"), "tokens of d" + i);
            assertEquals(truncated.contains(i), r.<Boolean>getAs("truncated"), "truncated flag of d" + i);
        }
        assertFalse(truncated.isEmpty(), "the test corpus must include texts over the max length");
    }

    @Test
    void embeddingsEqualTheJavaApiBitForBitWithEmptyPartitionsAndOneEnginePerJvm() {
        int before = ExecutorModels.opens();
        // 45 partitions for 40 rows: some partitions are empty
        Dataset<Row> out = ReasonIRSpark.embed(frame(docs, 45), "content", options());
        assertEquals(List.of("id", "content", "embedding", "tokens", "truncated"), List.of(out.schema().fieldNames()));
        assertMatchesReference(out.orderBy("id").collectAsList());
        int afterFirst = ExecutorModels.opens();
        assertTrue(afterFirst - before <= 1, "one engine for all the tasks of the first job");  // 0: opened earlier
        ReasonIRSpark.embed(frame(docs, 3), "content", options()).count();
        assertEquals(afterFirst, ExecutorModels.opens(), "the second job reuses the executor's engine");
        assertTrue(afterFirst >= 1);
    }

    @Test
    void anExecutorOnADevicePoolGivesTheSameEmbeddings() {
        // "cpu*2" stands in for an executor's GPUs as one pool (one task per executor, ExecutorModels.deviceFor):
        // batches dealt to two engines, the rows of every partition still the Java API's, bit for bit
        Dataset<Row> out = ReasonIRSpark.embed(frame(docs, 4), "content", options().withDevice("cpu*2"));
        assertMatchesReference(out.orderBy("id").collectAsList());
    }

    @Test
    void aTaskFailingMidPartitionIsRetriedAndTheOutputHoldsEveryRowOnce() {
        // The first attempt of partition 1 dies after its first rows were embedded and handed on; Spark retries the
        // task, and the Parquet writer's commit protocol keeps only the successful attempt's file.
        Dataset<Row> input = frame(docs, 3).mapPartitions(new FailFirstAttempt(), Encoders.row(SCHEMA));
        String path = tmp.resolve("out.parquet").toString();
        ReasonIRSpark.embed(input, "content", options()).write().parquet(path);
        List<Row> back = spark.read().parquet(path).orderBy("id").collectAsList();
        Set<String> ids = new HashSet<>();
        for (Row r : back) assertTrue(ids.add(r.getString(0)), "id " + r.getString(0) + " written twice");
        assertMatchesReference(back);
    }

    @Test
    void theJobEmbedsAJsonLinesCorpusIntoParquet() throws Exception {
        Path corpus = writeCorpus(tmp.resolve("corpus.jsonl"));
        String out = tmp.resolve("job.parquet").toString();
        String[] args = {"--input", corpus.toString(), "--output", out, "--model", model.toString(), "--device", "cpu",
                "--max-length", String.valueOf(MAX_LENGTH)};
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine job = EmbedJob.commandLine();
        job.setErr(new java.io.PrintWriter(err, true));
        assertEquals(0, job.execute(args), err.toString());
        assertMatchesReference(spark.read().parquet(out).orderBy("id").collectAsList());
        // the small file is read as one partition; without --partitions it is spread over every task slot
        assertEquals(spark.sparkContext().defaultParallelism(),
                new java.io.File(out).list((d, n) -> n.endsWith(".parquet")).length);

        assertEquals(1, job.execute(args), "the output exists and --mode is error");
        assertTrue(err.toString().contains("EmbedJob: ") && err.toString().contains("already exists"),
                err.toString());
        assertEquals(0, job.execute(concat(args, "--mode", "overwrite", "--partitions", "3")));
        assertEquals(3, new java.io.File(out).list((d, n) -> n.endsWith(".parquet")).length);
        assertMatchesReference(spark.read().parquet(out).orderBy("id").collectAsList());
        assertEquals(2, job.execute("--input", corpus.toString(), "--output", out), "--model is required");
        assertEquals(2, job.execute(concat(args, "--mode", "append")));
        err.getBuffer().setLength(0);
        assertEquals(1, job.execute(concat(args, "--mode", "overwrite", "--column", "text")));
        assertTrue(err.toString().contains("no column 'text'"), err.toString());

        // the default column, absent: the message says it is the default and how to name another
        Path texts = tmp.resolve("texts.jsonl");
        Files.writeString(texts, "{\"id\": \"a\", \"text\": \"some text\"}\n");
        err.getBuffer().setLength(0);
        assertEquals(1, job.execute("--input", texts.toString(), "--output", tmp.resolve("texts.parquet").toString(),
                "--model", model.toString(), "--device", "cpu"));
        assertTrue(err.toString().contains("no column 'content' (the default text column; name yours with --column)"
                + "; columns: [id, text]"), err.toString());
    }

    @Test
    void withoutPartitionsOnlyAnInputWithFewerPartitionsThanTheDefaultParallelismIsSpread() {
        assertEquals(2, spark.sparkContext().defaultParallelism(), "local[2,3]");
        assertEquals(2, EmbedJob.spread(frame(docs, 1), 0, 2).rdd().getNumPartitions());
        assertEquals(5, EmbedJob.spread(frame(docs, 5), 0, 2).rdd().getNumPartitions(), "no shuffle when enough");
        assertEquals(3, EmbedJob.spread(frame(docs, 5), 3, 2).rdd().getNumPartitions(), "--partitions wins");
    }

    @Test
    void aRerunAfterAFailedJobNeedsNoOverwriteAndOtherDataIsNeverDeleted() throws Exception {
        Path good = writeCorpus(tmp.resolve("rerun-corpus.jsonl"));
        Path bad = tmp.resolve("rerun-bad.jsonl");
        Files.writeString(bad, Files.readString(good) + "{\"id\": \"x\", \"content\": \"\"}\n");
        Path out = tmp.resolve("rerun.parquet");
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine job = EmbedJob.commandLine();
        job.setErr(new java.io.PrintWriter(err, true));
        String[] common = {"--output", out.toString(), "--model", model.toString(), "--device", "cpu",
                "--max-length", String.valueOf(MAX_LENGTH)};

        // a failed job removes the output folder it created
        assertEquals(1, job.execute(concat(common, "--input", bad.toString())));
        assertTrue(err.toString().contains("column 'content' is empty"), err.toString());
        assertFalse(Files.exists(out), "the failed job's output folder is removed");

        // a job killed before it could clean up leaves an empty folder or Spark's _temporary: the rerun replaces it
        Files.createDirectories(out.resolve("_temporary/0/_temporary/attempt_1"));
        Files.writeString(out.resolve("_temporary/0/_temporary/attempt_1/part-00000.parquet"), "partial");
        err.getBuffer().setLength(0);
        assertEquals(0, job.execute(concat(common, "--input", good.toString())), err.toString());
        assertTrue(Files.exists(out.resolve("_SUCCESS")));
        assertFalse(Files.exists(out.resolve("_temporary")));
        assertMatchesReference(spark.read().parquet(out.toString()).orderBy("id").collectAsList());

        // a finished run is not replaced without --mode overwrite, and a failure then removes nothing of it
        err.getBuffer().setLength(0);
        assertEquals(1, job.execute(concat(common, "--input", bad.toString())));
        assertTrue(err.toString().contains("already exists (a finished run: it has _SUCCESS); choose another"
                + " --output, or pass --mode overwrite to replace it"), err.toString());
        assertTrue(Files.exists(out.resolve("_SUCCESS")));

        // a folder holding anything else is someone's data: refused and left as it is
        Path mine = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(mine.resolve("notes.txt"), "keep me");
        err.getBuffer().setLength(0);
        assertEquals(1, job.execute("--input", good.toString(), "--output", mine.toString(), "--model",
                model.toString(), "--device", "cpu"));
        assertTrue(err.toString().contains("already exists (no _SUCCESS, but it holds [notes.txt])"), err.toString());
        assertEquals("keep me", Files.readString(mine.resolve("notes.txt")));
    }

    @Test
    void onlyAnEmptyFolderOrSparksTemporaryIsALeftover() throws Exception {
        org.apache.hadoop.fs.FileSystem fs = org.apache.hadoop.fs.FileSystem.getLocal(
                new org.apache.hadoop.conf.Configuration());
        Path dir = Files.createDirectories(tmp.resolve("leftover"));
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(dir.toUri());
        assertNull(EmbedJob.notALeftover(fs, p), "empty");
        Files.createDirectories(dir.resolve("_temporary/0"));
        assertNull(EmbedJob.notALeftover(fs, p), "only _temporary");
        Files.writeString(dir.resolve("_SUCCESS"), "");
        assertEquals("a finished run: it has _SUCCESS", EmbedJob.notALeftover(fs, p));
        Files.delete(dir.resolve("_SUCCESS"));
        Files.writeString(dir.resolve("part-00000.parquet"), "data");
        assertEquals("no _SUCCESS, but it holds [part-00000.parquet]", EmbedJob.notALeftover(fs, p));
        Path file = Files.writeString(tmp.resolve("leftover.txt"), "x");
        assertEquals("a file", EmbedJob.notALeftover(fs, new org.apache.hadoop.fs.Path(file.toUri())));
    }

    @Test
    void anExecutorsCpuEngineTakesTheCoresSparkGivesItNotTheMachines() {
        // local[2,3]: two task slots; the executor's one CPU engine gets 2 threads, however many cores the machine has
        MapPartitionsFunction<Row, String> device = it -> List.of(ExecutorModels.get(options()).device()).iterator();
        for (String d : frame(docs, 2).mapPartitions(device, Encoders.STRING()).collectAsList()) {
            assertTrue(d.startsWith("cpu (2 threads, "), d);
        }
        MapPartitionsFunction<Row, String> one =
                it -> List.of(ExecutorModels.get(options().withThreads(1)).device()).iterator();
        assertTrue(frame(docs, 1).mapPartitions(one, Encoders.STRING()).first().startsWith("cpu (1 thread, "));
        // a GPU engine serves one task at a time: its share is the task's, spark.task.cpus (1 by default)
        MapPartitionsFunction<Row, String> gpu =
                it -> List.of(ExecutorEnvironment.engineThreads(0, "cuda:0").toString()).iterator();
        assertEquals("1 thread (spark.task.cpus)", frame(docs, 1).mapPartitions(gpu, Encoders.STRING()).first());
    }

    @Test
    void aModelShippedAsAnArchiveOfItsFolderIsFoundInLocalModeAsOnACluster() throws Exception {
        // The common archive holds the model folder itself (tar -czf model.tar.gz ReasonIR-8B): shipped with
        // --archives model.tar.gz#shipped it unpacks to shipped/ReasonIR-8B, and --model shipped finds the model.
        Path zip = tmp.resolve("model.zip");
        try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(Files.newOutputStream(zip))) {
            z.setLevel(java.util.zip.Deflater.NO_COMPRESSION);
            try (var files = Files.list(model)) {
                for (Path f : files.sorted().toList()) {
                    z.putNextEntry(new java.util.zip.ZipEntry("ReasonIR-8B/" + f.getFileName()));
                    Files.copy(f, z);  // follows the fixture's links
                    z.closeEntry();
                }
            }
        }
        spark.sparkContext().addArchive(zip.toUri() + "#shipped");
        EmbedOptions shipped = EmbedOptions.of("shipped").withDevice("cpu").withMaxLength(MAX_LENGTH)
                .withRowsPerCall(5);
        assertMatchesReference(ReasonIRSpark.embed(frame(docs, 2), "content", shipped).orderBy("id")
                .collectAsList());

        // the same layout in a folder given by its path
        Path nested = Files.createDirectories(tmp.resolve("nested/ReasonIR-8B"));
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) Files.createSymbolicLink(nested.resolve(f.getFileName()), f);
        }
        assertEquals(nested, ExecutorModels.modelDir(tmp.resolve("nested").toString()));
        assertEquals(model.toAbsolutePath().normalize(), ExecutorModels.modelDir(model.toString()));

        // anything else: what the executor sees, and how to make the archive
        dev.reasonir.CheckpointException e = assertThrows(dev.reasonir.CheckpointException.class,
                () -> ExecutorModels.modelDir(Files.createDirectories(tmp.resolve("two/a")).getParent().toString()));
        assertTrue(e.getMessage().contains("no config.json in model folder") && e.getMessage().contains("holds [a]")
                && e.getMessage().contains("tar -czf model.tar.gz -C ReasonIR-8B .")
                && e.getMessage().contains("executor driver"), e.getMessage());
        e = assertThrows(dev.reasonir.CheckpointException.class, () -> ExecutorModels.modelDir("no-such-model"));
        assertTrue(e.getMessage().contains("model folder no-such-model does not exist on executor driver")
                && e.getMessage().contains("--archives model.tar.gz#model"), e.getMessage());
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void searchEqualsTheSingleMachineSearchWithExcludedIds() throws Exception {
        String instruction = "Given a question, retrieve passages that answer it: ";
        List<Search.Query> queries = List.of(
                new Search.Query("q1", "a proof by induction on the length", List.of()),
                new Search.Query("q2", "a sequence of tokens", List.of("d3", "d10", "d17")),
                new Search.Query("q3", "Document 12", List.of("d12")));
        int k = 7;
        Dataset<Row> corpus = ReasonIRSpark.embed(frame(docs, 4), "content", options());
        List<List<Hit>> got = SparkSearch.search(corpus, "id", "embedding", queries,
                options().withInstruction(instruction), k);

        List<List<Hit>> want = singleMachine(queries, instruction, k);
        assertEquals(queries.size(), got.size());
        for (int q = 0; q < queries.size(); q++) {
            assertEquals(k, got.get(q).size());
            for (int i = 0; i < k; i++) {
                Hit g = got.get(q).get(i), w = want.get(q).get(i);
                assertEquals(w.id(), g.id(), queries.get(q).id() + " rank " + (i + 1));
                assertEquals(Float.floatToIntBits(w.score()), Float.floatToIntBits(g.score()),
                        queries.get(q).id() + " rank " + (i + 1) + " score");
                assertFalse(queries.get(q).excludedIds().contains(g.id()));
            }
        }
        float[][] qv = {new float[256]};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkSearch.rank(corpus, "id", "content", qv, null, 3));
        assertTrue(e.getMessage().contains("array<float> column 'content'"), e.getMessage());
    }

    /** The single-machine search: the Java API's vectors in an f32 matrix, ranked by ExactSearch. */
    static List<List<Hit>> singleMachine(List<Search.Query> queries, String instruction, int k) throws Exception {
        EmbeddingResult ref = reference();
        Path npy = Files.createTempFile(tmp, "ref", ".npy");
        try (NpyWriter w = new NpyWriter(npy, ref.vectors()[0].length)) {
            for (float[] v : ref.vectors()) w.append(v);
        }
        String[] ids = docs.stream().map(r -> r.getString(0)).toArray(String[]::new);
        float[][] qv;
        try (ReasonIR m = ReasonIR.open(model, Options.defaults().withDevice("cpu").withMaxLength(MAX_LENGTH))) {
            qv = m.embed(queries.stream().map(Search.Query::text).toList(), instruction).vectors();
        }
        List<Set<Long>> excludedRows = new ArrayList<>();
        for (Search.Query q : queries) {
            Set<Long> rows = new HashSet<>();
            for (String id : q.excludedIds()) rows.add(Long.parseLong(id.substring(1)));
            excludedRows.add(rows);
        }
        try (MappedMatrix m = MappedMatrix.map(npy, NpyWriter.HEADER_LEN, ids.length, qv[0].length, Dtype.F32)) {
            return ExactSearch.search(m, ids, qv, k, excludedRows, 2);
        }
    }

    @Test
    void theSearchJobWritesTheRunOfTheSingleMachineSearch() throws Exception {
        Path corpus = writeCorpus(tmp.resolve("search-corpus.jsonl"));
        String embedded = tmp.resolve("search-embedded.parquet").toString();
        assertEquals(0, EmbedJob.commandLine().execute("--input", corpus.toString(), "--output", embedded,
                "--model", model.toString(), "--device", "cpu", "--max-length", String.valueOf(MAX_LENGTH)));
        Path queries = tmp.resolve("queries.jsonl");
        Files.writeString(queries, "{\"id\": \"q1\", \"query\": \"induction on the length\"}\n"
                + "{\"id\": \"q2\", \"query\": \"tokens of a sequence\", \"excluded_ids\": [\"d5\", \"d6\"]}\n");
        Path run = tmp.resolve("run.trec");
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine job = SearchJob.commandLine();
        job.setErr(new java.io.PrintWriter(err, true));
        assertEquals(0, job.execute("--corpus", embedded, "--queries", queries.toString(), "--model",
                model.toString(), "--device", "cpu", "--max-length", String.valueOf(MAX_LENGTH), "--task", "biology",
                "--top-k", "5", "--out", run.toString()), err.toString());
        List<Search.Query> qs = Search.readQueries(queries);
        Path expected = tmp.resolve("expected.trec");
        Search.writeTrec(expected, qs, singleMachine(qs, Instructions.bright("biology"), 5));
        assertEquals(Files.readString(expected), Files.readString(run));
        assertEquals(2, Files.readAllLines(tmp.resolve("run.jsonl")).size());
        assertEquals(2, job.execute("--corpus", embedded, "--queries", queries.toString(), "--model",
                model.toString(), "--out", run.toString()), "--task or --instruction is required");
        err.getBuffer().setLength(0);
        assertEquals(1, job.execute("--corpus", embedded, "--queries", tmp.resolve("none.jsonl").toString(),
                "--model", model.toString(), "--instruction", "", "--out", run.toString()));
        assertTrue(err.toString().contains("none.jsonl does not exist"), err.toString());
    }

    static Path writeCorpus(Path corpus) throws Exception {
        StringBuilder lines = new StringBuilder();
        for (Row r : docs) {
            lines.append("{\"id\": \"").append(r.getString(0)).append("\", \"content\": \"").append(r.getString(1))
                    .append("\"}\n");
        }
        Files.writeString(corpus, lines);
        return corpus;
    }

    /** Passes rows through, but the first attempt of partition 1 throws at its fifth row. */
    static final class FailFirstAttempt implements MapPartitionsFunction<Row, Row> {
        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            TaskContext t = TaskContext.get();
            boolean fail = t.partitionId() == 1 && t.attemptNumber() == 0;
            return new Iterator<>() {
                int n;

                @Override
                public boolean hasNext() {
                    return rows.hasNext();
                }

                @Override
                public Row next() {
                    if (fail && ++n == 5) throw new IllegalStateException("injected failure on the first attempt");
                    return rows.next();
                }
            };
        }
    }

    @Test
    void badInputIsNamed() {
        Dataset<Row> df = frame(docs, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ReasonIRSpark.embed(df, "text", options()));
        assertTrue(e.getMessage().contains("no column 'text'") && e.getMessage().contains("content"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ReasonIRSpark.embed(df.selectExpr("length(content) AS n"), "n", options()));
        assertTrue(e.getMessage().contains("column 'n' is int, not a string"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ReasonIRSpark.embed(
                ReasonIRSpark.embed(df, "content", options()), "content", options()));
        assertTrue(e.getMessage().contains("already has a column 'embedding'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> options().withRowsPerCall(0));
        assertThrows(IllegalArgumentException.class, () -> options().withMaxLength(0));
    }

    @Test
    void nullOrEmptyTextFailsNamingTheRowOrYieldsANullEmbedding() {
        List<Row> rows = List.of(RowFactory.create("a", "some text"), RowFactory.create("b", null),
                RowFactory.create("c", ""));
        Exception e = assertThrows(Exception.class,
                () -> ReasonIRSpark.embed(frame(rows, 1), "content", options()).collectAsList());
        String chain = "";
        for (Throwable t = e; t != null; t = t.getCause()) chain += t.getMessage() + "\n";
        assertTrue(chain.contains("column 'content' is null in row 1 of partition 0"), chain);

        List<Row> out = ReasonIRSpark.embed(frame(rows, 1), "content",
                options().withOnEmpty(EmbedOptions.OnEmpty.NULL)).orderBy("id").collectAsList();
        assertEquals(3, out.size());
        assertEquals(256, out.get(0).getList(2).size());
        for (Row r : out.subList(1, 3)) {
            assertNull(r.get(2));
            assertEquals(0, r.getInt(3));
            assertFalse(r.getBoolean(4));
        }
    }
}
