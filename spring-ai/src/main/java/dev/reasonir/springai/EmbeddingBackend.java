package dev.reasonir.springai;

import java.util.List;

/**
 * Where {@link ReasonIRSpringEmbeddingModel} gets its vectors: the engine in this process ({@link InProcessBackend})
 * or a ReasonIR server ({@link ReasonIRHttpClient}). The adapter decides the instruction; a backend only embeds
 * {@code instruction + text}, so both backends return the same vectors for the same call.
 */
interface EmbeddingBackend extends AutoCloseable {

    /**
     * One vector per text, in input order.
     *
     * @param inputTokens tokens the model read for the whole call (instructions included), or {@code null} when the
     *                    backend does not know them
     */
    record Embedded(float[][] vectors, Integer inputTokens) {}

    /** Embeds {@code instruction + text} for every text; an empty list gives an empty result without any work. */
    Embedded embed(List<String> texts, String instruction);

    /** The vector dimension when it is known without embedding anything, else {@code null}. */
    Integer knownDimension();

    /** The model name to report when the caller did not choose one. */
    String defaultModelName();

    /** Frees what the backend owns; calls afterwards fail with {@link IllegalStateException}. Idempotent. */
    @Override
    void close();
}
