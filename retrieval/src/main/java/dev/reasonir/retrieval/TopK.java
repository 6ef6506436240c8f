package dev.reasonir.retrieval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The best {@code capacity} (score, row) pairs seen so far for one query, in the ranking order of
 * {@link Hit#TREC_ORDER}: a bounded binary heap whose root is the worst pair kept, stored in primitive arrays so that
 * offering a candidate allocates nothing. One per query and worker thread of {@link ExactSearch}; not thread-safe.
 *
 * <p>Order: higher score first; equal scores by id in descending UTF-8 byte order (trec_eval's tie-break); then, for
 * the degenerate case of two rows with the same id and score, by row ascending, so the order is total and the
 * result never depends on the order in which candidates arrive (that is, on threads). NaN scores, which only a
 * corrupt index produces, rank after every number.
 */
final class TopK {
    private final int capacity;
    private final String[] ids;
    private float[] scores;
    private long[] rows;
    private int size;

    TopK(int capacity, String[] ids) {
        this.capacity = capacity;
        this.ids = ids;
        int initial = Math.min(capacity, 64);
        this.scores = new float[initial];
        this.rows = new long[initial];
    }

    /**
     * Candidates scoring below this can be skipped without calling {@link #offer}: negative infinity until the heap
     * is full, then the worst score kept. Candidates scoring exactly this much must still be offered (their id may
     * win the tie).
     */
    float threshold() {
        return size < capacity ? Float.NEGATIVE_INFINITY : scores[0];
    }

    /** Keeps (score, row) if it ranks among the best {@code capacity} seen. */
    void offer(float score, long row) {
        if (size < capacity) {
            if (size == scores.length) grow();
            siftUp(size++, score, row);
        } else if (compare(score, row, scores[0], rows[0], ids) < 0) {
            siftDown(score, row);
        }
    }

    /** Adds every pair kept to {@code out} as hits, in no particular order. */
    void drainTo(List<Hit> out) {
        for (int i = 0; i < size; i++) out.add(new Hit(ids[(int) rows[i]], rows[i], scores[i]));
    }

    /**
     * The ranking order: negative if (sa, ra) ranks before (sb, rb). Agrees with {@link Hit#TREC_ORDER} whenever that
     * one is decided.
     */
    static int compare(float sa, long ra, float sb, long rb, String[] ids) {
        if (sa > sb) return -1;
        if (sa < sb) return 1;
        boolean nanA = sa != sa, nanB = sb != sb;
        if (nanA != nanB) return nanA ? 1 : -1;
        if (ra == rb) return 0;
        int byId = Hit.compareUtf8(ids[(int) rb], ids[(int) ra]);
        return byId != 0 ? byId : Long.compare(ra, rb);
    }

    /** {@link #compare} on hits, for sorting merged results. */
    static Comparator<Hit> order(String[] ids) {
        return (a, b) -> compare(a.score(), a.row(), b.score(), b.row(), ids);
    }

    /** Merges the heaps of one query from every worker and returns the best {@code k}, best first. */
    static List<Hit> merge(List<TopK> parts, int k, String[] ids) {
        List<Hit> all = new ArrayList<>();
        for (TopK part : parts) part.drainTo(all);
        all.sort(order(ids));
        return all.size() > k ? new ArrayList<>(all.subList(0, k)) : all;
    }

    private void grow() {
        int n = (int) Math.min(capacity, 2L * scores.length);
        scores = Arrays.copyOf(scores, n);
        rows = Arrays.copyOf(rows, n);
    }

    // Heap invariant: a parent ranks after (is worse than) both its children, so the root is the worst pair kept.

    private void siftUp(int i, float score, long row) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (compare(scores[parent], rows[parent], score, row, ids) >= 0) break;
            scores[i] = scores[parent];
            rows[i] = rows[parent];
            i = parent;
        }
        scores[i] = score;
        rows[i] = row;
    }

    /** Replaces the root with (score, row) and restores the invariant. */
    private void siftDown(float score, long row) {
        int i = 0;
        int half = size >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            int right = child + 1;
            if (right < size && compare(scores[right], rows[right], scores[child], rows[child], ids) > 0) {
                child = right;
            }
            if (compare(score, row, scores[child], rows[child], ids) >= 0) break;
            scores[i] = scores[child];
            rows[i] = rows[child];
            i = child;
        }
        scores[i] = score;
        rows[i] = row;
    }
}
