package dev.reasonir.retrieval;

import dev.reasonir.NpyWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The NumPy {@code .npy} (format 1.0) header of a 2-D little-endian C-order matrix, with a fixed size of
 * {@value #HEADER_BYTES} bytes so that rows can be appended before their count is known and the header rewritten in
 * place at the end. {@code numpy.load(path, mmap_mode="r")} maps such a file directly.
 */
final class Npy {
    static final int HEADER_BYTES = NpyWriter.HEADER_LEN;
    private static final Pattern DICT = Pattern.compile(
            "\\{'descr': '(<f[24])', 'fortran_order': False, 'shape': \\((\\d+), (\\d+)\\), \\}\\s*");

    /** A parsed header: element type and shape. */
    record Header(Dtype dtype, long rows, int cols) {}

    private Npy() {}

    static ByteBuffer header(Dtype dtype, long rows, int cols) {
        return NpyWriter.header(dtype.npyDescr(), rows, cols);
    }

    /** Reads and checks the header of {@code file}; errors are CORRUPT and name the file. */
    static Header read(FileChannel ch, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
            // read until full or end of file
        }
        byte[] a = b.array();
        if (b.position() < 10 || (a[0] & 0xff) != 0x93
                || !new String(a, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY") || a[6] != 1) {
            throw corrupt(file, "not a .npy version 1 file");
        }
        int len = b.getShort(8) & 0xffff;
        if (10 + len != HEADER_BYTES || b.position() < HEADER_BYTES) {
            throw corrupt(file, "unexpected .npy header size " + (10 + len));
        }
        Matcher m = DICT.matcher(new String(a, 10, len, StandardCharsets.ISO_8859_1));
        if (!m.matches()) throw corrupt(file, "unexpected .npy header " + new String(a, 10, len).trim());
        Dtype t = m.group(1).equals("<f2") ? Dtype.F16 : Dtype.F32;
        return new Header(t, Long.parseLong(m.group(2)), Integer.parseInt(m.group(3)));
    }

    private static RetrievalException corrupt(Path file, String why) {
        return new RetrievalException(RetrievalException.Kind.CORRUPT, file + ": " + why);
    }
}
