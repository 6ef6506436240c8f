package dev.reasonir.internal;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * Exact-search scoring on the native engine ({@code rir_score} in {@code reasonir.h}): blocks of index rows held in
 * direct buffers (such as the segments of a memory-mapped {@code .npy}) scored against a fixed batch of queries,
 * without copying the rows. Internal: used by the retrieval module's exact search and the Spark search, which must
 * compute the same scores bit for bit; not part of the public API.
 *
 * <p><b>Scores.</b> score(q, x) over dimension D is defined bit for bit: 16 lane partial sums, lane l (0..15)
 * accumulating the dimensions d with {@code d % 16 == l} in ascending d as an fp32 fused multiply-add chain starting
 * at +0 ({@code acc = fma(q[d], x[d], acc)}); then the lanes are reduced in one fixed tree: {@code s8[i] = lane[i] +
 * lane[i+8]} (i &lt; 8), {@code s4[i] = s8[i] + s8[i+4]}, {@code s2[i] = s4[i] + s4[i+2]}, score {@code = s2[0] +
 * s2[1]}. Rows are f16 (converted exactly) or f32. A score depends on the query and the row only, not on the block,
 * the batch, the thread or the CPU's instruction set: it is bit-identical on every x86-64 CPU.
 *
 * <p><b>Use.</b> One instance per thread (it owns a native copy of the queries and a native score buffer, and is not
 * thread-safe); one {@link #score} call per block of rows (hundreds of rows: one JNI crossing each). {@link #close()}
 * frees the native memory; a scorer that is never closed is freed by JavaCPP's deallocator after it becomes
 * unreachable.
 */
public final class NativeScorer implements AutoCloseable {
    private static final int ALIGN_FLOATS = 16;       // 64 bytes

    private final int queryCount;
    private final int dim;
    private final int maxRows;
    private FloatPointer queryMemory;                  // owning allocations, null once closed
    private FloatPointer scoreMemory;
    private final long queryAddress;                   // 64-byte aligned starts inside them
    private final long scoreIndex;                     // first float of the score matrix in scoreMemory
    private final long scoreAddress;
    private Buffer lastRows;                           // the buffer whose base address is cached
    private long lastRowsAddress;

    /**
     * Copies {@code queries} (each of length {@code dim}; finite values expected, not checked here) into native
     * memory and allocates room for the scores of up to {@code maxRows} rows per call.
     *
     * @throws IllegalArgumentException for no queries, a query of another length than {@code dim}, or
     *                                  {@code dim < 1}, {@code maxRows < 1}
     */
    public NativeScorer(float[][] queries, int dim, int maxRows) {
        if (queries == null || queries.length == 0) throw new IllegalArgumentException("no queries");
        if (dim < 1 || maxRows < 1) {
            throw new IllegalArgumentException("dim and maxRows must be >= 1, got " + dim + " and " + maxRows);
        }
        for (int i = 0; i < queries.length; i++) {
            if (queries[i] == null || queries[i].length != dim) {
                throw new IllegalArgumentException("query " + i + " has "
                        + (queries[i] == null ? "no values" : "dimension " + queries[i].length) + ", expected " + dim);
            }
        }
        ReasonIRNative.load();
        this.queryCount = queries.length;
        this.dim = dim;
        this.maxRows = maxRows;
        long queryFloats = (long) queryCount * dim;
        long scoreFloats = (long) queryCount * maxRows;
        queryMemory = new FloatPointer(queryFloats + ALIGN_FLOATS);
        scoreMemory = new FloatPointer(scoreFloats + ALIGN_FLOATS);
        long queryIndex = alignedIndex(queryMemory);
        queryAddress = queryMemory.address() + queryIndex * Float.BYTES;
        scoreIndex = alignedIndex(scoreMemory);
        scoreAddress = scoreMemory.address() + scoreIndex * Float.BYTES;
        for (int i = 0; i < queryCount; i++) {
            queryMemory.position(queryIndex + (long) i * dim).put(queries[i], 0, dim);
        }
        queryMemory.position(0);
    }

    /** Index of the first 64-byte aligned float of a fresh allocation (which is at least 4-byte aligned). */
    private static long alignedIndex(FloatPointer p) {
        return ((64 - (p.address() & 63)) & 63) / Float.BYTES;
    }

    /** Number of queries. */
    public int queries() {
        return queryCount;
    }

    /** Dimension of the queries and rows. */
    public int dim() {
        return dim;
    }

    /** Most rows one {@link #score} call accepts. */
    public int maxRows() {
        return maxRows;
    }

    /**
     * Scores f16 rows: row j (j &lt; {@code rows}) is {@code dim} halves starting at element
     * {@code firstElement + j * dim} of {@code halves} (a direct buffer of little-endian IEEE binary16 values, such as
     * a mapped index segment; its position and limit are ignored). Query i's score against row j goes to
     * {@code out[i][j]}.
     *
     * @throws IllegalArgumentException if the buffer is not direct or not little-endian, the rows lie outside it,
     *                                  {@code rows} exceeds {@link #maxRows()}, or {@code out} is too small
     * @throws IllegalStateException    after {@link #close()}, or if the native call fails (the message says why)
     */
    public void score(ShortBuffer halves, long firstElement, int rows, float[][] out) {
        checkOrder(halves == null ? null : halves.order());
        score(halves, ReasonIRNative.RIR_DTYPE_F16, Short.BYTES, firstElement, rows, out);
    }

    /** As {@link #score(ShortBuffer, long, int, float[][])} for f32 rows (little-endian IEEE binary32). */
    public void score(FloatBuffer floats, long firstElement, int rows, float[][] out) {
        checkOrder(floats == null ? null : floats.order());
        score(floats, ReasonIRNative.RIR_DTYPE_F32, Float.BYTES, firstElement, rows, out);
    }

    /** The engine reads the values as the CPU stores them: little-endian (the library is built for x86-64). */
    private static void checkOrder(ByteOrder order) {
        if (order != null && order != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalArgumentException("rows must be a little-endian buffer, got " + order);
        }
    }

    private void score(Buffer buffer, int dtype, int elementBytes, long firstElement, int rows, float[][] out) {
        if (queryMemory == null) throw new IllegalStateException("scorer is closed");
        if (buffer == null || !buffer.isDirect()) throw new IllegalArgumentException("rows must be a direct buffer");
        if (rows < 0 || rows > maxRows) {
            throw new IllegalArgumentException("rows must be in [0, " + maxRows + "], got " + rows);
        }
        if (firstElement < 0 || firstElement + (long) rows * dim > buffer.capacity()) {
            throw new IllegalArgumentException("rows [" + firstElement + ", " + (firstElement + (long) rows * dim)
                    + ") lie outside the buffer of " + buffer.capacity() + " elements");
        }
        if (out == null || out.length < queryCount) {
            throw new IllegalArgumentException("out needs " + queryCount + " rows");
        }
        for (int i = 0; i < queryCount; i++) {
            if (out[i] == null || out[i].length < rows) {
                throw new IllegalArgumentException("out[" + i + "] holds fewer than " + rows + " scores");
            }
        }
        if (rows == 0) return;
        long base = baseAddress(buffer);
        int status = ReasonIRNative.rir_score(base + firstElement * elementBytes, dtype, rows, dim, queryAddress,
                queryCount, scoreAddress, maxRows);
        Reference.reachabilityFence(buffer);            // the mapping must outlive the native read
        if (status != ReasonIRNative.RIR_OK) {
            BytePointer message = ReasonIRNative.rir_score_last_error();
            throw new IllegalStateException("rir_score failed (status " + status + "): "
                    + (message == null ? "" : message.getString()));
        }
        for (int i = 0; i < queryCount; i++) {
            scoreMemory.position(scoreIndex + (long) i * maxRows).get(out[i], 0, rows);
        }
        scoreMemory.position(0);
    }

    /** Native address of element 0 of a direct buffer (cached for the last buffer seen). */
    private long baseAddress(Buffer buffer) {
        if (buffer != lastRows) {
            Pointer p = new Pointer(buffer.duplicate().position(0));
            lastRowsAddress = p.address();
            lastRows = buffer;
        }
        return lastRowsAddress;
    }

    /** Frees the native copies of the queries and the score buffer. Idempotent. */
    @Override
    public void close() {
        if (queryMemory != null) {
            queryMemory.close();
            scoreMemory.close();
            queryMemory = null;
            scoreMemory = null;
            lastRows = null;
        }
    }
}
