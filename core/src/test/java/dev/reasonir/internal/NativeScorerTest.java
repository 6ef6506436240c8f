package dev.reasonir.internal;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link NativeScorer} (rir_score through JNI) against the score's definition written here, bit for bit. */
class NativeScorerTest {
    /** The definition: 16 fused multiply-add lanes from +0, then the fixed tree (8 + 8, 4 + 4, 2 + 2, 1 + 1). */
    static float score(float[] q, float[] x) {
        float[] lane = new float[16];
        for (int d = 0; d < q.length; d++) lane[d & 15] = Math.fma(q[d], x[d], lane[d & 15]);
        float[] s8 = new float[8];
        for (int i = 0; i < 8; i++) s8[i] = lane[i] + lane[i + 8];
        float[] s4 = new float[4];
        for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
        return (s4[0] + s4[2]) + (s4[1] + s4[3]);
    }

    /** binary16 to float by arithmetic (finite values only). */
    static float half(short h) {
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        float v = e == 0 ? Math.scalb((float) m, -24) : Math.scalb((float) (1024 + m), e - 25);
        return (h & 0x8000) != 0 ? -v : v;
    }

    static float[][] randomQueries(int n, int dim, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] q = new float[n][dim];
        for (float[] row : q) for (int d = 0; d < dim; d++) row[d] = (float) random.nextGaussian();
        return q;
    }

    @Test
    void halvesAndFloatsAtAnOffsetInASliceScoreAsDefined() {
        int dim = 300, rows = 41, skipRows = 3;                   // 300 = 18 x 16 + 12: a masked tail
        SplittableRandom random = new SplittableRandom(7);
        ByteBuffer bytes = ByteBuffer.allocateDirect(2 * 1000 + (skipRows + rows) * dim * 4);
        // Slices starting 2000 bytes in: a buffer whose address is not that of its parent.
        ShortBuffer halves = bytes.slice(2000, (skipRows + rows) * dim * 2).order(ByteOrder.LITTLE_ENDIAN)
                .asShortBuffer();
        FloatBuffer floats = bytes.slice(2000, (skipRows + rows) * dim * 4).order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer();
        float[][] hx = new float[rows][dim];
        for (int j = 0; j < skipRows + rows; j++) {
            for (int d = 0; d < dim; d++) {
                short h;
                do h = (short) random.nextInt(1 << 16); while (((h >> 10) & 0x1f) == 31);
                halves.put(j * dim + d, h);
                if (j >= skipRows) hx[j - skipRows][d] = half(h);
            }
        }
        for (int nq : new int[] {1, 4, 9}) {
            float[][] q = randomQueries(nq, dim, 8 + nq);
            float[][] out = new float[nq][rows];
            try (NativeScorer s = new NativeScorer(q, dim, 64)) {
                s.score(halves, (long) skipRows * dim, rows, out);
                for (int i = 0; i < nq; i++) {
                    for (int j = 0; j < rows; j++) {
                        assertEquals(Float.floatToRawIntBits(score(q[i], hx[j])), Float.floatToRawIntBits(out[i][j]),
                                "f16 query " + i + " row " + j);
                    }
                }
            }
        }
        // f32 rows over the same bytes (overwrites the halves).
        float[][] fx = new float[rows][dim];
        for (int j = 0; j < skipRows + rows; j++) {
            for (int d = 0; d < dim; d++) {
                float v = (float) Math.scalb(random.nextGaussian(), random.nextInt(17) - 8);
                floats.put(j * dim + d, v);
                if (j >= skipRows) fx[j - skipRows][d] = v;
            }
        }
        float[][] q = randomQueries(5, dim, 99);
        float[][] out = new float[5][rows];
        try (NativeScorer s = new NativeScorer(q, dim, rows)) {
            s.score(floats, (long) skipRows * dim, rows, out);
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < rows; j++) {
                    assertEquals(Float.floatToRawIntBits(score(q[i], fx[j])), Float.floatToRawIntBits(out[i][j]),
                            "f32 query " + i + " row " + j);
                }
            }
            // Fewer rows than before: only the first entries are written.
            float[][] few = new float[5][2];
            s.score(floats, (long) (skipRows + 7) * dim, 2, few);
            assertEquals(out[3][7], few[3][0]);
            assertEquals(out[3][8], few[3][1]);
        }
    }

    @Test
    void misuseIsRefusedClearly() {
        float[][] q = randomQueries(2, 8, 1);
        FloatBuffer direct = ByteBuffer.allocateDirect(10 * 8 * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[][] out = new float[2][10];
        assertThrows(IllegalArgumentException.class, () -> new NativeScorer(new float[0][], 8, 4));
        assertThrows(IllegalArgumentException.class, () -> new NativeScorer(new float[][] {new float[7]}, 8, 4));
        assertThrows(IllegalArgumentException.class, () -> new NativeScorer(q, 8, 0));
        NativeScorer s = new NativeScorer(q, 8, 10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s.score(FloatBuffer.allocate(80), 0, 10, out));
        assertTrue(e.getMessage().contains("direct"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> s.score(
                ByteBuffer.allocateDirect(320).order(ByteOrder.BIG_ENDIAN).asFloatBuffer(), 0, 10, out));
        assertTrue(e.getMessage().contains("little-endian"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> s.score(direct, 8, 10, out));
        assertTrue(e.getMessage().contains("outside the buffer"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.score(direct, -1, 1, out));
        assertThrows(IllegalArgumentException.class, () -> s.score(direct, 0, 11, new float[2][11]));
        assertThrows(IllegalArgumentException.class, () -> s.score(direct, 0, 10, new float[1][10]));
        assertThrows(IllegalArgumentException.class,
                () -> s.score(direct, 0, 10, new float[][] {new float[10], new float[9]}));
        s.score(direct, 0, 10, out);                              // zero rows: every score +0
        assertEquals(0, Float.floatToRawIntBits(out[1][9]));
        s.close();
        s.close();
        assertThrows(IllegalStateException.class, () -> s.score(direct, 0, 10, out));
    }
}
