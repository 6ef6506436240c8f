package dev.reasonir.server;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The tokens behind {@code POST /tokenize}: ids, token strings, special-token flags and offsets. The core API gives
 * ids only, so this loads the model folder's {@code tokenizer.json} a second time with the same library and settings
 * core uses (Hugging Face tokenizers through DJL, no truncation, no padding): the ids are the ones the engine would
 * be fed. Loaded on first use, so a server that never tokenizes for display pays nothing.
 */
final class TokenDisplay implements AutoCloseable {
    /** One token as TEI reports it: {@code start}/{@code stop} are UTF-8 byte offsets, null for special tokens. */
    record Token(int id, String text, boolean special, Integer start, Integer stop) {}

    private final Path file;
    private volatile HuggingFaceTokenizer tokenizer;
    private boolean closed;

    TokenDisplay(Path modelDir) {
        this.file = modelDir.resolve("tokenizer.json");
    }

    /** The tokens of {@code text}; with {@code addSpecialTokens} the BOS is included as the engine sees it. */
    Token[] tokens(String text, boolean addSpecialTokens) {
        Encoding e = tokenizer().encode(text, addSpecialTokens, false);
        long[] ids = e.getIds();
        String[] strings = e.getTokens();
        long[] special = e.getSpecialTokenMask();
        CharSpan[] spans = e.getCharTokenSpans();
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        int[] byteOfChar = byteOffsets(text);
        Token[] out = new Token[ids.length];
        for (int i = 0; i < ids.length; i++) {
            boolean isSpecial = special[i] != 0;
            CharSpan span = spans == null || i >= spans.length ? null : spans[i];
            if (isSpecial || span == null) {
                out[i] = new Token(Math.toIntExact(ids[i]), strings[i], isSpecial, null, null);
                continue;
            }
            int start = Math.min(byteOfChar[clamp(span.getStart(), byteOfChar.length - 1)], utf8.length);
            int stop = Math.max(start, Math.min(byteOfChar[clamp(span.getEnd(), byteOfChar.length - 1)],
                    utf8.length));
            // TEI slices the input's bytes and decodes them lossily: a byte-level token may split a character.
            String piece = new String(utf8, start, stop - start, StandardCharsets.UTF_8);
            out[i] = new Token(Math.toIntExact(ids[i]), piece, false, start, stop);
        }
        return out;
    }

    /**
     * UTF-8 byte offset of each character position (Unicode code point, as the Rust tokenizer counts characters),
     * plus one entry for the end of the string.
     */
    private static int[] byteOffsets(String text) {
        int n = text.codePointCount(0, text.length());
        int[] out = new int[n + 1];
        int bytes = 0;
        int k = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            out[k++] = bytes;
            // A lone surrogate is not encodable: String.getBytes writes '?' (1 byte) for it.
            bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : Character.isSurrogate((char) cp) ? 1 : cp < 0x10000 ? 3 : 4;
            i += Character.charCount(cp);
        }
        out[k] = bytes;
        return out;
    }

    private static int clamp(int v, int max) {
        return Math.max(0, Math.min(v, max));
    }

    private HuggingFaceTokenizer tokenizer() {
        HuggingFaceTokenizer t = tokenizer;
        if (t != null) return t;
        synchronized (this) {
            if (closed) throw ApiException.unhealthy("server is shutting down");
            if (tokenizer == null) {
                if (!Files.isRegularFile(file)) {
                    throw ApiException.tokenizer("Tokenizer error: no tokenizer.json in " + file.getParent()
                            + ": this server takes token-id input only");
                }
                try {
                    tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(file).optAddSpecialTokens(true)
                            .optTruncation(false).optPadding(false).build();
                } catch (IOException | RuntimeException e) {
                    throw ApiException.tokenizer("Tokenizer error: cannot load " + file + ": " + e.getMessage());
                }
            }
            return tokenizer;
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (tokenizer != null) tokenizer.close();
        tokenizer = null;
    }
}
