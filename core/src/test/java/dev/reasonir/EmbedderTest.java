package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Embedder} against a recording engine, without the native library: what reaches the engine (validated,
 * truncated inputs, packed per window under the budget) and what comes back (input order, truncations). Text calls
 * and the tokenize-ahead with a real tokenizer and engine are covered by TokenizeAheadTest and LifecycleTest.
 */
class EmbedderTest {
    static final int VOCAB = 100;

    /** Records every batch; the vector of input i is {i, normalize ? 1 : 0}. */
    static final class Recorder implements Embedder.BatchEngine {
        final List<int[]> batches = new ArrayList<>();
        final List<Integer> tokens = new ArrayList<>();
        final List<TokenizedInput[]> seen = new ArrayList<>();

        @Override
        public void embedBatch(TokenizedInput[] inputs, int[] idx, int batchTokens, boolean normalize,
                               float[][] vectors) {
            batches.add(idx.clone());
            tokens.add(batchTokens);
            seen.add(inputs);
            int sum = 0;
            for (int i : idx) {
                sum += inputs[i].ids().length;
                vectors[i] = new float[] {i, normalize ? 1 : 0};
            }
            assertEquals(sum, batchTokens, "tokens of the batch");
        }
    }

    static Embedder embedder(Options options, Embedder.BatchEngine engine) {
        return new Embedder(options, options.maxLength(), VOCAB, engine, () -> {
            throw new AssertionError("no tokenizer in this test");
        });
    }

    static TokenizedInput input(int length, int poolStart) {
        int[] ids = new int[length];
        for (int t = 0; t < length; t++) ids[t] = 1 + t % (VOCAB - 1);
        return TokenizedInput.of(ids, poolStart);
    }

    @Test
    void resultsComeBackInInputOrderAndBatchesStayInTheirWindow() {
        int w = Embedder.PACKING_WINDOW;
        int n = w + 300;
        List<TokenizedInput> inputs = new ArrayList<>();
        for (int i = 0; i < n; i++) inputs.add(input(1 + (i * 7) % 40, 0));
        Recorder engine = new Recorder();
        Options options = Options.defaults().withMaxLength(64).withBatchTokens(200);
        EmbeddingResult r = embedder(options, engine).embedTokens(inputs, false);
        assertEquals(n, r.size());
        boolean[] embedded = new boolean[n];
        for (int b = 0; b < engine.batches.size(); b++) {
            int[] idx = engine.batches.get(b);
            int window = idx[0] / w;
            for (int i : idx) {
                assertEquals(window, i / w, "batch " + b + " crosses a packing window: " + Arrays.toString(idx));
                assertTrue(!embedded[i], "input " + i + " embedded twice");
                embedded[i] = true;
            }
            assertTrue(engine.tokens.get(b) <= 200 || idx.length == 1, "batch " + b + " over the budget");
        }
        for (int i = 0; i < n; i++) {
            assertTrue(embedded[i], "input " + i + " not embedded");
            assertArrayEquals(new float[] {i, 0}, r.vectors()[i], "row " + i);
            assertEquals(inputs.get(i).ids().length, r.tokenCounts()[i]);
        }
        assertEquals(List.of(), r.truncations());
        assertEquals(0, r.timings().tokenizeNanos());
        assertTrue(r.timings().engineNanos() > 0);
    }

    @Test
    void anInputLongerThanTheBudgetGoesAlone() {
        Recorder engine = new Recorder();
        Options options = Options.defaults().withMaxLength(64).withBatchTokens(10);
        embedder(options, engine).embedTokens(List.of(input(3, 0), input(30, 0), input(4, 0)), true);
        assertEquals(List.of(List.of(1), List.of(2, 0)),
                engine.batches.stream().map(b -> Arrays.stream(b).boxed().toList()).toList());
    }

    @Test
    void truncateCutsToMaxLengthAndListsEveryTruncation() {
        Recorder engine = new Recorder();
        Options options = Options.defaults().withMaxLength(8);
        EmbeddingResult r = embedder(options, engine).embedTokens(
                List.of(input(5, 0), input(20, 2), input(8, 0), input(9, 0)), true);
        assertArrayEquals(new int[] {5, 8, 8, 8}, r.tokenCounts());
        assertEquals(List.of(new EmbeddingResult.Truncation(1, 20, 8), new EmbeddingResult.Truncation(3, 9, 8)),
                r.truncations());
        TokenizedInput sent = engine.seen.get(0)[1];
        assertArrayEquals(Arrays.copyOf(input(20, 2).ids(), 8), sent.ids());
        assertEquals(2, sent.poolStart());
        assertEquals(20, sent.originalLength());
        // An input already truncated by the tokenizer (originalLength > ids) counts as truncated too.
        r = embedder(options, new Recorder()).embedTokens(List.of(new TokenizedInput(new int[] {1, 2}, 0, 40)), true);
        assertEquals(List.of(new EmbeddingResult.Truncation(0, 40, 2)), r.truncations());
    }

