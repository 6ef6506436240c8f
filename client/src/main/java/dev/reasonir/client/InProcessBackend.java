package dev.reasonir.client;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The native engine in this process. {@code owned} says whether {@link #close()} closes the model: true when the
 * builder opened it from a folder, false when the caller passed a {@link ReasonIR} it keeps managing.
 */
final class InProcessBackend implements EmbeddingBackend {
    private final ReasonIR model;
    private final boolean owned;
    private final String modelName;
    private final boolean failOnOverflow;

    /**
     * {@code modelName} null: the checkpoint folder's name. {@code failOnOverflow}: refuse a text over the max length
     * even when the model (borrowed, opened with its own options) would truncate it.
     */
    InProcessBackend(ReasonIR model, boolean owned, String modelName, boolean failOnOverflow) {
        this.model = Objects.requireNonNull(model, "model");
        this.owned = owned;
        this.failOnOverflow = failOnOverflow;
        this.modelName = modelName != null ? modelName : folderName(model);
    }

    @Override
    public Embedded embed(List<String> texts, String instruction) {
        // One call for the whole list: the engine packs it into token-budget batches itself.
        EmbeddingResult r = model.embed(texts, instruction);
        if (failOnOverflow && !r.truncations().isEmpty()) {
            EmbeddingResult.Truncation t = r.truncations().get(0);
            throw new InvalidInputException(t.index(), "has " + t.originalTokens() + " tokens, more than maxLength "
                    + model.maxLength() + " (overflow FAIL)");
        }
        return new Embedded(r.vectors(), Math.toIntExact(r.totalTokens()), r.truncations().size());
    }

    @Override
    public Integer knownDimension() {
        return model.dimension();
    }

    @Override
    public String modelName() {
        return modelName;
    }

    @Override
    public void close() {
        if (owned) model.close();
    }

    @Override
    public String toString() {
        return "in-process " + model.modelDir();
    }

    /** The checkpoint folder's name, e.g. "ReasonIR-8B" for /models/ReasonIR-8B. */
    private static String folderName(ReasonIR model) {
        Path name = model.modelDir().toAbsolutePath().normalize().getFileName();
        return name == null ? "ReasonIR" : name.toString();
    }
}
