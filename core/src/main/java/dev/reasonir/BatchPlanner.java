package dev.reasonir;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Splits the inputs of one call into packed batches under a token budget, never padding: inside each window of
 * {@code window} consecutive inputs, inputs are sorted by length (longest first, so batches hold similar lengths and
 * the attention work per batch is balanced), then greedily packed while the batch's total stays within the budget.
 * An input longer than the budget forms a batch of its own. Results are scattered back to input order by the caller
 * through {@link Batch#indices}.
 */
final class BatchPlanner {
    /** One packed batch: positions in the caller's list, in packing order. */
    record Batch(int[] indices, int tokens) {}

    private BatchPlanner() {}

    static List<Batch> plan(int[] lengths, int budget, int window) {
        if (budget < 1 || window < 1) throw new IllegalArgumentException("budget and window must be >= 1");
        List<Batch> batches = new ArrayList<>();
        for (int from = 0; from < lengths.length; from += window) {
            int to = Math.min(lengths.length, from + window);
            Integer[] order = new Integer[to - from];
            for (int i = from; i < to; i++) order[i - from] = i;
            Arrays.sort(order, Comparator.comparingInt((Integer i) -> lengths[i]).reversed()
                    .thenComparingInt(i -> i));
            List<Integer> current = new ArrayList<>();
            int tokens = 0;
            for (int idx : order) {
                int len = lengths[idx];
                if (!current.isEmpty() && tokens + len > budget) {
                    batches.add(new Batch(current.stream().mapToInt(Integer::intValue).toArray(), tokens));
                    current.clear();
                    tokens = 0;
                }
                current.add(idx);
                tokens += len;
            }
            if (!current.isEmpty()) {
                batches.add(new Batch(current.stream().mapToInt(Integer::intValue).toArray(), tokens));
            }
        }
        return batches;
    }
}
