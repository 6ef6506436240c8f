package dev.reasonir;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Text to token ids as the official ReasonIR {@code encode} does it (spec, "From text to vector"): the string
 * {@code instruction + text} is tokenized as one string with the model folder's {@code tokenizer.json}
 * (Hugging Face tokenizers through DJL, offline), special tokens added (BOS 128000 for Llama-3.1, no EOS), then
 * right-truncated to {@code maxLength}; the instruction alone, tokenized the same way, gives {@code poolStart}.
 * Thread-safe.
 */
public final class TextTokenizer implements AutoCloseable {
    /** Instructions whose token count is remembered; a server taking user instructions must not grow it forever. */
    static final int INSTRUCTION_CACHE = 1024;

    static {
        // DJL may otherwise try to download a GPU build of its native library where CUDA is visible.
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
        Logging.settle();
    }

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;
    /** Least recently used instructions first; guarded by itself. */
    private final Map<String, Integer> instructionLengths = new java.util.LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Integer> eldest) {
            return size() > INSTRUCTION_CACHE;
        }
    };

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Path file) {
        this.tokenizer = tokenizer;
        this.file = file;
    }

    /** Loads {@code dir/tokenizer.json}. */
    public static TextTokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new ReasonIRException(ReasonIRException.Kind.TOKENIZER, "no tokenizer.json in " + dir
                    + ": text input needs the model's tokenizer files (pre-tokenized input does not)");
        }
        Logging.loadTokenizerLibraryQuietly();  // DJL's CUDA probe report off (see Logging)
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(true)
                    .optTruncation(false)   // we truncate ourselves, to know and report the original length
                    .optPadding(false)
                    .build();
            return new TextTokenizer(t, file);
        } catch (IOException | RuntimeException e) {
            throw new ReasonIRException(ReasonIRException.Kind.TOKENIZER, "cannot load tokenizer " + file + ": "
                    + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text} with special tokens (BOS), untruncated. */
    public int[] encode(String text) {
        return toInts(tokenizer.encode(text).getIds());
    }

    /** Token ids of many texts, with special tokens, untruncated (uses the tokenizer's own parallelism). */
    public int[][] encodeAll(List<String> texts) {
        if (texts.isEmpty()) return new int[0][];
        Encoding[] encodings = tokenizer.batchEncode(texts);
        int[][] out = new int[encodings.length][];
        for (int i = 0; i < encodings.length; i++) out[i] = toInts(encodings[i].getIds());
        return out;
    }

    /**
     * Number of tokens of the instruction tokenized alone with special tokens (cached), or 0 for an empty
     * instruction: the official code then pools every position, BOS included.
     */
    public int instructionLength(String instruction) {
        if (instruction == null || instruction.isEmpty()) return 0;
        synchronized (instructionLengths) {
            Integer n = instructionLengths.get(instruction);
            if (n != null) return n;
        }
        int n = encode(instruction).length;  // outside the lock: tokenizing may take a while
        synchronized (instructionLengths) {
            instructionLengths.put(instruction, n);
        }
        return n;
    }

    /** Instructions currently remembered (for tests). */
    int cachedInstructions() {
        synchronized (instructionLengths) {
            return instructionLengths.size();
        }
    }

    /**
     * What the engine feeds the model for {@code instruction + text}, truncated to {@code maxLength} tokens.
     * {@code poolStart = min(instructionLength, maxLength)}; the caller checks {@code poolStart < length}.
     */
    public TokenizedInput prepare(String instruction, String text, int maxLength) {
        java.util.Objects.requireNonNull(text, "text");
        return fromIds(encode(instruction == null ? text : instruction + text), instruction, maxLength);
    }

    /** Same as {@link #prepare} for many texts sharing one instruction. */
    public TokenizedInput[] prepareAll(String instruction, List<String> texts, int maxLength) {
        String prefix = instruction == null ? "" : instruction;
        for (String t : texts) java.util.Objects.requireNonNull(t, "text");
        int[][] ids = encodeAll(texts.stream().map(t -> prefix + t).toList());
        TokenizedInput[] out = new TokenizedInput[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = fromIds(ids[i], instruction, maxLength);
        return out;
    }

    private TokenizedInput fromIds(int[] ids, String instruction, int maxLength) {
        int kept = Math.min(ids.length, maxLength);
        int[] used = kept == ids.length ? ids : java.util.Arrays.copyOf(ids, kept);
        int poolStart = Math.min(instructionLength(instruction), maxLength);
        return new TokenizedInput(used, poolStart, ids.length);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }
}