    @Test
    void failRefusesALongInputBeforeAnyEngineWork() {
        Recorder engine = new Recorder();
        Options options = Options.defaults().withMaxLength(8).withOverflow(Options.Overflow.FAIL);
        var e = assertThrows(InvalidInputException.class, () -> embedder(options, engine).embedTokens(
                List.of(input(5, 0), input(8, 0), input(9, 0)), true));
        assertEquals(2, e.inputIndex());
        assertEquals("input 2: has 9 tokens, more than maxLength 8 (Options.overflow is FAIL)", e.getMessage());
        assertEquals(List.of(), engine.batches);
    }

    @Test
    void badInputsAreRefusedBeforeAnyEngineWork() {
        Options options = Options.defaults().withMaxLength(8);
        Object[][] cases = {
                {TokenizedInput.of(new int[0], 0), "input 1: has no tokens"},
                {TokenizedInput.of(new int[] {1, 2}, -1), "input 1: poolStart -1 < 0"},
                {TokenizedInput.of(new int[] {1, 2}, 2), "input 1: nothing left to pool: the instruction covers 2 "
                        + "tokens and the input has 2 tokens (the official code would divide by zero here)"},
                {input(12, 8), "input 1: nothing left to pool: the instruction covers 8 tokens and the input has 8 "
                        + "tokens after truncation to maxLength 8 (the official code would divide by zero here)"},
                {TokenizedInput.of(new int[] {1, VOCAB}, 0), "input 1: token 1 has id 100, outside the vocabulary "
                        + "[0, 100)"},
                {TokenizedInput.of(new int[] {-3}, 0), "input 1: token 0 has id -3, outside the vocabulary [0, 100)"},
        };
        for (Object[] c : cases) {
            Recorder engine = new Recorder();
            var e = assertThrows(InvalidInputException.class, () -> embedder(options, engine).embedTokens(
                    List.of(input(3, 0), (TokenizedInput) c[0]), true));
            assertEquals(1, e.inputIndex());
            assertEquals(c[1], e.getMessage());
            assertEquals(List.of(), engine.batches, "engine called for " + c[1]);
        }
    }

    @Test
    void nullAndEmptyAreNamedByTheirIndex() {
        List<String> texts = new ArrayList<>(List.of("a", "b", ""));
        assertEquals("input 2: text is empty",
                assertThrows(InvalidInputException.class, () -> Embedder.checkTexts(texts)).getMessage());
        texts.set(1, null);
        assertEquals("input 1: text is null",
                assertThrows(InvalidInputException.class, () -> Embedder.checkTexts(texts)).getMessage());
        List<TokenizedInput> inputs = new ArrayList<>(List.of(input(2, 0)));
        inputs.add(null);
        assertEquals("input 1: input is null",
                assertThrows(InvalidInputException.class, () -> Embedder.checkInputs(inputs)).getMessage());
        Embedder.checkTexts(List.of("x"));
        Embedder.checkInputs(List.of(input(1, 0)));
    }

    @Test
    void emptyCallsNeedNeitherEngineNorTokenizer() {
        Embedder.BatchEngine none = (inputs, idx, tokens, normalize, vectors) -> {
            throw new AssertionError("engine called");
        };
        Embedder e = embedder(Options.defaults(), none);
        assertEquals(0, e.embedTexts(List.of(), Instructions.DOCUMENT).size());
        assertEquals(0, e.embedTokens(List.of(), true).size());
        e.close();
    }

    @Test
    void anEngineFailureReachesTheCallerAsItIs() {
        var failure = new ReasonIRException(ReasonIRException.Kind.DEVICE, "the GPU is gone");
        Embedder.BatchEngine failing = (inputs, idx, tokens, normalize, vectors) -> {
            throw failure;
        };
        var e = assertThrows(ReasonIRException.class,
                () -> embedder(Options.defaults(), failing).embedTokens(List.of(input(2, 0)), true));
        assertSame(failure, e);
    }
}
