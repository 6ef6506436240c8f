/**
 * The framework-independent half of the ReasonIR adapters (reasonir-langchain4j, reasonir-spring-ai), published on
 * its own so that each adapter holds only its framework's glue and so that code outside those frameworks can embed
 * through the same two backends.
 *
 * <p>The public API is deliberately small, since every public type here is a compatibility promise of a published
 * artifact:
 * <ul>
 *   <li>{@link dev.reasonir.client.EmbeddingBackend}: embed a list of texts with an instruction to vectors and a
 *       token count, the dimension, the model name, and {@code close()}; built by
 *       {@link dev.reasonir.client.EmbeddingBackend#builder()} in process (around a borrowed {@code ReasonIR}, or one
 *       opened from a folder and owned) or as a client of a ReasonIR server's {@code POST /v1/embeddings};</li>
 *   <li>{@link dev.reasonir.client.ReasonIRClientException}: every failure of a server call, with the endpoint, the
 *       HTTP status and a {@link dev.reasonir.client.ReasonIRClientException.Reason}, for adapters to map to their
 *       framework's exception types.</li>
 * </ul>
 * The implementations stay package-private. For a given instruction and texts both backends give the same vectors,
 * bit for bit: the server embeds {@code instruction + text} exactly as the in-process engine does.
 *
 * <pre>{@code
 * try (EmbeddingBackend backend = EmbeddingBackend.builder().baseUrl("http://localhost:8080").build()) {
 *     float[][] docs = backend.embed(texts, Instructions.DOCUMENT).vectors();
 *     float[][] queries = backend.embed(questions, Instructions.bright("biology")).vectors();
 * }
 * }</pre>
 */
package dev.reasonir.client;
