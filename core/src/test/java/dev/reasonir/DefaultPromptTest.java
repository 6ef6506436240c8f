package dev.reasonir;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The Java API's side of "one default prompt on every surface": a text embedded without an instruction gets
 * {@link Instructions#DEFAULT_PROMPT}, the document prefix; raw text only with the explicit empty instruction.
 */
class DefaultPromptTest {
    static final List<String> TEXTS = List.of("Rayleigh scattering of sunlight", "why is the sky blue?");

    /** The small test checkpoint with the real tokenizer, max length 16 so that a test text can exceed it. */
    static ReasonIR open(Path tmp) throws IOException {
        return ReasonIR.open(Fixtures.withTokenizer("h256_l4", tmp.resolve("m")),
                Options.defaults().withDevice("cpu").withMaxLength(16));
    }

    @Test
    void theDefaultPromptIsTheDocumentPrefix() {
        assertEquals("<|embed|>\n", Instructions.DEFAULT_PROMPT);
        assertEquals(Instructions.DOCUMENT, Instructions.DEFAULT_PROMPT);
    }

    @Test
    void noInstructionMeansTheDefaultPromptBitForBit(@TempDir Path tmp) throws IOException {
        try (ReasonIR model = open(tmp)) {
            float[][] documents = model.embed(TEXTS, Instructions.DOCUMENT).vectors();
            float[][] plain = model.embed(TEXTS).vectors();
            float[][] nullInstruction = model.embed(TEXTS, null).vectors();
            for (int i = 0; i < TEXTS.size(); i++) {
                assertArrayEquals(documents[i], plain[i], "embed(texts), text " + i);
                assertArrayEquals(documents[i], nullInstruction[i], "embed(texts, null), text " + i);
                assertArrayEquals(documents[i], model.embedDocuments(TEXTS)[i], "embedDocuments, text " + i);
            }
            float[][] raw = model.embed(TEXTS, "").vectors();
            for (int i = 0; i < TEXTS.size(); i++) {
                assertFalse(Arrays.equals(documents[i], raw[i]), "\"\" is raw text, not the default prompt: text " + i);
            }
        }
    }

    @Test
    void tokenizeUsesTheSameDefault(@TempDir Path tmp) throws IOException {
        try (ReasonIR model = open(tmp)) {
            TokenizedInput withDefault = model.tokenize(null, TEXTS.get(0));
            TokenizedInput document = model.tokenize(Instructions.DOCUMENT, TEXTS.get(0));
            assertArrayEquals(document.ids(), withDefault.ids());
            assertEquals(document.poolStart(), withDefault.poolStart());
            // BOS + the 5 tokens of "<|embed|>\n" are attended to, not pooled
            assertEquals(6, withDefault.poolStart());
            assertEquals(0, model.tokenize("", TEXTS.get(0)).poolStart());
            // the truncation report counts the prompt's tokens too (16 = the max length here)
            EmbeddingResult r = model.embed(List.of("word ".repeat(20)));
            assertEquals(1, r.truncations().size());
            assertEquals(model.tokenize("", "word ".repeat(20)).originalLength() + 5,
                    r.truncations().get(0).originalTokens());
        }
    }

    @Test
    void describeNamesThePrompt() {
        assertEquals("document (\"<|embed|>\\n\")", Instructions.describe(Instructions.DEFAULT_PROMPT));
        assertEquals("none (raw text, every token pooled)", Instructions.describe(""));
        assertEquals("\"<|user|>\\nGiven a coding problem, retrieve relevant examples that help answer the problem"
                + "\\n<|embed|>\\n\"", Instructions.describe(Instructions.bright("leetcode")));
    }
}
