package dev.reasonir.retrieval;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exhaustive and randomized checks of {@link Half} against slow, obviously-correct references. */
class HalfTest {
    private static final short POS_INF = 0x7c00;
    private static final short NEG_INF = (short) 0xfc00;

    private static boolean isNaN(int h) {
        return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    }

    /** Value of a finite half from the definition: (-1)^s 2^(e-15) (1 + m/1024), or 2^-14 (m/1024) when e = 0. */
    private static double referenceValue(int h) {
        int e = (h >>> 10) & 0x1f, m = h & 0x3ff;
        double magnitude = e == 0 ? Math.scalb((double) m, -24) : Math.scalb(1024.0 + m, e - 25);
        return (h & 0x8000) != 0 ? -magnitude : magnitude;
    }

    @Test
    void toFloatMatchesTheDefinitionForEveryHalf() {
        for (int h = 0; h < 65536; h++) {
            float f = Half.toFloat((short) h);
            if (isNaN(h)) {
                int bits = Float.floatToRawIntBits(f);
                assertTrue(Float.isNaN(f), Integer.toHexString(h));
                assertEquals((h & 0x8000) << 16, bits & 0x8000_0000, "NaN sign of " + Integer.toHexString(h));
                assertEquals(0x40_0000 | (h & 0x3ff) << 13, bits & 0x7f_ffff, "quiet NaN payload");
            } else if ((h & 0x7fff) == 0x7c00) {
                assertEquals((h & 0x8000) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY, f);
            } else {
                assertEquals(referenceValue(h), f, 0.0, Integer.toHexString(h));
                assertEquals(h >= 0x8000, Float.floatToRawIntBits(f) < 0, "sign of " + Integer.toHexString(h));
            }
        }
    }

    @Test
    void everyNonNaNHalfRoundTrips() {
        for (int h = 0; h < 65536; h++) {
            if (isNaN(h)) continue;
            assertEquals((short) h, Half.fromFloat(Half.toFloat((short) h)), Integer.toHexString(h));
        }
    }

    @Test
    void nanRoundTripsAsQuietNaNWithSignAndPayload() {
        for (int h = 0; h < 65536; h++) {
            if (!isNaN(h)) continue;
            assertEquals((short) (h | 0x200), Half.fromFloat(Half.toFloat((short) h)), Integer.toHexString(h));
        }
        assertEquals((short) 0x7e00, Half.fromFloat(Float.NaN));
        assertEquals((short) 0xfe00, Half.fromFloat(Float.intBitsToFloat(0xffc0_0000)));
        // A signalling float NaN whose payload lies below the bits a half keeps still comes back a (quiet) NaN.
        assertEquals((short) 0x7e00, Half.fromFloat(Float.intBitsToFloat(0x7f80_0001)));
        assertEquals((short) 0x7e01, Half.fromFloat(Float.intBitsToFloat(0x7f80_2000)));
    }

    /**
     * For every pair of consecutive finite halves of either sign (and the largest finite one paired with the value
     * 2^16 where rounding turns into infinity), the exact midpoint goes to the even one and its float neighbours to
     * the nearer one.
     */
    @Test
    void midpointsRoundToEvenAndNeighboursToNearest() {
        for (int lo = 0; lo < 0x7c00; lo++) {
            int hi = lo + 1;
            float a = Half.toFloat((short) lo);
            float b = hi == 0x7c00 ? 65536f : Half.toFloat((short) hi);
            float mid = (a + b) / 2;                       // exact: needs 12 significant bits
            assertEquals((a + (double) b) / 2, mid, 0.0);
            int even = (lo & 1) == 0 ? lo : hi;
            for (int sign : new int[] {0, 0x8000}) {
                float s = sign == 0 ? 1f : -1f;
                String what = Integer.toHexString(lo | sign) + "/" + Integer.toHexString(hi | sign);
                assertEquals((short) (even | sign), Half.fromFloat(s * mid), "midpoint of " + what);
                assertEquals((short) (hi | sign), Half.fromFloat(s * Math.nextUp(mid)), "above midpoint of " + what);
                assertEquals((short) (lo | sign), Half.fromFloat(s * Math.nextDown(mid)), "below midpoint of " + what);
            }
        }
    }

