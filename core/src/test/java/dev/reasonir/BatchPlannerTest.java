package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchPlannerTest {
    @Test
    void everyInputExactlyOnceWithinBudget() {
        Random r = new Random(5);
        int[] lengths = new int[1000];
        for (int i = 0; i < lengths.length; i++) lengths[i] = 1 + r.nextInt(700);
        lengths[17] = 5000;  // longer than the budget: alone
        List<BatchPlanner.Batch> batches = BatchPlanner.plan(lengths, 2048, 256);
        int[] seen = new int[lengths.length];
        for (BatchPlanner.Batch b : batches) {
            int sum = Arrays.stream(b.indices()).map(i -> lengths[i]).sum();
            assertEquals(sum, b.tokens());
            assertTrue(sum <= 2048 || b.indices().length == 1, "batch over budget: " + sum);
            for (int k = 1; k < b.indices().length; k++) {
                assertTrue(lengths[b.indices()[k - 1]] >= lengths[b.indices()[k]], "not sorted by length");
            }
            // Batches never mix windows.
            int w = b.indices()[0] / 256;
            for (int i : b.indices()) assertEquals(w, i / 256);
            for (int i : b.indices()) seen[i]++;
        }
        for (int i = 0; i < seen.length; i++) assertEquals(1, seen[i], "input " + i);
        assertTrue(batches.stream().anyMatch(b -> b.indices().length == 1 && b.indices()[0] == 17));
    }

    @Test
    void packsTightly() {
        int[] lengths = {100, 100, 100, 100, 100};
        List<BatchPlanner.Batch> batches = BatchPlanner.plan(lengths, 250, 100);
        assertEquals(3, batches.size());
        assertEquals(200, batches.get(0).tokens());
    }
}
