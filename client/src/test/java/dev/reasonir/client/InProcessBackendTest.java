package dev.reasonir.client;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.TestSupport.CPU;
import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.client.TestSupport.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process backend against the Java API it wraps: same vectors, token counts and errors; who closes what. */
class InProcessBackendTest {
    @TempDir static Path tmp;
    @TestKit.Model static Path dir;
    @TestKit.Model static ReasonIR model;

    @Test
    void vectorsAndTokensEqualTheJavaApiBitForBit() {
        EmbeddingBackend backend = EmbeddingBackend.builder().model(model).build();
        EmbeddingResult expected = model.embed(DOCUMENTS, Instructions.DOCUMENT);
        EmbeddingBackend.Embedded out = backend.embed(DOCUMENTS, Instructions.DOCUMENT);
        assertSameVectors(expected.vectors(), out.vectors());
        assertEquals(Math.toIntExact(expected.totalTokens()), out.inputTokens());
        String biology = Instructions.bright("biology");
        assertSameVectors(model.embed(QUERIES, biology).vectors(), backend.embed(QUERIES, biology).vectors());
        assertEquals(0, backend.embed(List.of(), Instructions.DOCUMENT).vectors().length);
    }

    @Test
    void dimensionAndModelName() {
        EmbeddingBackend backend = EmbeddingBackend.builder().model(model).build();
        assertEquals(model.dimension(), backend.knownDimension());
        assertEquals(model.dimension(), backend.dimension());
        assertEquals("model", backend.modelName());  // the checkpoint folder's name
        assertEquals("in-process " + model.modelDir(), backend.toString());
        assertEquals("named", EmbeddingBackend.builder().model(model).modelName("named").build().modelName());
    }

    @Test
    void engineErrorsPassThroughNamingTheInput() {
        try (ReasonIR strict = ReasonIR.open(dir, CPU.withMaxLength(16).withOverflow(Options.Overflow.FAIL))) {
            EmbeddingBackend backend = EmbeddingBackend.builder().model(strict).build();
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> backend.embed(List.of("short", String.join(" ", DOCUMENTS)), Instructions.DOCUMENT));
            assertEquals(1, e.inputIndex());
        }
    }

    @Test
    void anOwnedModelIsClosedWithTheBackendAndABorrowedOneIsNot() throws Exception {
        EmbeddingBackend owned = EmbeddingBackend.builder().modelDir(dir).options(CPU).build();
        assertSameVectors(model.embed(DOCUMENTS, Instructions.DOCUMENT).vectors(),
                owned.embed(DOCUMENTS, Instructions.DOCUMENT).vectors());
        owned.close();
        owned.close();  // idempotent
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> owned.embed(List.of("late"), Instructions.DOCUMENT));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());

        try (ReasonIR callers = ReasonIR.open(dir, CPU)) {
            EmbeddingBackend borrowed = EmbeddingBackend.builder().model(callers).build();
            borrowed.close();
            assertEquals(1, borrowed.embed(List.of("the caller's model is still open"), Instructions.DOCUMENT)
                    .vectors().length);
            callers.close();
            e = assertThrows(IllegalStateException.class,
                    () -> borrowed.embed(List.of("closed by its owner"), Instructions.DOCUMENT));
            assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        }
    }

    @Test
    void theBuilderWantsExactlyOneBackendAndOpensTheFolderAtBuild() {
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> EmbeddingBackend.builder().build());
        assertEquals("set exactly one backend: model(ReasonIR), modelDir(Path) or baseUrl(...); got 0",
                none.getMessage());
        assertThrows(IllegalStateException.class, () -> EmbeddingBackend.builder().model(model)
                .baseUrl("http://localhost:8080").build());
        RuntimeException missing = assertThrows(RuntimeException.class, () -> EmbeddingBackend.builder()
                .modelDir(tmp.resolve("no-such-model")).device("cpu").maxLength(64).build());
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
    }
}
