package dev.reasonir;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine against the independent numpy reference (weights-tools/reference.py), for every fixture config, all
 * sequences of a fixture in ONE packed batch (llama3_gqa holds lengths 1 to 2048).
 *
 * Tolerances: FP32 mode computes what the reference computes in fp32, only the summation order differs, so the pooled
 * vector (before normalization, values O(1)) must agree to 1e-4 absolute and the normalized vectors to cosine
 * 0.99999. BF16 mode rounds activations to bf16 (8 bits of mantissa, relative step 2^-8) at ~20 points per layer; a
 * different summation order flips individual roundings, so agreement is statistical: cosine >= 0.999 per vector and
 * max abs diff <= 0.05 on the pooled vector.
 */
class ParityTest {
    @ParameterizedTest
    @ValueSource(strings = {"llama3_gqa", "plain_mha", "h256_l4"})
    void fp32MatchesReference(String name) {
        check(name, Precision.FP32, "fp32", 1e-4, 0.99999);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3_gqa", "plain_mha", "h256_l4"})
    void bf16MatchesReference(String name) {
        check(name, Precision.BF16, "bf16", 0.05, 0.999);
    }

    private static void check(String name, Precision precision, String mode, double maxAbs, double minCos) {
        List<TokenizedInput> inputs = Fixtures.inputs(name);
        float[][] expected = Fixtures.expected(name, mode);
        int total = inputs.stream().mapToInt(TokenizedInput::length).sum();
        Options o = Options.defaults().withDevice("cpu").withPrecision(precision).withMaxLength(4096)
                .withBatchTokens(total);  // everything in one packed batch
        try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint(name), o)) {
            assertEquals(precision, m.precision());
            float[][] pooled = m.embedTokens(inputs, false).vectors();
            float[][] normalized = m.embedTokens(inputs, true).vectors();
            assertEquals(expected.length, pooled.length);
            double worstDiff = 0, worstCos = 1;
            for (int i = 0; i < expected.length; i++) {
                double diff = Fixtures.maxAbsDiff(pooled[i], expected[i]);
                double cos = Fixtures.cosine(normalized[i], expected[i]);
                worstDiff = Math.max(worstDiff, diff);
                worstCos = Math.min(worstCos, cos);
                assertTrue(diff <= maxAbs, name + " " + mode + " sequence " + i + " (length "
                        + inputs.get(i).length() + "): max abs diff " + diff + " > " + maxAbs);
                assertTrue(cos >= minCos, name + " " + mode + " sequence " + i + ": cosine " + cos + " < " + minCos);
                assertEquals(1.0, Vectors.norm(normalized[i]), 1e-5, "normalized row " + i + " is not unit norm");
            }
            System.out.printf("parity %s %s: max abs diff %.3g, min cosine %.8f over %d sequences (%d tokens)%n",
                    name, mode, worstDiff, worstCos, expected.length, total);
        }
    }
}
