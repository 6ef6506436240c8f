package dev.reasonir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Streams a float32 C-order {@code [rows, cols]} array to a NumPy {@code .npy} file (format 1.0). The header is written
 * with a fixed padded size first and rewritten with the final row count on {@link #close()}, so rows can be appended
 * without knowing their number in advance.
 */
public final class NpyWriter implements AutoCloseable {
    /** Header bytes including the 10-byte preamble: room for any shape tuple, multiple of 64 as NumPy recommends. */
    public static final int HEADER_LEN = 128;

    private final RandomAccessFile file;
    private final int cols;
    private long rows;

    public NpyWriter(Path path, int cols) throws IOException {
        this.file = new RandomAccessFile(path.toFile(), "rw");
        this.file.setLength(0);
        this.cols = cols;
        writeHeader();
    }

    public void append(float[] row) throws IOException {
        if (row.length != cols) throw new IllegalArgumentException("row has " + row.length + " floats, not " + cols);
        ByteBuffer b = ByteBuffer.allocate(4 * cols).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(row);
        file.write(b.array());
        rows++;
    }

    public long rows() {
        return rows;
    }

    private void writeHeader() throws IOException {
        file.seek(0);
        file.write(header("<f4", rows, cols).array());
        file.seek(file.length());
    }

    /**
     * A NumPy format 1.0 header of exactly {@value #HEADER_LEN} bytes for a little-endian C-order {@code [rows, cols]}
     * array of element type {@code descr} (e.g. "<f4", "<f2"): fixed size, so that rows can be appended first and the
     * header rewritten in place with the final row count.
     */
    public static ByteBuffer header(String descr, long rows, int cols) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        StringBuilder h = new StringBuilder(dict);
        while (10 + h.length() < HEADER_LEN - 1) h.append(' ');
        h.append('\n');
        byte[] text = h.toString().getBytes(StandardCharsets.US_ASCII);
        if (10 + text.length != HEADER_LEN) throw new IllegalStateException("npy header overflow: " + dict);
        ByteBuffer b = ByteBuffer.allocate(HEADER_LEN).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) text.length).put(text);
        return b.flip();
    }

    @Override
    public void close() throws IOException {
        try {
            writeHeader();
        } finally {
            file.close();
        }
    }

    /** Reads a float32 2-D .npy written by this class or NumPy (C order, little endian). Used by tests and tools. */
    public static float[][] read(Path path) throws IOException {
        byte[] all = java.nio.file.Files.readAllBytes(path);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if ((all[0] & 0xff) != 0x93 || !new String(all, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
            throw new IOException(path + ": not a .npy file");
        }
        int major = all[6];
        int headerLen = major == 1 ? (b.getShort(8) & 0xffff) : b.getInt(8);
        int start = (major == 1 ? 10 : 12);
        String header = new String(all, start, headerLen, StandardCharsets.ISO_8859_1);
        if (!header.contains("'descr': '<f4'") || header.contains("'fortran_order': True")) {
            throw new IOException(path + ": expected little-endian float32 C-order, header " + header.trim());
        }
        var m = java.util.regex.Pattern.compile("'shape': \\((\\d+), (\\d+)\\)").matcher(header);
        if (!m.find()) throw new IOException(path + ": expected a 2-D shape, header " + header.trim());
        int r = Integer.parseInt(m.group(1)), c = Integer.parseInt(m.group(2));
        long need = start + headerLen + 4L * r * c;
        if (all.length != need) throw new IOException(path + ": " + all.length + " bytes, expected " + need);
        b.position(start + headerLen);
        float[][] out = new float[r][c];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) out[i][j] = b.getFloat();
        }
        return out;
    }
}
