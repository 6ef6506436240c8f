package dev.reasonir.retrieval;

import java.nio.charset.StandardCharsets;
import java.util.Comparator;

/**
 * One retrieved document: its id, its row in the index, and its cosine similarity to the query.
 *
 * @param id    the document id as given in the corpus
 * @param row   the document's row in the index matrix (-1 when the hit does not come from an index)
 * @param score cosine similarity (dot product of unit vectors), as float32
 */
public record Hit(String id, long row, float score) {
    public Hit {
        if (id == null) throw new IllegalArgumentException("id must not be null");
    }

    /**
     * The ranking order of trec_eval (and pytrec_eval): higher score first; equal scores by document id in
     * descending byte order ({@code strcmp} on the UTF-8 bytes, reversed). Rankings produced by search and the
     * metrics computed here both use it, so a run file written by us scores the same in trec_eval.
     */
    public static final Comparator<Hit> TREC_ORDER = (a, b) -> {
        // Numeric comparison as C does it (so -0.0 ties with 0.0); scores are never NaN.
        if (a.score > b.score) return -1;
        if (a.score < b.score) return 1;
        return compareUtf8(b.id, a.id);
    };

    /** {@code strcmp} of the UTF-8 encodings (unsigned bytes); differs from {@link String#compareTo} beyond ASCII. */
    public static int compareUtf8(String a, String b) {
        if (isAscii(a) && isAscii(b)) return Integer.signum(a.compareTo(b));
        byte[] x = a.getBytes(StandardCharsets.UTF_8), y = b.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(x.length, y.length);
        for (int i = 0; i < n; i++) {
            int c = (x[i] & 0xff) - (y[i] & 0xff);
            if (c != 0) return Integer.signum(c);
        }
        return Integer.signum(x.length - y.length);
    }

    private static boolean isAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) >= 0x80) return false;
        }
        return true;
    }
}
