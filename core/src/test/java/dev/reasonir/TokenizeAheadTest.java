package dev.reasonir;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Text calls longer than one packing window tokenize window w+1 on a background thread while the engine embeds
 * window w. Nothing observable may change: same vectors (bit for bit: the batches are the same), input order,
 * truncations in input order, errors naming the caller's input.
 */
class TokenizeAheadTest {
    static final int W = Embedder.PACKING_WINDOW;
    @TempDir
    static Path tmp;
    static ReasonIR model;

    @BeforeAll
    static void open() throws IOException {
        model = ReasonIR.open(Fixtures.withTokenizer("h256_l4", tmp.resolve("m")),
                Options.defaults().withDevice("cpu").withMaxLength(16));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static List<String> texts(int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            // Every 97th text is longer than maxLength, so truncations occur in every window.
            out.add(i % 97 == 0 ? "a long text that goes past sixteen tokens: " + "word ".repeat(20) + i
                    : "text " + i + " about " + (i % 7 == 0 ? "rayleigh scattering" : "plants"));
        }
        return out;
    }

    @Test
    void multiWindowCallEqualsThePreTokenizedCall() {
        List<String> texts = texts(2 * W + 100);
        EmbeddingResult got = model.embed(texts, Instructions.DOCUMENT);
        List<TokenizedInput> tokens = new ArrayList<>();
        for (String t : texts) tokens.add(model.tokenize(Instructions.DOCUMENT, t));
        EmbeddingResult want = model.embedTokens(tokens);
        assertEquals(texts.size(), got.size());
        for (int i = 0; i < texts.size(); i++) {
            // Same windows, same batches, same kernels: bit-identical, not merely close.
            assertArrayEquals(want.vectors()[i], got.vectors()[i], "row " + i);
        }
        assertArrayEquals(want.tokenCounts(), got.tokenCounts());
        assertEquals(want.truncations(), got.truncations());
        assertTrue(got.truncations().size() > 60, "expected truncations in every window");
        var t = got.timings();
        assertTrue(t.tokenizeNanos() > 0 && t.engineNanos() > 0 && t.tokenizerWaitNanos() > 0, t.toString());
        assertEquals(0, want.timings().tokenizeNanos());
        assertEquals(0, want.timings().tokenizerWaitNanos());
    }

    @Test
    void errorInALaterWindowNamesTheCallersInput() {
        List<String> texts = texts(W + 20);
        int bad = W + 3;
        texts.set(bad, "\n");  // "<|embed|>\n" + "\n": the newlines merge, nothing is left to pool
        var e = assertThrows(InvalidInputException.class, () -> model.embed(texts, Instructions.DOCUMENT));
        assertEquals(bad, e.inputIndex(), e.getMessage());
        assertTrue(e.getMessage().startsWith("input " + bad + ": nothing left to pool"), e.getMessage());
        // The model is still usable afterwards (the background window was awaited, nothing is left running).
        assertEquals(2, model.embedDocuments(List.of("a", "b")).length);
    }

    @Test
    void overflowFailInALaterWindow() throws IOException {
        try (ReasonIR strict = ReasonIR.open(model.modelDir(), Options.defaults().withDevice("cpu").withMaxLength(16)
                .withOverflow(Options.Overflow.FAIL))) {
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 2 * W + 5; i++) texts.add("short " + i);
            int bad = 2 * W + 1;
            texts.set(bad, "word ".repeat(40));
            var e = assertThrows(InvalidInputException.class, () -> strict.embed(texts, ""));
            assertEquals(bad, e.inputIndex(), e.getMessage());
            assertTrue(e.getMessage().contains("more than maxLength 16"), e.getMessage());
        }
    }
}
