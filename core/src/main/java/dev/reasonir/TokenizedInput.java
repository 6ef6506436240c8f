package dev.reasonir;

import java.util.Arrays;

/**
 * One sequence exactly as the engine feeds it to the model: token ids (BOS included when they come from the
 * tokenizer) and the first pooled position. Positions {@code [0, poolStart)} (the instruction) are attended to but left
 * out of the mean.
 *
 * @param ids            token ids after truncation
 * @param poolStart      first pooled position, {@code 0 <= poolStart < ids.length}
 * @param originalLength token count before truncation ({@code == ids.length} when not truncated)
 */
public record TokenizedInput(int[] ids, int poolStart, int originalLength) {
    public TokenizedInput {
        if (ids == null) throw new IllegalArgumentException("ids must not be null");
        if (originalLength < ids.length) {
            throw new IllegalArgumentException("originalLength " + originalLength + " < ids.length " + ids.length);
        }
    }

    /** Pre-tokenized input: the ids are used as given (no BOS added). */
    public static TokenizedInput of(int[] ids, int poolStart) {
        return new TokenizedInput(ids, poolStart, ids.length);
    }

    public boolean truncated() {
        return originalLength > ids.length;
    }

    public int length() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenizedInput t && Arrays.equals(ids, t.ids) && poolStart == t.poolStart
                && originalLength == t.originalLength;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(ids) + poolStart) + originalLength;
    }

    @Override
    public String toString() {
        return "TokenizedInput[length=" + ids.length + ", poolStart=" + poolStart + ", originalLength="
                + originalLength + "]";
    }
}
