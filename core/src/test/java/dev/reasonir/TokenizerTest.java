package dev.reasonir;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DJL (Rust HF tokenizers) against ids from an independent implementation (Hugging Face's pure-JS tokenizers, see
 * weights-tools/tokenizer-reference/), on the real Llama-3.1 tokenizer.json.
 */
class TokenizerTest {
    static TextTokenizer tok;
    static JsonNode fixture;

    @BeforeAll
    static void load() throws Exception {
        tok = TextTokenizer.load(Fixtures.tokenizerDir());
        fixture = Fixtures.readJson(Fixtures.fixture("tokenizer").resolve("cases.json"));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(tok.file()));
        assertEquals(fixture.get("tokenizer_sha256").asText(), HexFormat.of().formatHex(digest),
                "tokenizer.json differs from the one the fixtures were made with");
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    static int[] ids(JsonNode c) {
        int[] out = new int[c.get("ids").size()];
        for (int i = 0; i < out.length; i++) out[i] = c.get("ids").get(i).intValue();
        return out;
    }

    @Test
    void knownSentence() {
        assertArrayEquals(new int[] {128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13},
                tok.encode("The quick brown fox jumps over the lazy dog."));
    }

    @Test
    void everyFixtureCaseMatchesTheReferenceIds() {
        List<String> texts = new ArrayList<>();
        int n = 0;
        for (JsonNode c : fixture.get("cases")) {
            assertArrayEquals(ids(c), tok.encode(c.get("text").asText()), "case '" + c.get("name").asText() + "'");
            texts.add(c.get("text").asText());
            n++;
        }
        assertTrue(n >= 30, "expected a broad fixture, got " + n + " cases");
        // The batch path gives the same ids as one-at-a-time.
        int[][] batch = tok.encodeAll(texts);
        int i = 0;
        for (JsonNode c : fixture.get("cases")) assertArrayEquals(ids(c), batch[i++]);
    }

    @Test
    void longInputIsNotTruncatedByTheTokenizer() {
        for (JsonNode c : fixture.get("cases")) {
            String text = c.get("text").asText();
            if (text.length() < 100_000) continue;
            int[] expected = ids(c);
            TokenizedInput full = tok.prepare("", text, Integer.MAX_VALUE);
            assertEquals(expected.length, full.length());
            TokenizedInput cut = tok.prepare("", text, 512);
            assertEquals(512, cut.length());
            assertEquals(expected.length, cut.originalLength());
            assertTrue(cut.truncated());
            return;
        }
        throw new AssertionError("fixture has no 100k-character case");
    }

    /** pool_start = ids of the instruction alone (with BOS); ids = instruction + text tokenized as one string. */
    @Test
    void instructionMaskingFollowsTheOfficialCode() {
        String text = "why is the sky blue?";
        for (String task : Instructions.BRIGHT_TASKS) {
            String instruction = Instructions.bright(task);
            int[] alone = tok.encode(instruction);
            TokenizedInput in = tok.prepare(instruction, text, 32768);
            assertEquals(alone.length, in.poolStart(), task);
            assertArrayEquals(tok.encode(instruction + text), in.ids(), task);
            assertEquals(128000, in.ids()[0]);
        }
        // No instruction: nothing excluded, BOS pooled.
        assertEquals(0, tok.prepare("", text, 512).poolStart());
        // Truncation inside the instruction caps pool_start at the max length (the engine then refuses the input).
        assertEquals(4, tok.prepare(Instructions.bright("biology"), text, 4).poolStart());
    }

    @Test
    void brightInstructionsMatchTheirReferenceIds() {
        int found = 0;
        for (JsonNode c : fixture.get("cases")) {
            String text = c.get("text").asText();
            for (String task : Instructions.BRIGHT_TASKS) {
                if (text.equals(Instructions.bright(task))) {
                    assertArrayEquals(ids(c), tok.encode(text), task);
                    found++;
                }
            }
        }
        assertTrue(found >= 10, "fixture should hold the BRIGHT instructions alone, found " + found);
    }
}
