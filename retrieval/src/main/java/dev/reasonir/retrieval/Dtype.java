package dev.reasonir.retrieval;

import java.util.Locale;

/**
 * Element type of an index matrix on disk. Both are little-endian IEEE floats, as NumPy writes them on every
 * platform we support; {@link #F16} halves the size of an index (and the memory traffic of a search) at a precision
 * that does not change rankings measurably for unit-norm embeddings.
 */
public enum Dtype {
    /** IEEE 754 binary16, NumPy {@code <f2}. */
    F16(2, "<f2"),
    /** IEEE 754 binary32, NumPy {@code <f4}. */
    F32(4, "<f4");

    private final int bytes;
    private final String npyDescr;

    Dtype(int bytes, String npyDescr) {
        this.bytes = bytes;
        this.npyDescr = npyDescr;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The {@code descr} field of a {@code .npy} header for this type ({@code "<f2"} or {@code "<f4"}). */
    public String npyDescr() {
        return npyDescr;
    }

    /**
     * Parses {@code "f16"} or {@code "f32"} in any case (the spelling of command-line options and index metadata).
     *
     * @throws IllegalArgumentException for anything else, naming the accepted values
     */
    public static Dtype parse(String name) {
        if (name != null) {
            switch (name.trim().toLowerCase(Locale.ROOT)) {
                case "f16": return F16;
                case "f32": return F32;
                default: break;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "': expected f16 or f32");
    }
}
