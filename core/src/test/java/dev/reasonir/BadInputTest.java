package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Wrong input and wrong API use give typed exceptions that say what and where. */
class BadInputTest {
    static ReasonIR open(Options o) {
        return ReasonIR.open(Fixtures.checkpoint("plain_mha"), o.withDevice("cpu"));
    }

    @Test
    void poolStartAtOrPastLength() {
        try (ReasonIR m = open(Options.defaults())) {
            var e = assertThrows(InvalidInputException.class, () -> m.embedTokens(List.of(
                    TokenizedInput.of(new int[] {1, 2, 3}, 0), TokenizedInput.of(new int[] {1, 2, 3}, 3))));
            assertEquals(1, e.inputIndex());
            assertTrue(e.getMessage().contains("input 1") && e.getMessage().contains("nothing left to pool"),
                    e.getMessage());
            assertThrows(InvalidInputException.class,
                    () -> m.embedTokens(List.of(TokenizedInput.of(new int[] {1}, -1))));
        }
    }

    @Test
    void emptyAndOutOfVocabularyTokens() {
        try (ReasonIR m = open(Options.defaults())) {
            var empty = assertThrows(InvalidInputException.class,
                    () -> m.embedTokens(List.of(TokenizedInput.of(new int[] {5}, 0), TokenizedInput.of(new int[0], 0))));
            assertEquals(1, empty.inputIndex());
            var oov = assertThrows(InvalidInputException.class,
                    () -> m.embedTokens(List.of(TokenizedInput.of(new int[] {5, 300}, 0))));
            assertTrue(oov.getMessage().contains("token 1 has id 300"), oov.getMessage());
            var neg = assertThrows(InvalidInputException.class,
                    () -> m.embedTokens(List.of(TokenizedInput.of(new int[] {-7}, 0))));
            assertTrue(neg.getMessage().contains("-7"), neg.getMessage());
        }
    }

    @Test
    void tooLongIsTruncatedAndReported() {
        try (ReasonIR m = open(Options.defaults().withMaxLength(10))) {
            int[] ids = new int[25];
            Arrays.fill(ids, 7);
            var res = m.embedTokens(List.of(TokenizedInput.of(new int[] {1, 2}, 0), TokenizedInput.of(ids, 0)));
            assertEquals(List.of(new EmbeddingResult.Truncation(1, 25, 10)), res.truncations());
            assertEquals(10, res.tokenCounts()[1]);
            // Truncated result == embedding the first 10 tokens, exactly (the CPU engine is batch invariant bit for
            // bit, see ModelBehaviourTest.batchInvariance).
            float[] first10 = m.embedTokens(List.of(TokenizedInput.of(Arrays.copyOf(ids, 10), 0))).vectors()[0];
            assertArrayEquals(first10, res.vectors()[1]);
        }
    }

    @Test
    void tooLongFailsWhenAsked() {
        try (ReasonIR m = open(Options.defaults().withMaxLength(10).withOverflow(Options.Overflow.FAIL))) {
            var e = assertThrows(InvalidInputException.class,
                    () -> m.embedTokens(List.of(TokenizedInput.of(new int[11], 0))));
            assertEquals(0, e.inputIndex());
            assertTrue(e.getMessage().contains("11 tokens, more than maxLength 10"), e.getMessage());
        }
    }

    @Test
    void useAfterClose() {
        ReasonIR m = open(Options.defaults());
        m.close();
        m.close();  // idempotent
        var e = assertThrows(IllegalStateException.class,
                () -> m.embedTokens(List.of(TokenizedInput.of(new int[] {1}, 0))));
        assertTrue(e.getMessage().contains("closed"));
        assertThrows(IllegalStateException.class, m::dimension);
        assertThrows(IllegalStateException.class, () -> m.embedDocuments(List.of("x")));
    }

    @Test
    void devices() {
        var unknown = assertThrows(ReasonIRException.class,
                () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("tpu")));
        assertEquals(ReasonIRException.Kind.INVALID_ARGUMENT, unknown.kind());
        assertTrue(unknown.getMessage().contains("tpu"));
        if (ReasonIR.cudaDeviceCount().count() > 0) return;  // the GPU side is CudaBackendTest's
        var cuda = assertThrows(ReasonIRException.class,
                () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cuda:0")));
        assertEquals(ReasonIRException.Kind.DEVICE, cuda.kind());
        try (ReasonIR auto = ReasonIR.open(Fixtures.checkpoint("plain_mha"))) {
            assertEquals("cpu", auto.backend());  // no usable GPU: auto falls back to the CPU
        }
    }

    @Test
    void textInputWithoutTokenizerFilesSaysSo() {
        try (ReasonIR m = open(Options.defaults())) {  // fixture checkpoints carry no tokenizer.json
            var e = assertThrows(ReasonIRException.class, () -> m.embedDocuments(List.of("hello")));
            assertEquals(ReasonIRException.Kind.TOKENIZER, e.kind());
            assertTrue(e.getMessage().contains("tokenizer.json"));
        }
    }

    @Test
    void badOptions() {
        assertThrows(IllegalArgumentException.class, () -> Options.defaults().withMaxLength(0));
        assertThrows(IllegalArgumentException.class, () -> Options.defaults().withBatchTokens(0));
        assertThrows(IllegalArgumentException.class, () -> Options.defaults().withThreads(-1));
        var missing = assertThrows(CheckpointException.class,
                () -> ReasonIR.open(java.nio.file.Path.of("/nonexistent/model")));
        assertEquals(ReasonIRException.Kind.IO, missing.kind());
    }
}
