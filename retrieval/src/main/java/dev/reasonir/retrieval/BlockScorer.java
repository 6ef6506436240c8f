package dev.reasonir.retrieval;

import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * Scores one block of index rows against every query: the inner kernel of {@link ExactSearch}. One instance per
 * worker thread; it owns that thread's scratch buffers, so nothing here is shared or synchronized.
 *
 * <p><b>Layout.</b> The block is processed in chunks of {@code chunkDims} dimensions. Each chunk is copied out of the
 * mapped file with one bulk get per row, decoded to float32 and transposed into {@code bt[d][j]} (dimension-major,
 * one array per dimension), so that for a fixed dimension the values of all rows of the block are contiguous. The
 * kernel then runs, for a tile of queries and each dimension d, {@code acc[q][j] += query[q][d] * bt[d][j]} over
 * the rows j: a loop without a reduction, which C2 auto-vectorizes (a dot product per row is a reduction over d,
 * which it does not vectorize). Tiling three queries and two dimensions per pass shares every load of {@code bt}
 * between queries and halves the loads and stores of the accumulators. Measured on Zen 4 with JDK 17 (kernel alone,
 * one core): 3 queries x 2 dims 42 GFLOP/s, 2 x 2 37, 4 x 1 28, and 7-12 for 4 x 2, 2 x 4, 6 x 1 or 8 x 1, whose
 * loop bodies are too large for C2 to unroll and vectorize. Chunking keeps the transposed chunk in L2 while every
 * query tile reads it. In a full search the decoding and transposition, which no JDK 17 compiler vectorizes, take
 * about a quarter of the time at 64 queries (less with more queries: it is done once per block for all of them).
 *
 * <p><b>Why arrays of arrays.</b> JDK 17's SuperWord does not vectorize a loop that indexes one array as
 * {@code a[j]} and another as {@code b[offset + j]} with a loop-invariant offset (it cannot align both), so every
 * array the inner loop touches is indexed by {@code j} alone: one array per dimension of the chunk and one per
 * query's accumulators.
 *
 * <p><b>Determinism.</b> Every row's score is {@code ((0 + q[0]x[0]) + q[1]x[1]) + ...}: float32 products and sums
 * (Java never fuses them into an FMA), accumulated over d in ascending order whatever the block size, chunk size,
 * tile, thread or position of the row. A score therefore depends only on the query and the row, which makes
 * rankings identical for any thread count and equal to a plain sequential dot product.
 */
final class BlockScorer {
    private final MappedMatrix matrix;
    private final float[][] queries;     // [query][dim]
    private final int dim;
    private final int chunkDims;
    private final float[][] transposed;  // [chunk dimension][block row]
    private final short[][] halfRows;    // [block row][chunk dimension], F16 only
    private final float[][] floatRows;   // [block row][chunk dimension], F32 only

    BlockScorer(MappedMatrix matrix, float[][] queries, int blockRows, int chunkDims) {
        this.matrix = matrix;
        this.queries = queries;
        this.dim = matrix.dim();
        this.chunkDims = Math.min(chunkDims, dim);
        this.transposed = new float[this.chunkDims][blockRows];
        boolean half = matrix.dtype() == Dtype.F16;
        this.halfRows = half ? new short[blockRows][this.chunkDims] : null;
        this.floatRows = half ? null : new float[blockRows][this.chunkDims];
    }

    /**
     * Computes {@code acc[q][j]} = score of query q against row {@code first + j} of segment {@code segment}, for
     * {@code j < rows <= blockRows}. Entries at {@code j >= rows} are left unspecified.
     */
    void score(int segment, int first, int rows, float[][] acc) {
        for (float[] a : acc) Arrays.fill(a, 0, rows, 0f);
        ShortBuffer halves = halfRows != null ? matrix.halfSegment(segment) : null;
        FloatBuffer floats = halfRows != null ? null : matrix.floatSegment(segment);
        long base = (long) first * dim;
        for (int d0 = 0; d0 < dim; d0 += chunkDims) {
            int width = Math.min(chunkDims, dim - d0);
            if (halves != null) transposeHalves(halves, base + d0, rows, width);
            else transposeFloats(floats, base + d0, rows, width);
            int q = 0;
            int nq = queries.length;
            for (; q + 3 <= nq; q += 3) {
                tile3(d0, width, rows, queries[q], queries[q + 1], queries[q + 2], acc[q], acc[q + 1], acc[q + 2]);
            }
            if (nq - q == 2) tile2(d0, width, rows, queries[q], queries[q + 1], acc[q], acc[q + 1]);
            else if (nq - q == 1) tile1(d0, width, rows, queries[q], acc[q]);
        }
    }