    @Test
    void overflowThreshold() {
        assertEquals(POS_INF, Half.fromFloat(65520f));
        assertEquals(NEG_INF, Half.fromFloat(-65520f));
        assertEquals((short) 0x7bff, Half.fromFloat(65519.99f));
        assertEquals((short) 0x7bff, Half.fromFloat(Math.nextDown(65520f)));
        assertEquals((short) 0xfbff, Half.fromFloat(-65519.99f));
        assertEquals((short) 0x7bff, Half.fromFloat(65504f));
        assertEquals(POS_INF, Half.fromFloat(65536f));
        assertEquals(POS_INF, Half.fromFloat(Float.MAX_VALUE));
        assertEquals(POS_INF, Half.fromFloat(Float.POSITIVE_INFINITY));
        assertEquals(NEG_INF, Half.fromFloat(Float.NEGATIVE_INFINITY));
        assertEquals(Half.MAX_VALUE, Half.toFloat((short) 0x7bff));
    }

    @Test
    void zerosAndSubnormalsKeepTheirSign() {
        assertEquals((short) 0x0000, Half.fromFloat(0f));
        assertEquals((short) 0x8000, Half.fromFloat(-0f));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Half.toFloat((short) 0x8000)));
        assertEquals((short) 0x0000, Half.fromFloat(Float.MIN_VALUE));      // float subnormals underflow to zero
        assertEquals((short) 0x8000, Half.fromFloat(-Float.MIN_VALUE));
        assertEquals((short) 0x0000, Half.fromFloat(0x1p-25f));            // tie between 0 and 2^-24: even is 0
        assertEquals((short) 0x8000, Half.fromFloat(-0x1p-25f));
        assertEquals((short) 0x0001, Half.fromFloat(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x8001, Half.fromFloat(-Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x0001, Half.fromFloat(0x1p-24f));
        assertEquals((short) 0x0002, Half.fromFloat(0x1.8p-24f));          // tie between 1 and 2 units: even is 2
        assertEquals((short) 0x0400, Half.fromFloat(0x1p-14f));            // smallest normal
        assertEquals((short) 0x0400, Half.fromFloat(Math.nextDown(0x1p-14f)));   // rounds up into the normals
        assertEquals((short) 0x03ff, Half.fromFloat(0x3ffp-24f));          // largest subnormal
        assertEquals((short) 0x83ff, Half.fromFloat(-0x3ffp-24f));
    }

    /** Random floats (raw bit patterns, and values spread over the half range) against a BigDecimal reference. */
    @Test
    void randomFloatsMatchTheBigDecimalReference() {
        double[] halves = new double[0x7c01];                // non-negative finite halves, ascending, then 2^16
        for (int h = 0; h < 0x7c00; h++) halves[h] = referenceValue(h);
        halves[0x7c00] = 65536.0;
        SplittableRandom random = new SplittableRandom(20240607L);
        for (int i = 0; i < 400_000; i++) {
            float f;
            switch (i % 4) {
                case 0: f = Float.intBitsToFloat(random.nextInt()); break;
                case 1: f = (float) Math.scalb(random.nextDouble(-2, 2), random.nextInt(-26, 17)); break;
                case 2: f = (float) (random.nextGaussian() / 64); break;   // typical embedding values
                default: f = Half.toFloat((short) random.nextInt(0x7c00)) + (float) random.nextDouble(-1e-3, 1e-3);
            }
            if (Float.isNaN(f)) continue;
            assertEquals(reference(f, halves), Half.fromFloat(f), () -> "fromFloat(" + f + ")");
        }
    }

    /** Nearest half by exact decimal arithmetic and a search of the sorted halves; ties to the even one. */
    private static short reference(float f, double[] halves) {
        int sign = Float.floatToRawIntBits(f) < 0 ? 0x8000 : 0;
        double x = Math.abs((double) f);
        if (x >= 65536.0 || Double.isInfinite(x)) return (short) (sign | 0x7c00);
        int lo = 0, hi = halves.length - 1;                  // largest index with halves[lo] <= x
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (halves[mid] <= x) lo = mid;
            else hi = mid - 1;
        }
        if (halves[lo] == x) return (short) (sign | lo);
        BigDecimal v = new BigDecimal(x);
        int cmp = v.subtract(new BigDecimal(halves[lo])).compareTo(new BigDecimal(halves[lo + 1]).subtract(v));
        int h = cmp < 0 ? lo : cmp > 0 ? lo + 1 : (lo & 1) == 0 ? lo : lo + 1;
        return (short) (sign | h);                           // h == 0x7c00 is infinity
    }
}
