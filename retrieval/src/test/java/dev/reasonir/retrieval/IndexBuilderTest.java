package dev.reasonir.retrieval;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Building, reopening and refusing indexes, in process, on the h256_l4 test model. */
class IndexBuilderTest {
    @TempDir
    static Path tmp;
    static ReasonIR model;
    static Path corpus;

    @BeforeAll
    static void setUp() throws IOException {
        model = ReasonIR.open(TestCorpus.model(tmp), Options.defaults().withDevice("cpu").withMaxLength(48));
        corpus = TestCorpus.write(tmp.resolve("docs.jsonl"), 40, 1);
    }

    @AfterAll
    static void tearDown() {
        model.close();
    }

    static IndexBuilder.Result build(Path dir, IndexBuilder.Config cfg) throws IOException {
        return IndexBuilder.build(model, corpus, dir, cfg, IndexBuilder.Progress.NONE);
    }

    /** Every non-empty document, in corpus order, as the plain API embeds it. */
    static List<Corpus.Document> documents() throws IOException {
        List<Corpus.Document> docs = new ArrayList<>();
        long n = 0;
        for (String line : Files.readAllLines(corpus, StandardCharsets.UTF_8)) {
            n++;
            if (!line.isBlank()) docs.add(Corpus.parse(corpus, n, line));
        }
        return docs;
    }

    @Test
    void rowsAreThePlainApiVectorsInCorpusOrderAndEmptyDocumentsAreListed() throws IOException {
        Path dir = tmp.resolve("f32");
        IndexBuilder.Result r = build(dir, IndexBuilder.Config.defaults().withDtype(Dtype.F32).withCommit(200, 5));
        assertEquals(IndexBuilder.Status.BUILT, r.status());
        List<Corpus.Document> all = documents();
        List<Corpus.Document> kept = all.stream().filter(d -> !d.empty()).toList();
        float[][] expected = model.embedDocuments(kept.stream().map(Corpus.Document::content).toList());
        try (Index index = Index.open(dir)) {
            IndexManifest m = index.manifest();
            assertEquals(38, index.size());
            assertEquals(38, m.documents());
            assertEquals(List.of(new IndexManifest.EmptyDocument(9, "doc-007"),
                    new IndexManifest.EmptyDocument(13, "doc-011")), m.empty());
            for (int i = 0; i < kept.size(); i++) {
                assertEquals(kept.get(i).id(), index.id(i));
                assertArrayEquals(expected[i], index.vector(i), "row " + i);  // bit for bit
            }
            // max length 48: the longest documents are cut and listed with their corpus line
            assertFalse(m.truncated().isEmpty());
            for (IndexManifest.TruncatedDocument t : m.truncated()) {
                assertEquals(48, t.kept());
                assertTrue(t.tokens() > 48);
                Corpus.Document d = all.stream().filter(x -> x.id().equals(t.id())).findFirst().orElseThrow();
                assertEquals(d.line(), t.line());
                assertEquals(t.tokens(), model.tokenize(Instructions.DOCUMENT, d.content()).originalLength());
            }
            assertEquals(48, m.settings().maxLength());
            assertEquals(Instructions.DOCUMENT, m.settings().instruction());
            assertEquals(TestCorpus.sha256(corpus), m.corpus().sha256());
            assertEquals(TestCorpus.sha256(dir.resolve(Index.EMBEDDINGS)), m.embeddingsSha256());
            assertEquals(TestCorpus.sha256(dir.resolve(Index.IDS)), m.idsSha256());
        }
        assertEquals(List.of(Index.EMBEDDINGS, Index.IDS, Index.MANIFEST),
                TestCorpus.folderHashes(dir).keySet().stream().toList());
    }

    @Test
    void f16RowsAreTheF32RowsRoundedToHalf() throws IOException {
        Path a = tmp.resolve("h-f32"), b = tmp.resolve("h-f16");
        build(a, IndexBuilder.Config.defaults().withDtype(Dtype.F32));
        build(b, IndexBuilder.Config.defaults());
        try (Index x = Index.open(a); Index y = Index.open(b)) {
            for (int i = 0; i < x.size(); i++) {
                float[] v = x.vector(i), h = y.vector(i);
                for (int j = 0; j < v.length; j++) assertEquals(Half.toFloat(Half.fromFloat(v[j])), h[j]);
            }
        }
    }

