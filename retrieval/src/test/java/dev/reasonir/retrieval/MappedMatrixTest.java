package dev.reasonir.retrieval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MappedMatrixTest {
    static final int HEADER = 128;

    @TempDir
    Path dir;

    /** Random rows with the values a matrix of {@code dtype} can hold exactly (halves are rounded first). */
    static float[][] randomRows(int rows, int dim, Dtype dtype, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] x = new float[rows][dim];
        for (float[] row : x) {
            for (int d = 0; d < dim; d++) {
                float v = (float) random.nextGaussian();
                row[d] = dtype == Dtype.F16 ? Half.toFloat(Half.fromFloat(v)) : v;
            }
        }
        return x;
    }

    /** Writes {@code header} filler bytes and then the rows, little-endian, as a .npy-like file. */
    static Path write(Path file, float[][] rows, Dtype dtype, int header) throws IOException {
        int dim = rows.length == 0 ? 0 : rows[0].length;
        ByteBuffer b = ByteBuffer.allocate(header + rows.length * dim * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < header; i++) b.put((byte) 'H');
        for (float[] row : rows) {
            for (float v : row) {
                if (dtype == Dtype.F16) b.putShort(Half.fromFloat(v));
                else b.putFloat(v);
            }
        }
        Files.write(file, b.array());
        return file;
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void rowsReadBackExactly(Dtype dtype) throws IOException {
        float[][] x = randomRows(37, 19, dtype, 1);
        Path f = write(dir.resolve("m.npy"), x, dtype, HEADER);
        try (MappedMatrix m = MappedMatrix.map(f, HEADER, 37, 19, dtype)) {
            assertEquals(37, m.rows());
            assertEquals(19, m.dim());
            assertEquals(dtype, m.dtype());
            assertEquals(1, m.segmentCount());
            float[] row = new float[25];
            for (int r = 0; r < 37; r++) {
                m.row(r, row);
                assertArrayEquals(x[r], Arrays.copyOf(row, 19), "row " + r);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void tinySegmentsHoldWholeRows(Dtype dtype) throws IOException {
        int rows = 50, dim = 7;
        float[][] x = randomRows(rows, dim, dtype, 2);
        Path f = write(dir.resolve("m.npy"), x, dtype, HEADER);
        long rowBytes = (long) dim * dtype.bytes();
        try (MappedMatrix m = MappedMatrix.map(f, HEADER, rows, dim, dtype, 3 * rowBytes + rowBytes - 1)) {
            assertEquals(17, m.segmentCount());               // 3 rows per segment: 16 full, then 2
            long total = 0;
            for (int s = 0; s < m.segmentCount(); s++) {
                assertEquals(total, m.segmentFirstRow(s));
                total += m.segmentRows(s);
            }
            assertEquals(rows, total);
            assertEquals(2, m.segmentRows(16));
            float[] row = new float[dim];
            for (int r = 0; r < rows; r++) {
                m.row(r, row);
                assertArrayEquals(x[r], row, "row " + r);
            }
        }
    }

    @Test
    void otherOffsetsAndLongerFilesAreFine() throws IOException {
        float[][] x = randomRows(5, 4, Dtype.F32, 3);
        Path f = write(dir.resolve("m.npy"), x, Dtype.F32, 64);
        Files.write(f, new byte[100], java.nio.file.StandardOpenOption.APPEND);
        try (MappedMatrix m = MappedMatrix.map(f, 64, 5, 4, Dtype.F32)) {
            float[] row = new float[4];
            m.row(4, row);
            assertArrayEquals(x[4], row);
        }
        try (MappedMatrix m = MappedMatrix.map(f, 64, 0, 4, Dtype.F32)) {
            assertEquals(0, m.rows());
            assertEquals(0, m.segmentCount());
        }
    }

    @Test
    void truncatedFileNamesTheFileAndBothSizes() throws IOException {
        float[][] x = randomRows(10, 8, Dtype.F16, 4);
        Path f = write(dir.resolve("short.npy"), x, Dtype.F16, HEADER);
        long size = Files.size(f);
        IOException e = assertThrows(IOException.class, () -> MappedMatrix.map(f, HEADER, 11, 8, Dtype.F16));
        String msg = e.getMessage();
        assertTrue(msg.contains(f.toString()), msg);
        assertTrue(msg.contains(String.valueOf(HEADER + 11 * 8 * 2)), msg);
        assertTrue(msg.contains(String.valueOf(size)), msg);
        assertThrows(IOException.class, () -> MappedMatrix.map(dir.resolve("missing.npy"), 0, 1, 1, Dtype.F32));
    }

    @Test
    void badArgumentsAndUseAfterClose() throws IOException {
        float[][] x = randomRows(3, 4, Dtype.F32, 5);
        Path f = write(dir.resolve("m.npy"), x, Dtype.F32, HEADER);
        assertThrows(IllegalArgumentException.class, () -> MappedMatrix.map(f, HEADER, 3, 0, Dtype.F32));
        assertThrows(IllegalArgumentException.class, () -> MappedMatrix.map(f, HEADER, -1, 4, Dtype.F32));
        assertThrows(IllegalArgumentException.class, () -> MappedMatrix.map(f, -1, 3, 4, Dtype.F32));
        assertThrows(IllegalArgumentException.class,
                () -> MappedMatrix.map(f, HEADER, Long.MAX_VALUE / 2, 4, Dtype.F32));
        MappedMatrix m = MappedMatrix.map(f, HEADER, 3, 4, Dtype.F32);
        assertThrows(IndexOutOfBoundsException.class, () -> m.row(3, new float[4]));
        assertThrows(IndexOutOfBoundsException.class, () -> m.row(-1, new float[4]));
        assertThrows(IllegalArgumentException.class, () -> m.row(0, new float[3]));
        m.close();
        m.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.row(0, new float[4]));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void dtypeParsingAndDescriptors() {
        assertEquals(Dtype.F16, Dtype.parse("f16"));
        assertEquals(Dtype.F16, Dtype.parse("F16"));
        assertEquals(Dtype.F32, Dtype.parse(" f32 "));
        assertEquals("<f2", Dtype.F16.npyDescr());
        assertEquals("<f4", Dtype.F32.npyDescr());
        assertEquals(2, Dtype.F16.bytes());
        assertEquals(4, Dtype.F32.bytes());
        for (String bad : new String[] {"f64", "", "half"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Dtype.parse(bad));
            assertTrue(e.getMessage().contains("f16") && e.getMessage().contains("f32"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Dtype.parse(null));
    }
}
