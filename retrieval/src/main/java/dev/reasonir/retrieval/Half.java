package dev.reasonir.retrieval;

/**
 * IEEE 754 binary16 ("half", NumPy {@code <f2}) to and from float32.
 *
 * <p>Written by hand because JDK 17, our baseline, has neither {@code Float.float16ToFloat} nor
 * {@code Float.floatToFloat16} (both arrived in JDK 20). Indexes store embeddings as halves to halve their size;
 * every score is computed on the float32 value of each half, so decoding must be exact, and encoding must round the
 * way NumPy's {@code astype(np.float16)} does (round to nearest, ties to even) so an index written here is
 * byte-identical to one written in Python.
 *
 * <p>Decoding is a lookup in a precomputed 65536-entry table (256 KiB), cheaper than the branches of the arithmetic
 * conversion when many halves are decoded ({@link MappedMatrix#row}; the exact search itself scores halves in the
 * native engine, which converts them with the same exact result).
 */
public final class Half {
    /**
     * float32 value of every half, indexed by its 16 bits as an unsigned number. Package-private so readers in this
     * package can index it without a call per element; never written after class initialization.
     */
    static final float[] TO_FLOAT = buildTable();

    /** Largest finite half, 65504. */
    public static final float MAX_VALUE = 65504f;

    private Half() {}

    /**
     * The exact float32 value of a half. NaNs keep their sign and payload and come back quiet (the quiet bit set),
     * as x86's {@code vcvtph2ps} does.
     */
    public static float toFloat(short h) {
        return TO_FLOAT[h & 0xffff];
    }

    /**
     * The half nearest to {@code f}, ties to even. Magnitudes from 65520 up (the midpoint between 65504 and the first
     * power of two beyond the range, 65536) become infinity; results below 2^-14 are subnormal halves, rounded the
     * same way; the sign of zero is kept. NaN becomes a quiet NaN with the same sign and the top ten bits of the
     * float's payload.
     */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fff_ffff;
        if (abs >= 0x7f80_0000) {                          // infinity or NaN
            if (abs == 0x7f80_0000) return (short) (sign | 0x7c00);
            return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff));
        }
        if (abs >= 0x477f_f000) return (short) (sign | 0x7c00);   // >= 65520: rounds to infinity
        if (abs >= 0x3880_0000) {                          // >= 2^-14: a normal half
            int h = ((abs >>> 23) - 127 + 15) << 10 | (abs >>> 13) & 0x3ff;
            int rest = abs & 0x1fff;                       // the 13 bits that are dropped
            if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++;   // may carry into the exponent: correct
            return (short) (sign | h);
        }
        if (abs <= 0x3300_0000) return (short) sign;      // <= 2^-25: rounds to (signed) zero, 2^-25 being a tie
        // Subnormal half: the result is round(|f| / 2^-24). |f| = significand * 2^(e - 150) with a 24-bit
        // significand, so the quotient is significand >> (126 - e), e in [102, 112].
        int e = abs >>> 23;
        int significand = (abs & 0x7f_ffff) | 0x80_0000;
        int shift = 126 - e;
        int q = significand >>> shift;
        int rest = significand & ((1 << shift) - 1);
        int halfway = 1 << (shift - 1);
        if (rest > halfway || (rest == halfway && (q & 1) != 0)) q++;   // q = 0x400 is the smallest normal: correct
        return (short) (sign | q);
    }

    private static float[] buildTable() {
        float[] table = new float[65536];
        for (int h = 0; h < 65536; h++) {
            int sign = (h & 0x8000) << 16;
            int exponent = (h >>> 10) & 0x1f;
            int mantissa = h & 0x3ff;
            int bits;
            if (exponent == 0) {
                bits = Float.floatToRawIntBits(mantissa * 0x1p-24f);   // subnormal or zero: exact in float32
            } else if (exponent == 31) {
                bits = mantissa == 0 ? 0x7f80_0000 : 0x7fc0_0000 | mantissa << 13;
            } else {
                bits = (exponent + 127 - 15) << 23 | mantissa << 13;
            }
            table[h] = Float.intBitsToFloat(sign | bits);
        }
        return table;
    }
}