    @Test
    void chunkingDoesNotChangeTheBytes() throws IOException {
        Path a = tmp.resolve("c1"), b = tmp.resolve("c2");
        build(a, IndexBuilder.Config.defaults().withCommit(1 << 20, 4096));
        build(b, IndexBuilder.Config.defaults().withCommit(64, 3));
        Map<String, String> ha = TestCorpus.folderHashes(a), hb = TestCorpus.folderHashes(b);
        assertEquals(ha.get(Index.EMBEDDINGS), hb.get(Index.EMBEDDINGS));
        assertEquals(ha.get(Index.IDS), hb.get(Index.IDS));
    }

    @Test
    void aCrashBetweenTheFinalRenamesIsFinishedByTheNextRun() throws IOException {
        Path reference = tmp.resolve("fin-ref"), dir = tmp.resolve("fin-crash");
        build(reference, IndexBuilder.Config.defaults());
        IndexBuilder.betweenFinalRenames = () -> {
            throw new IllegalStateException("simulated crash");
        };
        try {
            assertThrows(IllegalStateException.class, () -> build(dir, IndexBuilder.Config.defaults()));
        } finally {
            IndexBuilder.betweenFinalRenames = null;
        }
        assertTrue(Files.exists(dir.resolve(Index.IDS)) && !Files.exists(dir.resolve(Index.MANIFEST)));
        assertEquals(RetrievalException.Kind.CORRUPT,
                assertThrows(RetrievalException.class, () -> Index.open(dir)).kind());  // "unfinished"
        assertEquals(IndexBuilder.Status.RESUMED, build(dir, IndexBuilder.Config.defaults()).status());
        Map<String, String> a = TestCorpus.folderHashes(reference), b = TestCorpus.folderHashes(dir);
        assertEquals(a.keySet(), b.keySet());
        assertEquals(a.get(Index.EMBEDDINGS), b.get(Index.EMBEDDINGS));
        assertEquals(a.get(Index.IDS), b.get(Index.IDS));
    }

    @Test
    void rerunIsUpToDateAndOtherSettingsAreRefused() throws IOException {
        Path dir = tmp.resolve("rerun");
        build(dir, IndexBuilder.Config.defaults());
        Map<String, String> before = TestCorpus.folderHashes(dir);
        assertEquals(IndexBuilder.Status.UP_TO_DATE, build(dir, IndexBuilder.Config.defaults()).status());
        assertEquals(before, TestCorpus.folderHashes(dir));
        RetrievalException e = assertThrows(RetrievalException.class,
                () -> build(dir, IndexBuilder.Config.defaults().withDtype(Dtype.F32)));
        assertEquals(RetrievalException.Kind.MISMATCH, e.kind());
        assertTrue(e.getMessage().contains("dtype (f16 vs f32)"), e.getMessage());
        e = assertThrows(RetrievalException.class,
                () -> build(dir, IndexBuilder.Config.defaults().withInstruction("<|embed|>\nx")));
        assertTrue(e.getMessage().contains("instruction"), e.getMessage());
        try (ReasonIR longer = ReasonIR.open(model.modelDir(), model.options().withMaxLength(64))) {
            e = assertThrows(RetrievalException.class, () -> IndexBuilder.build(longer, corpus, dir,
                    IndexBuilder.Config.defaults(), IndexBuilder.Progress.NONE));
            assertTrue(e.getMessage().contains("max length (48 vs 64)"), e.getMessage());
        }
        assertEquals(before, TestCorpus.folderHashes(dir));
    }

    @Test
    void anotherModelIsRefusedAtSearch() throws IOException {
        Path dir = tmp.resolve("other");
        build(dir, IndexBuilder.Config.defaults());
        try (ReasonIR other = ReasonIR.open(TestCorpus.otherModel(tmp), Options.defaults().withDevice("cpu"));
             Index index = Index.open(dir)) {
            RetrievalException e = assertThrows(RetrievalException.class, () -> index.checkModel(other));
            assertEquals(RetrievalException.Kind.MISMATCH, e.kind());
            assertTrue(e.getMessage().contains("config.json"), e.getMessage());
            assertTrue(e.getMessage().contains("weights"), e.getMessage());
        }
    }

