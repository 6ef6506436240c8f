package dev.reasonir.springai;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestKit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingOptions;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.TokenCountBatchingStrategy;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process adapter against the Java API: strings are queries, Documents are documents, options override. */
class ReasonIRSpringEmbeddingModelTest {
    static final String DEFAULT_QUERY = Instructions.query(ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK);
    @TestKit.Model static Path dir;
    @TestKit.Model static ReasonIR model;
    static ReasonIRSpringEmbeddingModel adapter;

    @BeforeAll
    static void inProcessAdapter() {
        adapter = ReasonIRSpringEmbeddingModel.inProcess(model);  // the kit opens model before this runs
    }

    static List<float[]> outputs(EmbeddingResponse r) {
        return r.getResults().stream().map(Embedding::getOutput).toList();
    }

    static List<Document> documents() {
        return DOCUMENTS.stream().map(Document::new).toList();
    }

    @Test
    void stringsAreQueriesWithTheDefaultInstruction() {
        assertEquals(DEFAULT_QUERY, adapter.queryInstruction());
        assertSameVectors(model.embed(List.of(QUERIES.get(0)), DEFAULT_QUERY).vectors(),
                List.of(adapter.embed(QUERIES.get(0))));
        assertSameVectors(model.embed(QUERIES, DEFAULT_QUERY).vectors(), adapter.embed(QUERIES));

        EmbeddingResponse r = adapter.call(new EmbeddingRequest(QUERIES, null));
        EmbeddingResult expected = model.embed(QUERIES, DEFAULT_QUERY);
        assertSameVectors(expected.vectors(), outputs(r));
        assertEquals(List.of(0, 1), r.getResults().stream().map(Embedding::getIndex).toList());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.getMetadata().getUsage().getPromptTokens());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.getMetadata().getUsage().getTotalTokens());
        assertEquals("model", r.getMetadata().getModel());
        assertEquals(DEFAULT_QUERY, r.getMetadata().get(ReasonIRSpringEmbeddingModel.INSTRUCTION_METADATA_KEY));
    }

    @Test
    void documentsGetTheDocumentPrefix() {
        float[][] expected = model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors();
        assertSameVectors(new float[][] {expected[0]}, List.of(adapter.embed(documents().get(0))));
        // The batch path vector stores use, in one batch and in one batch per document.
        assertSameVectors(expected, adapter.embed(documents(), EmbeddingOptions.builder().build(),
                new TokenCountBatchingStrategy()));
        assertSameVectors(expected, adapter.embed(documents(), null, docs -> docs.stream().map(List::of).toList()));
    }

    @Test
    void requestOptionsChooseTheInstruction() {
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(), outputs(adapter.call(
                new EmbeddingRequest(DOCUMENTS, ReasonIREmbeddingOptions.documents()))));
        assertSameVectors(model.embed(QUERIES, DEFAULT_QUERY).vectors(), outputs(adapter.call(
                new EmbeddingRequest(QUERIES, ReasonIREmbeddingOptions.queries()))));
        assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(), outputs(adapter.call(
                new EmbeddingRequest(QUERIES, ReasonIREmbeddingOptions.builder().brightTask("biology").build()))));
        String task = "Given a question about cells, retrieve passages that answer it";
        assertSameVectors(model.embed(QUERIES, Instructions.query(task)).vectors(), outputs(adapter.call(
                new EmbeddingRequest(QUERIES, ReasonIREmbeddingOptions.builder().task(task).build()))));
        assertSameVectors(model.embed(QUERIES, "").vectors(), outputs(adapter.call(
                new EmbeddingRequest(QUERIES, ReasonIREmbeddingOptions.builder().instruction("").build()))));
        // Options also override the document default of the batch path.
        assertSameVectors(model.embed(DOCUMENTS, Instructions.bright("economics")).vectors(), adapter.embed(
                documents(), ReasonIREmbeddingOptions.builder().brightTask("economics").build(),
                new TokenCountBatchingStrategy()));
        // Options that only carry model/dimensions keep the method's default.
        ReasonIREmbeddingOptions plain = ReasonIREmbeddingOptions.builder().model("model").dimensions(256).build();
        assertSameVectors(model.embed(QUERIES, DEFAULT_QUERY).vectors(), outputs(adapter.call(
                new EmbeddingRequest(QUERIES, plain))));
    }

    @Test
    void optionsAreCheckedWhenBuiltAndWhenUsed() {
        IllegalArgumentException two = assertThrows(IllegalArgumentException.class, () -> ReasonIREmbeddingOptions
                .builder().role(ReasonIREmbeddingOptions.Role.DOCUMENT).brightTask("biology").build());
        assertTrue(two.getMessage().startsWith("set at most one of role, task, brightTask and instruction"),
                two.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> ReasonIREmbeddingOptions.builder().brightTask("astrology").build());
        assertTrue(unknown.getMessage().contains("unknown BRIGHT task 'astrology'"), unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReasonIREmbeddingOptions.builder().task("").build());

        IllegalArgumentException dims = assertThrows(IllegalArgumentException.class, () -> adapter.call(
                new EmbeddingRequest(QUERIES, EmbeddingOptions.builder().dimensions(128).build())));
        assertEquals("ReasonIR vectors have 256 dimensions, the request asks for 128 (ReasonIR cannot shorten its "
                + "vectors)", dims.getMessage());
        IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> adapter.call(
                new EmbeddingRequest(QUERIES, EmbeddingOptions.builder().model("text-embedding-3-small").build())));
        assertTrue(other.getMessage().contains("serves 'model'"), other.getMessage());
    }

    @Test
    void builderQueryInstructionAndModelName() {
        ReasonIRSpringEmbeddingModel biology = ReasonIRSpringEmbeddingModel.builder().model(model)
                .brightTask("biology").modelName("ReasonIR-8B").build();
        assertSameVectors(model.embed(QUERIES, Instructions.bright("biology")).vectors(), biology.embed(QUERIES));
        assertEquals("ReasonIR-8B", biology.call(new EmbeddingRequest(QUERIES, null)).getMetadata().getModel());
        assertEquals(256, biology.dimensions());
        String task = "Given a recipe question, retrieve recipes";
        assertEquals(Instructions.query(task), ReasonIRSpringEmbeddingModel.builder().model(model).queryTask(task)
                .build().queryInstruction());
        assertEquals(0, adapter.call(new EmbeddingRequest(List.of(), null)).getResults().size());
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> ReasonIRSpringEmbeddingModel.builder().build());
        assertTrue(none.getMessage().contains("exactly one backend"), none.getMessage());
    }

    @Test
    void anOwnedModelIsClosedWithTheAdapterAndACallerOwnedOneIsNot() {
        ReasonIRSpringEmbeddingModel owned = ReasonIRSpringEmbeddingModel.builder().modelDir(dir).options(CPU).build();
        assertSameVectors(model.embed(QUERIES, DEFAULT_QUERY).vectors(), owned.embed(QUERIES));
        owned.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> owned.embed("late"));
        assertTrue(closed.getMessage().contains("is closed"), closed.getMessage());

        ReasonIRSpringEmbeddingModel.inProcess(model).close();
        assertEquals(256, model.dimension());  // the caller's model is still open
    }
}
