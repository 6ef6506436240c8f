package dev.reasonir.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.embedding.listener.EmbeddingModelResponseContext;
import dev.langchain4j.model.embedding.request.EmbeddingInputType;
import dev.langchain4j.model.embedding.request.EmbeddingRequest;
import dev.langchain4j.model.embedding.response.EmbeddingResponse;
import dev.langchain4j.model.output.Response;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.langchain4j.EmbeddingAssertions.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process backend against the Java API it wraps: same vectors, same token counts, same errors. */
class InProcessEmbeddingModelTest {
    @TempDir static Path tmp;
    @TestKit.Model static Path dir;
    @TestKit.Model static ReasonIR model;

    static List<TextSegment> segments(List<String> texts) {
        return texts.stream().map(TextSegment::from).toList();
    }

    @Test
    void documentsEqualTheJavaApiBitForBitWithTokenUsage() {
        EmbeddingResult expected = model.embed(DOCUMENTS, Instructions.DOCUMENT);
        Response<List<Embedding>> r = ReasonIREmbeddingModel.forDocuments(model).embedAll(segments(DOCUMENTS));
        assertSameVectors(expected.vectors(), r.content());
        assertEquals(Math.toIntExact(expected.totalTokens()), r.tokenUsage().inputTokenCount());
        assertEquals(r.tokenUsage().inputTokenCount(), r.tokenUsage().totalTokenCount());
        assertNull(r.tokenUsage().outputTokenCount());
    }

    @Test
    void queriesEqualTheJavaApiWithTheirInstruction() {
        String biology = Instructions.bright("biology");
        assertSameVectors(model.embed(QUERIES, biology).vectors(),
                ReasonIREmbeddingModel.forBrightTask(model, "biology").embedAll(segments(QUERIES)).content());
        String custom = Instructions.query("Given a cooking question, retrieve recipes that answer it");
        assertSameVectors(model.embed(QUERIES, custom).vectors(),
                ReasonIREmbeddingModel.forQueries(model, custom).embedAll(segments(QUERIES)).content());
        // The single-text path (embed(String)) goes through the same call.
        Response<Embedding> one = ReasonIREmbeddingModel.forQueries(model, custom).embed(QUERIES.get(0));
        assertSameVectors(model.embed(List.of(QUERIES.get(0)), custom).vectors(), List.of(one.content()));
        assertEquals(Math.toIntExact(model.embed(List.of(QUERIES.get(0)), custom).totalTokens()),
                one.tokenUsage().inputTokenCount());
    }

