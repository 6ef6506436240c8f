package dev.reasonir.retrieval;

import dev.reasonir.internal.NativeScorer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Exact (brute-force) top-k cosine search of a batch of queries over a memory-mapped embedding matrix.
 *
 * <p>With unit-norm vectors the cosine is the dot product, so scoring a batch is the matrix product
 * {@code queries x matrix^T} followed by a top-k per query. The product is computed block by block: the rows are cut
 * into blocks of a few hundred rows that a fixed set of worker threads take from a shared counter; each worker scores
 * a block against every query with one call into the native engine ({@code rir_score}, through
 * {@link NativeScorer}), which reads the rows in place from the mapped file (f16 rows converted once per block in
 * the native kernel) and runs register-blocked AVX-512 / AVX2 fused multiply-adds (4 queries x 6 rows per tile on
 * AVX-512), so the matrix is read from memory once per batch whatever the number of queries; a batch of many
 * queries runs at about the engine's fp32 GEMM rate (measured: 64 queries over 4096-d f16 rows on 2 Sapphire
 * Rapids-class cores, about 210-240 GFLOP/s, the full fp32 GEMM 267), a single query at memory bandwidth. Each worker
 * keeps a bounded heap per query ({@link TopK}); the heaps are merged at the end.
 *
 * <p>Results are exact and deterministic. The score of a query q and a row x over dimension D is defined bit for
 * bit: 16 lane partial sums, lane l (0..15) accumulating the dimensions d with {@code d % 16 == l} in ascending d as
 * an fp32 fused multiply-add chain starting at +0 ({@code acc = fma(q[d], x[d], acc)}); then one fixed reduction
 * tree: {@code s8[i] = lane[i] + lane[i+8]} (i &lt; 8), {@code s4[i] = s8[i] + s8[i+4]},
 * {@code s2[i] = s4[i] + s4[i+2]}, score {@code = s2[0] + s2[1]}; f16 values are converted to fp32 exactly. A score
 * therefore depends only on the query and the row: it is the same for any thread count, block size or number of
 * queries in the batch, and bit-identical on every x86-64 CPU (AVX-512, AVX2 or scalar code; the Spark search,
 * {@code dev.reasonir.spark.SparkSearch}, computes the same bits). Ties are broken by {@link Hit#TREC_ORDER}, so the
 * result is exactly the first k of the full ranking.
 */
public final class ExactSearch {
    /**
     * Rows per block: one native call each. Large enough that the call and the per-block work of the native kernel
     * (packing the queries, about 4 x dim bytes per query) are small against the scoring, small enough that the
     * blocks balance across threads.
     */
    static final int DEFAULT_BLOCK_ROWS = 768;

    private ExactSearch() {}

    /**
     * Ranks all rows of {@code m} for each query and returns the best {@code k} per query, sorted by
     * {@link Hit#TREC_ORDER} (score descending, then id descending), ties at the k-th place included the same way.
     *
     * @param m            the index matrix; rows should be unit vectors for the scores to be cosines
     * @param ids          the id of each row ({@code ids.length == m.rows()})
     * @param queries      query vectors of dimension {@code m.dim()}, finite values (not modified)
     * @param k            hits wanted per query, at least 1; fewer come back when fewer rows are eligible
     * @param excludedRows per query, rows that must not be returned (BRIGHT excludes a query's own documents);
     *                     {@code null}, or a list of {@code queries.length} sets that may be {@code null} or empty.
     *                     Rows outside {@code [0, rows)} are ignored.
     * @param threads      worker threads; {@code <= 0} for all available processors
     * @return one list per query, in query order. Memory beyond the mapped file is small (per thread and query:
     *         a native copy of the query, 4 x dim bytes, the native kernel's packed copy of the same size, and
     *         the block's scores, 3 KiB; the caller's thread keeps its native kernel scratch for its next search)
     *         except for the heaps, which hold up to
     *         {@code min(k, rows)} entries (12 bytes each) per query and thread: ask for the full ranking of a large
     *         index only with few queries.
     * @throws IllegalArgumentException  for a query of the wrong dimension or with a non-finite value, {@code k < 1},
     *                                   {@code ids.length != m.rows()}, or {@code excludedRows} of the wrong size
     * @throws IllegalStateException     if {@code m} is closed
     * @throws CancellationException     if the calling thread is interrupted (its interrupt status is kept)
     */
    public static List<List<Hit>> search(MappedMatrix m, String[] ids, float[][] queries, int k,
                                         List<? extends Set<Long>> excludedRows, int threads) {
        return search(m, ids, queries, k, excludedRows, threads, DEFAULT_BLOCK_ROWS);
    }

    /** {@link #search(MappedMatrix, String[], float[][], int, List, int)} with an explicit block size, for tests. */
    static List<List<Hit>> search(MappedMatrix m, String[] ids, float[][] queries, int k,
                                  List<? extends Set<Long>> excludedRows, int threads, int blockRows) {
        Objects.requireNonNull(m, "matrix");
        Objects.requireNonNull(ids, "ids");
        Objects.requireNonNull(queries, "queries");
        if (blockRows < 1) throw new IllegalArgumentException("blockRows must be >= 1");
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        if (ids.length != m.rows()) {
            throw new IllegalArgumentException("got " + ids.length + " ids for a matrix of " + m.rows() + " rows");
        }
        if (excludedRows != null && excludedRows.size() != queries.length) {
            throw new IllegalArgumentException("got " + excludedRows.size() + " exclusion sets for "
                    + queries.length + " queries");
        }
        int nq = queries.length;
        float[][] q = new float[nq][];
        long[][] excluded = new long[nq][];
        for (int i = 0; i < nq; i++) {
            q[i] = checkedCopy(queries[i], i, m.dim());
            excluded[i] = sortedRows(excludedRows == null ? null : excludedRows.get(i), i, m.rows());
        }
        if (nq == 0) return new ArrayList<>();

        Plan plan = new Plan(m, blockRows);
        int capacity = (int) Math.max(1, Math.min(k, m.rows()));
        int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        workers = Math.max(1, Math.min(workers, plan.blocks()));
        Worker[] pool = new Worker[workers];
        for (int w = 0; w < workers; w++) {
            pool[w] = new Worker(m, ids, q, excluded, capacity, plan, blockRows);
        }
        run(pool);

        List<List<Hit>> results = new ArrayList<>(nq);
        for (int i = 0; i < nq; i++) {
            List<TopK> parts = new ArrayList<>(workers);
            for (Worker w : pool) parts.add(w.top[i]);
            results.add(TopK.merge(parts, k, ids));
        }
        return results;
    }

    private static float[] checkedCopy(float[] query, int index, int dim) {
        if (query == null) throw new IllegalArgumentException("query " + index + " is null");
        if (query.length != dim) {
            throw new IllegalArgumentException("query " + index + " has dimension " + query.length
                    + " but the index has dimension " + dim);
        }
        for (int d = 0; d < dim; d++) {
            if (!Float.isFinite(query[d])) {
                throw new IllegalArgumentException("query " + index + " has a non-finite value at " + d + ": "
                        + query[d]);
            }
        }
        return query.clone();
    }

    /** The rows in [0, rows) of one query's exclusion set, sorted; null when there are none. */
    private static long[] sortedRows(Set<Long> set, int index, long rows) {
        if (set == null || set.isEmpty()) return null;
        long[] sorted = new long[set.size()];
        int n = 0;
        for (Long row : set) {
            if (row == null) throw new IllegalArgumentException("exclusion set " + index + " contains null");
            if (row >= 0 && row < rows) sorted[n++] = row;
        }
        if (n == 0) return null;
        sorted = Arrays.copyOf(sorted, n);
        Arrays.sort(sorted);
        return sorted;
    }

    /**
     * Runs the workers: all but the first on their own (daemon, so a stuck search never keeps the JVM alive)
     * threads, the first on the caller's, and joins them all. The threads end with the call; nothing leaks.
     */
    private static void run(Worker[] pool) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] threads = new Thread[pool.length - 1];
        for (int w = 1; w < pool.length; w++) {
            Worker worker = pool[w];
            Thread t = new Thread(() -> worker.runCatching(failure), "reasonir-exact-search-" + w);
            t.setDaemon(true);
            try {
                t.start();
            } catch (Throwable e) {                         // e.g. no native thread left: stop the ones started
                pool[0].plan.cancelled = true;
                failure.compareAndSet(null, e);
                break;
            }
            threads[w - 1] = t;
        }
        if (!pool[0].plan.cancelled) pool[0].runCatching(failure);
        boolean interrupted = false;
        for (Thread t : threads) {
            while (t != null) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    pool[0].plan.cancelled = true;
                }
            }
        }
        if (interrupted || Thread.currentThread().isInterrupted()) {
            Thread.currentThread().interrupt();
            if (failure.get() == null) throw new CancellationException("exact search interrupted");
        }
        Throwable error = failure.get();
        if (error instanceof RuntimeException) throw (RuntimeException) error;
        if (error instanceof Error) throw (Error) error;
        if (error != null) throw new IllegalStateException("exact search failed", error);
    }

    /**
     * The blocks of a search: each lies within one mapped segment (so a row is read with one bulk copy) and holds
     * at most blockRows rows. Workers take them in order from {@link #next}.
     */
    private static final class Plan {
        final int[] segment;
        final int[] firstInSegment;
        final long[] firstRow;
        final int[] rows;
        final AtomicInteger next = new AtomicInteger();
        volatile boolean cancelled;

        Plan(MappedMatrix m, int blockRows) {
            int count = 0;
            for (int s = 0; s < m.segmentCount(); s++) count += (m.segmentRows(s) + blockRows - 1) / blockRows;
            segment = new int[count];
            firstInSegment = new int[count];
            firstRow = new long[count];
            rows = new int[count];
            int b = 0;
            for (int s = 0; s < m.segmentCount(); s++) {
                int n = m.segmentRows(s);
                for (int r = 0; r < n; r += blockRows, b++) {
                    segment[b] = s;
                    firstInSegment[b] = r;
                    firstRow[b] = m.segmentFirstRow(s) + r;
                    rows[b] = Math.min(blockRows, n - r);
                }
            }
        }

        int blocks() {
            return segment.length;
        }
    }

    /** One worker: its score buffer, per-query heaps and (while it runs) its native scorer. */
    private static final class Worker {
        final Plan plan;
        final MappedMatrix matrix;
        final float[][] queries;
        final int blockRows;
        final float[][] scores;
        final long[][] excluded;
        final TopK[] top;

        Worker(MappedMatrix m, String[] ids, float[][] queries, long[][] excluded, int capacity, Plan plan,
               int blockRows) {
            this.plan = plan;
            this.matrix = m;
            this.queries = queries;
            this.blockRows = blockRows;
            this.scores = new float[queries.length][blockRows];
            this.excluded = excluded;
            this.top = new TopK[queries.length];
            for (int i = 0; i < top.length; i++) top[i] = new TopK(capacity, ids);
        }

        void runCatching(AtomicReference<Throwable> failure) {
            try {
                run();
            } catch (Throwable t) {
                plan.cancelled = true;
                if (!failure.compareAndSet(null, t) && failure.get() != t) failure.get().addSuppressed(t);
            }
        }

        private void run() {
            if (plan.blocks() == 0) return;
            boolean half = matrix.dtype() == Dtype.F16;
            int dim = matrix.dim();
            try (NativeScorer scorer = new NativeScorer(queries, dim, blockRows)) {
                int b;
                while (!plan.cancelled && (b = plan.next.getAndIncrement()) < plan.blocks()) {
                    if (Thread.currentThread().isInterrupted()) {
                        plan.cancelled = true;
                        break;
                    }
                    int n = plan.rows[b];
                    int segment = plan.segment[b];
                    long element = (long) plan.firstInSegment[b] * dim;
                    if (half) scorer.score(matrix.halfSegment(segment), element, n, scores);
                    else scorer.score(matrix.floatSegment(segment), element, n, scores);
                    long first = plan.firstRow[b];
                    for (int i = 0; i < top.length; i++) collect(scores[i], n, first, top[i], excluded[i]);
                }
            }
        }

        /** Offers the block's scores for one query to its heap, skipping excluded rows. */
        private static void collect(float[] scores, int n, long first, TopK top, long[] excluded) {
            float threshold = top.threshold();
            int x = excluded == null ? -1 : lowerBound(excluded, first);
            for (int j = 0; j < n; j++) {
                float s = scores[j];
                if (s < threshold) continue;
                long row = first + j;
                if (x >= 0) {
                    while (x < excluded.length && excluded[x] < row) x++;
                    if (x < excluded.length && excluded[x] == row) continue;
                }
                top.offer(s, row);
                threshold = top.threshold();
            }
        }

        /** Index of the first element of sorted {@code a} that is {@code >= key} (may be {@code a.length}). */
        private static int lowerBound(long[] a, long key) {
            int i = Arrays.binarySearch(a, key);
            return i >= 0 ? i : -i - 1;
        }
    }
}
