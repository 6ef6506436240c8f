package dev.reasonir.spark;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.ReasonIR;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * ReasonIR on Spark DataFrames.
 *
 * <pre>{@code
 * Dataset<Row> docs = spark.read().parquet("corpus.parquet");            // id, content, ...
 * Dataset<Row> out = ReasonIRSpark.embed(docs, "content", EmbedOptions.of("/models/ReasonIR-8B"));
 * out.write().parquet("embedded.parquet");                               // ..., embedding, tokens, truncated
 * }</pre>
 *
 * Columns added: {@code embedding} ({@code array<float>}, the 4096-d unit vector; null only under
 * {@link EmbedOptions.OnEmpty#NULL}), {@code tokens} (tokens fed to the model, after truncation) and
 * {@code truncated} (the text was cut to the max length). {@code array<float>} rather than a packed f16 binary:
 * Parquet stores it natively (readable by Spark ML, pandas, DuckDB without a decoder), and float32 is what the
 * engine computes, so nothing is rounded on the way (16 KiB per 4096-d row before Parquet's compression).
 *
 * <p>Each task embeds its partition through the executor's engine ({@link ExecutorModels}: opened once per executor
 * JVM and device), {@code rowsPerCall} rows per engine call, in input order. Nothing here schedules, retries or
 * commits: a failed task is retried by Spark, and output written with Spark's writers goes through its commit
 * protocol, so a finished job holds every input row exactly once.
 */
public final class ReasonIRSpark {
    /** Names of the added columns. */
    public static final String EMBEDDING = "embedding", TOKENS = "tokens", TRUNCATED = "truncated";

    private ReasonIRSpark() {}

    /**
     * Adds {@code embedding}, {@code tokens} and {@code truncated} to every row of {@code df}, embedding the string
     * column {@code column}. Lazy, like any transformation. Throws {@link IllegalArgumentException} at once when the
     * column is missing or not a string, or when {@code df} already has one of the added columns.
     */
    public static Dataset<Row> embed(Dataset<Row> df, String column, EmbedOptions options) {
        StructType in = df.schema();
        List<String> names = Arrays.asList(in.fieldNames());
        if (!names.contains(column)) {
            throw new IllegalArgumentException("reasonir-spark: no column '" + column + "' to embed; columns: "
                    + names);
        }
        StructField field = in.apply(column);
        if (!(field.dataType() instanceof StringType)) {
            throw new IllegalArgumentException("reasonir-spark: column '" + column + "' is "
                    + field.dataType().simpleString() + ", not a string");
        }
        for (String added : List.of(EMBEDDING, TOKENS, TRUNCATED)) {
            if (names.contains(added)) {
                throw new IllegalArgumentException("reasonir-spark: the input already has a column '" + added
                        + "'; rename or drop it first");
            }
        }
        StructType out = in
                .add(EMBEDDING, DataTypes.createArrayType(DataTypes.FloatType, false), true)
                .add(TOKENS, DataTypes.IntegerType, false)
                .add(TRUNCATED, DataTypes.BooleanType, false);
        return df.mapPartitions(new EmbedPartition(names.indexOf(column), column, options), Encoders.row(out));
    }

    /** One task's work: its rows in groups of rowsPerCall through the executor's engine, in order. */
    static final class EmbedPartition implements MapPartitionsFunction<Row, Row> {
        private static final long serialVersionUID = 1L;
        private final int textIndex;
        private final String column;
        private final EmbedOptions options;

        EmbedPartition(int textIndex, String column, EmbedOptions options) {
            this.textIndex = textIndex;
            this.column = column;
            this.options = options;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            return new Iterator<>() {
                private final List<Row> done = new ArrayList<>();
                private int next;
                private long seen;  // rows of this partition read so far (for error messages)

                @Override
                public boolean hasNext() {
                    if (next < done.size()) return true;
                    if (!rows.hasNext()) return false;
                    embedGroup();
                    return next < done.size();
                }

                @Override
                public Row next() {
                    if (!hasNext()) throw new NoSuchElementException();
                    return done.get(next++);
                }

                private void embedGroup() {
                    done.clear();
                    next = 0;
                    List<Row> group = new ArrayList<>();
                    List<String> texts = new ArrayList<>();
                    List<Integer> slots = new ArrayList<>();  // index in group of each text sent to the engine
                    while (rows.hasNext() && group.size() < options.rowsPerCall()) {
                        Row r = rows.next();
                        String text = r.isNullAt(textIndex) ? null : r.getString(textIndex);
                        if (text == null || text.isEmpty()) {
                            if (options.onEmpty() == EmbedOptions.OnEmpty.FAIL) {
                                TaskContext t = TaskContext.get();
                                throw new IllegalArgumentException("reasonir-spark: column '" + column + "' is "
                                        + (text == null ? "null" : "empty") + " in row " + seen + " of partition "
                                        + (t == null ? "?" : t.partitionId()) + " (" + r + "); filter such rows"
                                        + " or use EmbedOptions.withOnEmpty(OnEmpty.NULL)");
                            }
                        } else {
                            texts.add(text);
                            slots.add(group.size());
                        }
                        group.add(r);
                        seen++;
                    }
                    Object[][] added = new Object[group.size()][];
                    for (int i = 0; i < added.length; i++) added[i] = new Object[] {null, 0, false};
                    if (!texts.isEmpty()) {
                        ReasonIR model = ExecutorModels.get(options);
                        EmbeddingResult res = model.embed(texts, options.instruction());
                        for (int i = 0; i < texts.size(); i++) {
                            added[slots.get(i)] = new Object[] {res.vectors()[i], res.tokenCounts()[i], false};
                        }
                        for (EmbeddingResult.Truncation t : res.truncations()) added[slots.get(t.index())][2] = true;
                    }
                    for (int i = 0; i < group.size(); i++) {
                        Row r = group.get(i);
                        Object[] values = new Object[r.length() + 3];
                        for (int c = 0; c < r.length(); c++) values[c] = r.get(c);
                        System.arraycopy(added[i], 0, values, r.length(), 3);
                        done.add(RowFactory.create(values));
                    }
                }
            };
        }
    }
}