    @Test
    void inputTypeOfTheRequestOverridesTheInstanceDefault() {
        String biology = Instructions.bright("biology");
        ReasonIREmbeddingModel both = ReasonIREmbeddingModel.builder().model(model).queryInstruction(biology).build();
        assertEquals(Instructions.DOCUMENT, both.instruction());

        EmbeddingResponse asQuery = both.embed(EmbeddingRequest.builder().inputs(QUERIES.toArray(String[]::new))
                .inputType(EmbeddingInputType.QUERY).build());
        assertSameVectors(model.embed(QUERIES, biology).vectors(), asQuery.embeddings());
        assertEquals(Math.toIntExact(model.embed(QUERIES, biology).totalTokens()),
                asQuery.metadata().tokenUsage().inputTokenCount());

        ReasonIREmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(model, "biology");
        EmbeddingResponse asDocument = queries.embed(EmbeddingRequest.builder()
                .inputs(DOCUMENTS.toArray(String[]::new)).inputType(EmbeddingInputType.DOCUMENT).build());
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(), asDocument.embeddings());
        assertEquals(queries.modelName(), asDocument.metadata().modelName());
    }

    @Test
    void queryRequestOnADocumentInstanceFailsInsteadOfGuessingATask() {
        EmbeddingRequest request = EmbeddingRequest.builder().input("why?").inputType(EmbeddingInputType.QUERY)
                .build();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ReasonIREmbeddingModel.forDocuments(model).embed(request));
        assertTrue(e.getMessage().contains("no query instruction"), e.getMessage());
    }

    @Test
    void parametersReasonIRCannotHonourAreRefusedByLangChain4j() {
        EmbeddingRequest request = EmbeddingRequest.builder().input("text").dimensions(64).build();
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> ReasonIREmbeddingModel.forDocuments(model).embed(request));
        assertTrue(e.getMessage().contains("dimensions"), e.getMessage());
    }

    @Test
    void dimensionModelNameAndDerivedInstances() {
        ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(model);
        assertEquals(model.dimension(), documents.dimension());
        assertEquals("model", documents.modelName());  // the checkpoint folder's name
        ReasonIREmbeddingModel queries = documents.withInstruction(Instructions.bright("economics"));
        assertEquals(Instructions.bright("economics"), queries.instruction());
        assertEquals(Instructions.bright("economics"), queries.queryInstruction());
        assertNull(documents.queryInstruction());
        // A derived document instance keeps the query instruction of the instance it came from.
        assertEquals(queries.queryInstruction(), queries.withInstruction(Instructions.DOCUMENT).queryInstruction());
        assertEquals("named", ReasonIREmbeddingModel.builder().model(model).modelName("named").build().modelName());
    }

    @Test
    void engineErrorsPassThroughNamingTheInput() {
        try (ReasonIR strict = ReasonIR.open(dir, CPU.withMaxLength(16).withOverflow(Options.Overflow.FAIL))) {
            List<TextSegment> input = segments(List.of("short", String.join(" ", DOCUMENTS)));
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> ReasonIREmbeddingModel.forDocuments(strict).embedAll(input));
            assertEquals(1, e.inputIndex());
            assertTrue(e.getMessage().startsWith("input 1: "), e.getMessage());
        }
    }

    @Test
    void anOwnedModelIsClosedWithTheAdapterAndACallerOwnedOneIsNot() throws Exception {
        ReasonIREmbeddingModel owned = ReasonIREmbeddingModel.builder().modelDir(dir).options(CPU).build();
        ReasonIREmbeddingModel derived = owned.withInstruction(Instructions.bright("biology"));
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                owned.embedAll(segments(DOCUMENTS)).content());
        derived.close();  // derived instances never close the shared backend
        assertEquals(model.dimension(), derived.embed("still open").content().dimension());
        owned.close();
        owned.close();  // idempotent
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> owned.embed("late"));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> derived.embed("late"));

        try (ReasonIR callers = ReasonIR.open(dir, CPU)) {
            ReasonIREmbeddingModel adapter = ReasonIREmbeddingModel.forDocuments(callers);
            adapter.close();
            assertEquals(callers.dimension(), adapter.embed("the caller's model is still open").content()
                    .dimension());
            callers.close();
            e = assertThrows(IllegalStateException.class, () -> adapter.embed("closed by its owner"));
            assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        }
    }

    @Test
    void listenersSeeEveryCallWithItsTokenUsage() {
        List<EmbeddingResponse> seen = new ArrayList<>();
        EmbeddingModelListener listener = new EmbeddingModelListener() {
            @Override
            public void onResponse(EmbeddingModelResponseContext context) {
                seen.add(context.embeddingResponse());
            }
        };
        ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.builder().model(model).listeners(List.of(listener))
                .build();
        documents.embedAll(segments(DOCUMENTS));
        documents.withInstruction(Instructions.bright("biology")).embed(QUERIES.get(0));
        assertEquals(2, seen.size());
        assertEquals(Math.toIntExact(model.embed(DOCUMENTS, Instructions.DOCUMENT).totalTokens()),
                seen.get(0).metadata().tokenUsage().inputTokenCount());
    }

    @Test
    void builderRefusesAmbiguousOrMissingBackendsAndBadFolders() {
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> ReasonIREmbeddingModel.builder().build());
        assertTrue(none.getMessage().contains("exactly one backend"), none.getMessage());
        assertThrows(IllegalStateException.class, () -> ReasonIREmbeddingModel.builder().model(model)
                .baseUrl("http://localhost:8080").build());
        RuntimeException missing = assertThrows(RuntimeException.class, () -> ReasonIREmbeddingModel.builder()
                .modelDir(tmp.resolve("no-such-model")).options(CPU).build());
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReasonIREmbeddingModel.builder().brightTask("nope"));
    }
}