    /** Copies dimensions {@code [d0, d0 + width)} of the block's rows out of the file and decodes them into bt. */
    private void transposeHalves(ShortBuffer src, long start, int rows, int width) {
        short[][] tile = halfRows;
        for (int j = 0; j < rows; j++) src.get((int) (start + (long) j * dim), tile[j], 0, width);
        float[] table = Half.TO_FLOAT;
        float[][] bt = transposed;
        int d = 0;
        for (; d + 8 <= width; d += 8) {     // 8 output streams per pass: measured faster than 4 or 1
            float[] b0 = bt[d], b1 = bt[d + 1], b2 = bt[d + 2], b3 = bt[d + 3];
            float[] b4 = bt[d + 4], b5 = bt[d + 5], b6 = bt[d + 6], b7 = bt[d + 7];
            for (int j = 0; j < rows; j++) {
                short[] r = tile[j];
                b0[j] = table[r[d] & 0xffff];
                b1[j] = table[r[d + 1] & 0xffff];
                b2[j] = table[r[d + 2] & 0xffff];
                b3[j] = table[r[d + 3] & 0xffff];
                b4[j] = table[r[d + 4] & 0xffff];
                b5[j] = table[r[d + 5] & 0xffff];
                b6[j] = table[r[d + 6] & 0xffff];
                b7[j] = table[r[d + 7] & 0xffff];
            }
        }
        for (; d < width; d++) {
            float[] b = bt[d];
            for (int j = 0; j < rows; j++) b[j] = table[tile[j][d] & 0xffff];
        }
    }

    /** As {@link #transposeHalves} for float32 data. */
    private void transposeFloats(FloatBuffer src, long start, int rows, int width) {
        float[][] tile = floatRows;
        for (int j = 0; j < rows; j++) src.get((int) (start + (long) j * dim), tile[j], 0, width);
        float[][] bt = transposed;
        int d = 0;
        for (; d + 8 <= width; d += 8) {
            float[] b0 = bt[d], b1 = bt[d + 1], b2 = bt[d + 2], b3 = bt[d + 3];
            float[] b4 = bt[d + 4], b5 = bt[d + 5], b6 = bt[d + 6], b7 = bt[d + 7];
            for (int j = 0; j < rows; j++) {
                float[] r = tile[j];
                b0[j] = r[d];
                b1[j] = r[d + 1];
                b2[j] = r[d + 2];
                b3[j] = r[d + 3];
                b4[j] = r[d + 4];
                b5[j] = r[d + 5];
                b6[j] = r[d + 6];
                b7[j] = r[d + 7];
            }
        }
        for (; d < width; d++) {
            float[] b = bt[d];
            for (int j = 0; j < rows; j++) b[j] = tile[j][d];
        }
    }

    // The three kernels below are the same loop for 3, 2 and 1 queries. Each statement adds the terms in ascending
    // d, left to right ((acc + x*u) + y*w), which is what keeps scores independent of the tiling (see class doc).

    private void tile3(int d0, int width, int n, float[] qa, float[] qb, float[] qc,
                       float[] a, float[] b, float[] c) {
        float[][] bt = transposed;
        int dl = 0;
        for (; dl + 2 <= width; dl += 2) {
            int d = d0 + dl;
            float a0 = qa[d], a1 = qa[d + 1], b0 = qb[d], b1 = qb[d + 1], c0 = qc[d], c1 = qc[d + 1];
            float[] u = bt[dl], w = bt[dl + 1];
            for (int j = 0; j < n; j++) {
                float uj = u[j], wj = w[j];
                a[j] = a[j] + a0 * uj + a1 * wj;
                b[j] = b[j] + b0 * uj + b1 * wj;
                c[j] = c[j] + c0 * uj + c1 * wj;
            }
        }
        if (dl < width) {
            int d = d0 + dl;
            float a0 = qa[d], b0 = qb[d], c0 = qc[d];
            float[] u = bt[dl];
            for (int j = 0; j < n; j++) {
                float uj = u[j];
                a[j] = a[j] + a0 * uj;
                b[j] = b[j] + b0 * uj;
                c[j] = c[j] + c0 * uj;
            }
        }
    }

    private void tile2(int d0, int width, int n, float[] qa, float[] qb, float[] a, float[] b) {
        float[][] bt = transposed;
        int dl = 0;
        for (; dl + 2 <= width; dl += 2) {
            int d = d0 + dl;
            float a0 = qa[d], a1 = qa[d + 1], b0 = qb[d], b1 = qb[d + 1];
            float[] u = bt[dl], w = bt[dl + 1];
            for (int j = 0; j < n; j++) {
                float uj = u[j], wj = w[j];
                a[j] = a[j] + a0 * uj + a1 * wj;
                b[j] = b[j] + b0 * uj + b1 * wj;
            }
        }
        if (dl < width) {
            int d = d0 + dl;
            float a0 = qa[d], b0 = qb[d];
            float[] u = bt[dl];
            for (int j = 0; j < n; j++) {
                float uj = u[j];
                a[j] = a[j] + a0 * uj;
                b[j] = b[j] + b0 * uj;
            }
        }
    }

    private void tile1(int d0, int width, int n, float[] qa, float[] a) {
        float[][] bt = transposed;
        int dl = 0;
        for (; dl + 2 <= width; dl += 2) {
            int d = d0 + dl;
            float a0 = qa[d], a1 = qa[d + 1];
            float[] u = bt[dl], w = bt[dl + 1];
            for (int j = 0; j < n; j++) a[j] = a[j] + a0 * u[j] + a1 * w[j];
        }
        if (dl < width) {
            int d = d0 + dl;
            float a0 = qa[d];
            float[] u = bt[dl];
            for (int j = 0; j < n; j++) a[j] = a[j] + a0 * u[j];
        }
    }
}
