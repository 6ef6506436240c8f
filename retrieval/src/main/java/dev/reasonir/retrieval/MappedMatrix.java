package dev.reasonir.retrieval;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A read-only, memory-mapped {@code [rows, dim]} matrix of little-endian floats in C order, such as the data region
 * of a {@code .npy} embedding index.
 *
 * <p>Mapping instead of reading lets an index larger than the heap (1M x 4096 halves is 8 GB) be searched with the
 * operating system's page cache as the only copy, shared by every process that opens it. A single
 * {@link MappedByteBuffer} cannot exceed 2 GiB, so the data is mapped as several segments, each holding whole rows
 * (no row straddles two buffers, so a block of rows is always one contiguous range of one direct buffer, which
 * {@link ExactSearch} hands to the native scorer in place).
 *
 * <p>Reads are thread-safe: they only use absolute gets and native reads of the mapped memory, which never touch a
 * buffer's position.
 * {@link #close()} must not race with reads.
 */
public final class MappedMatrix implements AutoCloseable {
    /** Largest segment: {@code MappedByteBuffer} positions are ints, so a buffer holds at most 2^31 - 1 bytes. */
    static final long MAX_SEGMENT_BYTES = Integer.MAX_VALUE;
    /**
     * Segments are cut at multiples of this many rows when they hold more, so that search blocks (512 or 768 rows,
     * both divide it) fill them exactly.
     */
    private static final int SEGMENT_ROW_ALIGNMENT = 3072;

    private final Path file;
    private final long rows;
    private final int dim;
    private final Dtype dtype;
    private final long segmentRows;      // rows per segment; the last one may hold fewer
    private ShortBuffer[] halves;        // per segment, for F16 (else null); null once closed
    private FloatBuffer[] floats;        // per segment, for F32 (else null); null once closed
    private boolean closed;

    private MappedMatrix(Path file, long rows, int dim, Dtype dtype, long segmentRows,
                         ShortBuffer[] halves, FloatBuffer[] floats) {
        this.file = file;
        this.rows = rows;
        this.dim = dim;
        this.dtype = dtype;
        this.segmentRows = segmentRows;
        this.halves = halves;
        this.floats = floats;
    }

    /**
     * Maps {@code rows x dim} elements of {@code dtype} that start {@code dataOffset} bytes into {@code file} (128 for
     * the {@code .npy} files we write). The file may be longer than that; it must not be shorter.
     *
     * @throws IOException              if the file cannot be opened or mapped, or is too short (the message names
     *                                  the file, the size required and the size found)
     * @throws IllegalArgumentException for a negative offset or row count, or a dimension below 1
     */
    public static MappedMatrix map(Path file, long dataOffset, long rows, int dim, Dtype dtype) throws IOException {
        return map(file, dataOffset, rows, dim, dtype, MAX_SEGMENT_BYTES);
    }

    /** {@link #map(Path, long, long, int, Dtype)} with a smaller segment limit, so tests can force many segments. */
    static MappedMatrix map(Path file, long dataOffset, long rows, int dim, Dtype dtype, long maxSegmentBytes)
            throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(dtype, "dtype");
        if (dataOffset < 0) throw new IllegalArgumentException("dataOffset must be >= 0, got " + dataOffset);
        if (rows < 0) throw new IllegalArgumentException("rows must be >= 0, got " + rows);
        if (dim < 1) throw new IllegalArgumentException("dim must be >= 1, got " + dim);
        long rowBytes = (long) dim * dtype.bytes();
        if (rowBytes > maxSegmentBytes) {
            throw new IllegalArgumentException("a row of " + dim + " " + dtype + " values (" + rowBytes
                    + " bytes) does not fit in one mapped segment of at most " + maxSegmentBytes + " bytes");
        }
        long dataBytes;
        long required;
        try {
            dataBytes = Math.multiplyExact(rows, rowBytes);
            required = Math.addExact(dataOffset, dataBytes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("matrix of " + rows + " x " + dim + " " + dtype + " at offset "
                    + dataOffset + " is larger than any file can be", e);
        }
        long perSegment = maxSegmentBytes / rowBytes;
        if (perSegment >= 2L * SEGMENT_ROW_ALIGNMENT) perSegment -= perSegment % SEGMENT_ROW_ALIGNMENT;
        int segments = (int) ((rows + perSegment - 1) / perSegment);

        ShortBuffer[] halves = dtype == Dtype.F16 ? new ShortBuffer[segments] : null;
        FloatBuffer[] floats = dtype == Dtype.F32 ? new FloatBuffer[segments] : null;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < required) {
                throw new IOException(file + ": too short for a " + rows + " x " + dim + " " + dtype
                        + " matrix at offset " + dataOffset + ": expected at least " + required
                        + " bytes, found " + size);
            }
            for (int s = 0; s < segments; s++) {
                long first = s * perSegment;
                long count = Math.min(perSegment, rows - first);
                MappedByteBuffer buffer = channel.map(FileChannel.MapMode.READ_ONLY,
                        dataOffset + first * rowBytes, count * rowBytes);
                buffer.order(ByteOrder.LITTLE_ENDIAN);
                if (halves != null) halves[s] = buffer.asShortBuffer();
                else floats[s] = buffer.asFloatBuffer();
            }
        }
        // Closing the channel does not unmap: the buffers stay valid until they are garbage-collected.
        return new MappedMatrix(file, rows, dim, dtype, perSegment, halves, floats);
    }

    /** Number of rows. */
    public long rows() {
        return rows;
    }

    /** Number of columns (the embedding dimension). */
    public int dim() {
        return dim;
    }

    /** Element type on disk. */
    public Dtype dtype() {
        return dtype;
    }

    /** The mapped file, for messages. */
    public Path file() {
        return file;
    }

    /**
     * Decodes row {@code r} into {@code dst[0 .. dim)} as float32.
     *
     * @throws IndexOutOfBoundsException if {@code r} is not in {@code [0, rows)}
     * @throws IllegalArgumentException  if {@code dst} is shorter than {@code dim}
     * @throws IllegalStateException     after {@link #close()}
     */
    public void row(long r, float[] dst) {
        if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " of a matrix of " + rows + " rows");
        if (dst.length < dim) {
            throw new IllegalArgumentException("destination of length " + dst.length + " is shorter than dim " + dim);
        }
        int segment = segmentOf(r);
        int index = (int) ((r - segmentFirstRow(segment)) * dim);
        if (dtype == Dtype.F32) {
            floatSegment(segment).get(index, dst, 0, dim);
        } else {
            ShortBuffer buffer = halfSegment(segment);
            for (int d = 0; d < dim; d++) dst[d] = Half.TO_FLOAT[buffer.get(index + d) & 0xffff];
        }
    }

    /**
     * Drops this object's references to the mapped buffers; reads after it throw {@link IllegalStateException}.
     * Java 17 has no supported way to unmap a {@link MappedByteBuffer} explicitly (only the internal
     * {@code Unsafe.invokeCleaner}, which we do not use because a read racing it would crash the JVM): the mapping,
     * and the file handle it pins, go away when the garbage collector frees the buffers. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        halves = null;
        floats = null;
    }

    // ---- package-private access for ExactSearch: whole segments (direct buffers), scored in place natively ----

    /** Number of mapped segments. */
    int segmentCount() {
        return (int) ((rows + segmentRows - 1) / segmentRows);
    }

    /** Index of the first row of segment {@code s}. */
    long segmentFirstRow(int s) {
        return s * segmentRows;
    }

    /** Number of rows in segment {@code s}. */
    int segmentRows(int s) {
        return (int) Math.min(segmentRows, rows - s * segmentRows);
    }

    /** Segment {@code s} as halves (F16 only); element {@code i * dim + d} is row {@code first + i}, column d. */
    ShortBuffer halfSegment(int s) {
        ShortBuffer[] h = halves;
        if (h == null) throw stateError();
        return h[s];
    }

    /** Segment {@code s} as floats (F32 only); element {@code i * dim + d} is row {@code first + i}, column d. */
    FloatBuffer floatSegment(int s) {
        FloatBuffer[] f = floats;
        if (f == null) throw stateError();
        return f[s];
    }

    private int segmentOf(long r) {
        return (int) (r / segmentRows);
    }

    private IllegalStateException stateError() {
        return closed ? new IllegalStateException("matrix " + file + " is closed")
                : new IllegalStateException("matrix " + file + " holds " + dtype + " values");
    }

    @Override
    public String toString() {
        return "MappedMatrix[" + file + ", " + rows + " x " + dim + " " + dtype + (closed ? ", closed]" : "]");
    }
}
