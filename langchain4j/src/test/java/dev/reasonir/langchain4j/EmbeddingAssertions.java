package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.reasonir.client.TestSupport;

import java.util.List;

/**
 * {@link TestSupport#assertSameVectors(float[][], List)} for LangChain4j embeddings; the checkpoint, texts and the
 * comparison itself are reasonir-client's test-jar's {@link TestSupport}.
 */
final class EmbeddingAssertions {
    private EmbeddingAssertions() {}

    /** Bit-for-bit equality: the adapter must hand over the engine's floats untouched. */
    static void assertSameVectors(float[][] expected, List<Embedding> actual) {
        TestSupport.assertSameVectors(expected, actual.stream().map(Embedding::vector).toList());
    }
}
