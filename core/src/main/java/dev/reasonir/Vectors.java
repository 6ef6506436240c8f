package dev.reasonir;

/** Small helpers over embedding vectors. Embeddings are L2-normalized, so {@link #dot} is the cosine similarity. */
public final class Vectors {
    private Vectors() {}

    public static float dot(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("dimension mismatch: " + a.length + " vs " + b.length);
        }
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return (float) s;
    }

    public static float norm(float[] a) {
        return (float) Math.sqrt(dot(a, a));
    }

    public static float cosine(float[] a, float[] b) {
        double na = norm(a), nb = norm(b);
        return (float) (dot(a, b) / Math.max(na * nb, 1e-24));
    }

    /** scores[i][j] = dot(queries[i], documents[j]). */
    public static float[][] similarity(float[][] queries, float[][] documents) {
        float[][] s = new float[queries.length][documents.length];
        for (int i = 0; i < queries.length; i++) {
            for (int j = 0; j < documents.length; j++) s[i][j] = dot(queries[i], documents[j]);
        }
        return s;
    }
}
