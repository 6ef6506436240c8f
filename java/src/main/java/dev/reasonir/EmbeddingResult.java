package dev.reasonir;

import java.util.List;

/**
 * Embeddings of one call, in input order, with what was done to the inputs.
 *
 * @param vectors     {@code [n][dimension]} float32 rows, L2-normalized (unless requested otherwise)
 * @param tokenCounts tokens fed to the model per input (after truncation)
 * @param truncations every input that was truncated, in input order (empty when none was)
 */
public record EmbeddingResult(float[][] vectors, int[] tokenCounts, List<Truncation> truncations) {

    /** Input {@code index} had {@code originalTokens} tokens and was cut to {@code keptTokens}. */
    public record Truncation(int index, int originalTokens, int keptTokens) {}

    public int size() {
        return vectors.length;
    }

    public long totalTokens() {
        long s = 0;
        for (int c : tokenCounts) s += c;
        return s;
    }
}