    @Test
    void foreignAndCorruptFoldersAreRefused() throws IOException {
        Path foreign = Files.createDirectories(tmp.resolve("foreign"));
        Files.writeString(foreign.resolve("notes.txt"), "mine");
        RetrievalException e = assertThrows(RetrievalException.class,
                () -> build(foreign, IndexBuilder.Config.defaults()));
        assertEquals(RetrievalException.Kind.FOREIGN, e.kind());
        assertTrue(e.getMessage().contains("notes.txt"), e.getMessage());
        assertEquals("mine", Files.readString(foreign.resolve("notes.txt")));
        assertEquals(RetrievalException.Kind.FOREIGN,
                assertThrows(RetrievalException.class, () -> Index.open(foreign)).kind());

        Path good = tmp.resolve("good");
        build(good, IndexBuilder.Config.defaults());
        // the matrix cut short
        Path cut = copy(good, "cut");
        try (var ch = java.nio.channels.FileChannel.open(cut.resolve(Index.EMBEDDINGS),
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 2);
        }
        e = assertThrows(RetrievalException.class, () -> Index.open(cut));
        assertEquals(RetrievalException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains(Index.EMBEDDINGS), e.getMessage());
        // ids missing a line
        Path ids = copy(good, "ids");
        List<String> lines = Files.readAllLines(ids.resolve(Index.IDS));
        Files.write(ids.resolve(Index.IDS), lines.subList(0, lines.size() - 1));
        e = assertThrows(RetrievalException.class, () -> Index.open(ids));
        assertTrue(e.getMessage().contains("has 37 ids, the manifest lists 38"), e.getMessage());
        // a manifest that is not JSON, and one of another format version
        Path bad = copy(good, "manifest");
        Files.writeString(bad.resolve(Index.MANIFEST), "{\"format\": \"reasonir-index\", ");
        assertEquals(RetrievalException.Kind.CORRUPT,
                assertThrows(RetrievalException.class, () -> Index.open(bad)).kind());
        Files.writeString(bad.resolve(Index.MANIFEST), "{\"format\": \"reasonir-index\", \"format_version\": 9}");
        e = assertThrows(RetrievalException.class, () -> Index.open(bad));
        assertEquals(RetrievalException.Kind.FOREIGN, e.kind());
        assertTrue(e.getMessage().contains("version 9"), e.getMessage());
    }

    @Test
    void badCorpusLinesAreNamed() throws IOException {
        Path dup = write("dup.jsonl", "{\"id\": \"a\", \"content\": \"x\"}", "{\"id\": \"b\", \"content\": \"y\"}",
                "{\"id\": \"a\", \"content\": \"z\"}");
        assertMessage(dup, "duplicate document id \"a\" on line 1 and line 3");
        assertMessage(write("json.jsonl", "{\"id\": \"a\", \"content\": \"x\"}", "{\"id\": \"b\", \"content\": "),
                "json.jsonl line 2: not valid JSON");
        assertMessage(write("noid.jsonl", "{\"content\": \"x\"}"), "line 1: missing \"id\"");
        assertMessage(write("nocontent.jsonl", "{\"id\": \"a\", \"text\": \"x\"}"), "line 1: missing \"content\"");
        assertMessage(write("type.jsonl", "{\"id\": \"a\", \"content\": 3}"), "\"content\" must be a string");
        assertMessage(write("empty.jsonl", "", "  "), "holds no documents");
        assertMessage(write("allempty.jsonl", "{\"id\": \"a\", \"content\": \" \"}"), "all 1 documents are empty");
        Path withEmpty = write("withempty.jsonl", "{\"id\": \"a\", \"content\": \"x\"}", "{\"id\": \"b\", \"content\": \"\"}");
        RetrievalException e = assertThrows(RetrievalException.class, () -> IndexBuilder.build(model, withEmpty,
                tmp.resolve("x-fail"), IndexBuilder.Config.defaults().withFailOnEmpty(true),
                IndexBuilder.Progress.NONE));
        assertTrue(e.getMessage().contains("line 2: document \"b\" is empty (--on-empty fail)"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("x-fail").resolve(Index.MANIFEST)));
    }

    private static void assertMessage(Path bad, String expected) {
        Path dir = tmp.resolve("x-" + bad.getFileName());
        RetrievalException e = assertThrows(RetrievalException.class,
                () -> IndexBuilder.build(model, bad, dir, IndexBuilder.Config.defaults(), IndexBuilder.Progress.NONE));
        assertEquals(RetrievalException.Kind.INPUT, e.kind());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static Path write(String name, String... lines) throws IOException {
        return Files.write(tmp.resolve(name), List.of(lines), StandardCharsets.UTF_8);
    }

    private static Path copy(Path dir, String name) throws IOException {
        Path to = Files.createDirectories(tmp.resolve("copy-" + name));
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
        return to;
    }
}
