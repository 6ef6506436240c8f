package dev.reasonir;

import java.util.List;

/**
 * Embeddings of one call, in input order, with what was done to the inputs.
 *
 * @param vectors     {@code [n][dimension]} float32 rows, L2-normalized (unless requested otherwise)
 * @param tokenCounts tokens fed to the model per input (after truncation)
 * @param truncations every input that was truncated, in input order (empty when none was)
 * @param timings     where the time of the call went
 */
public record EmbeddingResult(float[][] vectors, int[] tokenCounts, List<Truncation> truncations, Timings timings) {

    /** Input {@code index} had {@code originalTokens} tokens and was cut to {@code keptTokens}. */
    public record Truncation(int index, int originalTokens, int keptTokens) {}

    /**
     * Time spent in one call, in nanoseconds. Text calls tokenize the next packing window on a background thread
     * while the engine embeds the current one, so {@code tokenizeNanos} overlaps {@code engineNanos}; what the
     * overlap did not hide is {@code tokenizerWaitNanos}.
     *
     * @param tokenizeNanos      total time spent tokenizing (0 for pre-tokenized input)
     * @param engineNanos        time in the native engine (including waiting for a concurrent call on the model)
     * @param tokenizerWaitNanos time the engine had no work because the next window's tokens were not ready yet
     *                           (the first window's tokenization always counts: nothing can overlap it)
     */
    public record Timings(long tokenizeNanos, long engineNanos, long tokenizerWaitNanos) {
        public static final Timings NONE = new Timings(0, 0, 0);
    }

    /** A result without timings. */
    public EmbeddingResult(float[][] vectors, int[] tokenCounts, List<Truncation> truncations) {
        this(vectors, tokenCounts, truncations, Timings.NONE);
    }

    public int size() {
        return vectors.length;
    }

    public long totalTokens() {
        long s = 0;
        for (int c : tokenCounts) s += c;
        return s;
    }
}
