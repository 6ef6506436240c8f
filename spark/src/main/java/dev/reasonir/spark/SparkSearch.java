package dev.reasonir.spark;

import dev.reasonir.internal.NativeScorer;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.Search;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructType;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Exact top-k search of a query set against an embedded corpus on Spark: the query vectors and excluded ids are
 * broadcast, each partition keeps its best k per query, and the partial lists are merged pairwise (treeReduce), so
 * neither the corpus nor all candidates ever reach the driver. Each partition scores its rows in blocks with the
 * native engine's exact-search scorer ({@link NativeScorer}, the 16-lane fused multiply-add dot product defined
 * there), ties broken by {@link Hit#TREC_ORDER}: exactly what the single-machine {@code ./reasonir search}
 * ({@code ExactSearch}) computes, bit for bit, so the rankings are identical for float32 vectors.
 *
 * <p>Rows whose embedding is null ({@link EmbedOptions.OnEmpty#NULL}) are never retrieved; a vector of another
 * dimension than the queries fails its task naming the row's id.
 */
public final class SparkSearch {
    private SparkSearch() {}

    /**
     * Embeds the queries on the cluster (each prefixed by {@code instruction}) and ranks {@code corpus} for each:
     * the top {@code k} rows with each query's excluded ids left out, in query order.
     */
    public static List<List<Hit>> search(Dataset<Row> corpus, String idColumn, String embeddingColumn,
                                         List<Search.Query> queries, EmbedOptions queryOptions, int k) {
        SparkSession spark = corpus.sparkSession();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < queries.size(); i++) rows.add(RowFactory.create(i, queries.get(i).text()));
        StructType schema = new StructType().add("q", DataTypes.IntegerType, false).add("text", DataTypes.StringType);
        List<Row> embedded = ReasonIRSpark.embed(spark.createDataFrame(rows, schema), "text", queryOptions)
                .orderBy("q").collectAsList();
        float[][] vectors = new float[queries.size()][];
        for (Row r : embedded) {
            List<Float> v = r.getList(r.fieldIndex(ReasonIRSpark.EMBEDDING));
            float[] f = new float[v.size()];
            for (int d = 0; d < f.length; d++) f[d] = v.get(d);
            vectors[r.getInt(0)] = f;
        }
        return rank(corpus, idColumn, embeddingColumn, vectors,
                queries.stream().map(Search.Query::excludedIds).toList(), k);
    }

    /** Ranks {@code corpus} for query vectors already computed (unit vectors, one dimension for all). */
    public static List<List<Hit>> rank(Dataset<Row> corpus, String idColumn, String embeddingColumn,
                                       float[][] queries, List<List<String>> excludedIds, int k) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        if (queries.length == 0) throw new IllegalArgumentException("no queries");
        if (excludedIds != null && excludedIds.size() != queries.length) {
            throw new IllegalArgumentException(excludedIds.size() + " excluded-id lists for " + queries.length
                    + " queries");
        }
        StructType schema = corpus.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        if (!names.contains(idColumn) || !(schema.apply(idColumn).dataType() instanceof StringType)) {
            throw new IllegalArgumentException("reasonir-spark: the corpus needs a string column '" + idColumn
                    + "'; columns: " + schema.simpleString());
        }
        if (!names.contains(embeddingColumn) || !(schema.apply(embeddingColumn).dataType() instanceof ArrayType a)
                || !(a.elementType() instanceof FloatType)) {
            throw new IllegalArgumentException("reasonir-spark: the corpus needs an array<float> column '"
                    + embeddingColumn + "'; columns: " + schema.simpleString());
        }
        List<Set<String>> excluded = new ArrayList<>();
        for (int q = 0; q < queries.length; q++) {
            excluded.add(excludedIds == null ? Set.of() : new HashSet<>(excludedIds.get(q)));
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(corpus.sparkSession().sparkContext());
        Broadcast<float[][]> bq = jsc.broadcast(queries);
        Broadcast<List<Set<String>>> bx = jsc.broadcast(excluded);
        try {
            JavaRDD<Row> rows = corpus.select(idColumn, embeddingColumn).javaRDD();
            Partial best = rows.mapPartitions(it -> {
                float[][] qs = bq.value();
                List<Set<String>> ex = bx.value();
                Partial p = new Partial(qs.length, k);
                if (!it.hasNext()) return List.of(p).iterator();
                int dim = qs[0].length;
                ExecutorEnvironment.prepareNativeCaches();  // the scorer is the engine's native library
                try (NativeScorer scorer = new NativeScorer(qs, dim, BLOCK_ROWS)) {
                    FloatBuffer block = ByteBuffer.allocateDirect(BLOCK_ROWS * dim * Float.BYTES)
                            .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                    String[] ids = new String[BLOCK_ROWS];
                    float[][] scores = new float[qs.length][BLOCK_ROWS];
                    int n = 0;
                    while (it.hasNext()) {
                        Row r = it.next();
                        if (r.isNullAt(1)) continue;
                        String id = r.getString(0);
                        List<Float> v = r.getList(1);
                        if (v.size() != dim) {
                            throw new IllegalArgumentException("reasonir-spark: row '" + id + "' has a " + v.size()
                                    + "-d embedding; the queries are " + dim + "-d");
                        }
                        int base = n * dim;
                        for (int d = 0; d < dim; d++) block.put(base + d, v.get(d));
                        ids[n++] = id;
                        if (n == BLOCK_ROWS) {
                            offerBlock(scorer, block, ids, n, scores, ex, p);
                            n = 0;
                        }
                    }
                    if (n > 0) offerBlock(scorer, block, ids, n, scores, ex, p);
                }
                return List.of(p).iterator();
            }).treeReduce(Partial::merge);
            return best.ranked();
        } finally {
            bq.destroy();
            bx.destroy();
        }
    }

    /** Rows per native scoring call in a partition (a direct buffer of 256 x dim floats, 4 MiB at 4096-d). */
    static final int BLOCK_ROWS = 256;

    /** Scores rows {@code [0, n)} of {@code block} against every query and offers them, skipping excluded ids. */
    private static void offerBlock(NativeScorer scorer, FloatBuffer block, String[] ids, int n, float[][] scores,
                                   List<Set<String>> excluded, Partial p) {
        scorer.score(block, 0, n, scores);
        for (int q = 0; q < scores.length; q++) {
            Set<String> ex = excluded.get(q);
            float[] s = scores[q];
            for (int j = 0; j < n; j++) {
                if (!ex.contains(ids[j])) p.offer(q, ids[j], s[j]);
            }
        }
    }

    /** The best k (id, score) per query of some rows; serializable (it travels between executors and the driver). */
    static final class Partial implements Serializable {
        private static final long serialVersionUID = 1L;
        private final int k;
        private final List<List<Object[]>> kept = new ArrayList<>();  // per query: {id, score} (Hit is a record
                                                                      // without Serializable)
        private transient List<PriorityQueue<Hit>> heaps;

        Partial(int queries, int k) {
            this.k = k;
            for (int q = 0; q < queries; q++) kept.add(new ArrayList<>());
        }

        private List<PriorityQueue<Hit>> heaps() {
            if (heaps == null) {
                heaps = new ArrayList<>();
                for (List<Object[]> list : kept) {
                    PriorityQueue<Hit> h = new PriorityQueue<>(Hit.TREC_ORDER.reversed());  // worst kept on top
                    for (Object[] e : list) h.add(new Hit((String) e[0], -1, (Float) e[1]));
                    heaps.add(h);
                }
            }
            return heaps;
        }

        void offer(int q, String id, float score) {
            PriorityQueue<Hit> h = heaps().get(q);
            if (h.size() == k && score < h.peek().score()) return;  // cannot enter: skip the allocation
            Hit hit = new Hit(id, -1, score);
            if (h.size() < k) {
                h.add(hit);
            } else if (Hit.TREC_ORDER.compare(hit, h.peek()) < 0) {
                h.poll();
                h.add(hit);
            }
        }

        Partial merge(Partial other) {
            for (int q = 0; q < kept.size(); q++) {
                for (Hit hit : other.heaps().get(q)) offer(q, hit.id(), hit.score());
            }
            return this;
        }

        private Object writeReplace() {
            if (heaps != null) {
                for (int q = 0; q < kept.size(); q++) {
                    kept.get(q).clear();
                    for (Hit h : heaps.get(q)) kept.get(q).add(new Object[] {h.id(), h.score()});
                }
            }
            return this;
        }

        List<List<Hit>> ranked() {
            List<List<Hit>> out = new ArrayList<>();
            for (PriorityQueue<Hit> h : heaps()) {
                List<Hit> list = new ArrayList<>(h);
                list.sort(Hit.TREC_ORDER);
                out.add(list);
            }
            return out;
        }
    }
}
