package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The BRIGHT folder reader, on the committed bright-mini dataset and on broken files written per test. */
class BrightDatasetTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path mini() throws URISyntaxException {
        return Path.of(BrightDatasetTest.class.getResource("/bright-mini").toURI());
    }

    /** A dataset with one task {@code name} whose examples.jsonl has the given lines. */
    private BrightDataset oneTask(String name, String... exampleLines) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.writeString(dir.resolve("documents.jsonl"), "{\"id\": \"d1\", \"content\": \"x\"}\n");
        Files.writeString(dir.resolve("examples.jsonl"), String.join("\n", exampleLines) + "\n");
        return BrightDataset.open(tmp);
    }

    private BrightFormatException refused(String queries, boolean longDocs, String... lines) throws IOException {
        BrightDataset ds = oneTask("biology", lines);
        return assertThrows(BrightFormatException.class, () -> ds.examples("biology", queries, longDocs));
    }

    private static void assertMessage(String expectedPart, Exception e) {
        assertTrue(e.getMessage().contains(expectedPart), "\"" + e.getMessage() + "\" lacks \"" + expectedPart + "\"");
    }

    @Test
    void miniDataset() throws Exception {
        BrightDataset ds = BrightDataset.open(mini());
        assertEquals(List.of("biology", "leetcode", "theoremqa_theorems"), ds.tasks());
        assertTrue(ds.hasLongDocuments("biology"));
        assertFalse(ds.hasLongDocuments("leetcode"));
        assertEquals(mini().resolve("biology/documents.jsonl"), ds.documents("biology", false));
        assertEquals(mini().resolve("biology/long_documents.jsonl"), ds.documents("biology", true));

        List<BrightDataset.Example> bio = ds.examples("biology", BrightDataset.ORIGINAL, false);
        assertEquals(List.of("bio-q1", "bio-q2", "bio-q3", "bio-q4", "bio-q5"),
                bio.stream().map(BrightDataset.Example::id).toList());
        assertEquals(new BrightDataset.Example("bio-q1", "Why are most plants green instead of black?",
                List.of("bio-doc-01.txt", "bio-doc-12.txt"), List.of()), bio.get(0)); // "N/A" dropped
        assertEquals(List.of("bio-doc-14.txt"), bio.get(3).excludedIds()); // ["N/A", "bio-doc-14.txt"]
        assertEquals(List.of(), bio.get(4).goldIds());

        List<BrightDataset.Example> reasoned = ds.examples("biology", "gpt4_reason", false);
        assertTrue(reasoned.get(0).query().startsWith("The question asks about leaf colour."));
        for (int i = 0; i < bio.size(); i++) {
            assertTrue(reasoned.get(i).query().length() > bio.get(i).query().length());
        }
        // run.py --reasoning takes the ids from the reasoning config's rows too (gpt4_reason_ids), and bio-q1's
        // differ from the examples config's in the fixture.
        assertEquals(List.of("bio-doc-12.txt"), reasoned.get(0).goldIds());
        assertEquals(List.of("bio-doc-01.txt"), reasoned.get(0).excludedIds());
        assertEquals(bio.get(1), new BrightDataset.Example("bio-q2", bio.get(1).query(), reasoned.get(1).goldIds(),
                reasoned.get(1).excludedIds()));
        assertEquals(List.of("leet-doc-05.py"), ds.examples("leetcode", "gpt4_reason", false).get(1).goldIds());
        assertEquals(List.of("leet-doc-05.py", "leet-doc-08.py"),
                ds.examples("leetcode", "original", false).get(1).goldIds());
        assertEquals(List.of("bio-long-01.txt"), ds.examples("biology", "original", true).get(0).goldIds());
        assertEquals(4, ds.examples("theoremqa_theorems", "gpt4_reason", false).size());
        assertEquals("bright-mini-rev-1", ds.revision("biology"));
    }

    /** run.py --reasoning R --separate_reasoning: f"{query}\n<REASON>\n{reasoning query}", ids of the examples. */
    @Test
    void separateReasoning() throws Exception {
        BrightDataset ds = BrightDataset.open(mini());
        List<BrightDataset.Example> bio = ds.examples("biology", BrightDataset.ORIGINAL, false);
        List<BrightDataset.Example> reasoned = ds.examples("biology", "gpt4_reason", false);
        List<BrightDataset.Example> sep = ds.examples("biology", "gpt4_reason", false, true);
        assertTrue(sep.get(0).query().startsWith("Why are most plants green instead of black?\n<REASON>\nThe question "
                + "asks about leaf colour. Plants look green"), sep.get(0).query());
        for (int i = 0; i < bio.size(); i++) {
            assertEquals(new BrightDataset.Example(bio.get(i).id(), bio.get(i).query() + "\n<REASON>\n"
                    + reasoned.get(i).query(), bio.get(i).goldIds(), bio.get(i).excludedIds()), sep.get(i));
        }
        assertEquals(List.of("bio-long-01.txt"), ds.examples("biology", "gpt4_reason", true, true).get(0).goldIds());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ds.examples("biology", "original", false, true));
        assertMessage("separate reasoning needs a reasoning-query field", e);
    }

    @Test
    void revisionIsOptionalButMustBeWellFormed() throws IOException {
        BrightDataset ds = oneTask("biology", "{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": [\"d1\"]}");
        assertEquals(null, ds.revision("biology"));
        Files.writeString(tmp.resolve("biology/source.json"), "{\"dataset\": \"xlangai/BRIGHT\", \"revision\": 3}");
        assertMessage("must be a JSON object with a string \"revision\"",
                assertThrows(BrightFormatException.class, () -> ds.revision("biology")));
        Files.writeString(tmp.resolve("biology/source.json"), "{\"revision\": ");
        assertMessage("source.json is not valid JSON",
                assertThrows(BrightFormatException.class, () -> ds.revision("biology")));
        Files.writeString(tmp.resolve("biology/source.json"), "{\"revision\": \"abc123\"}");
        assertEquals("abc123", ds.revision("biology"));
    }

    @Test
    void noLongDocumentsInBrightForLeetcode() throws Exception {
        BrightDataset ds = BrightDataset.open(mini());
        BrightFormatException e = assertThrows(BrightFormatException.class, () -> ds.documents("leetcode", true));
        assertMessage("BRIGHT has no long documents for task leetcode", e);
        assertEquals(mini().resolve("leetcode/long_documents.jsonl"), e.file());
        e = assertThrows(BrightFormatException.class, () -> ds.examples("leetcode", "original", true));
        assertMessage("BRIGHT has no long documents for task leetcode", e);
    }

    /** The properties of bright-mini that its README promises and end-to-end tests rely on. */
    @Test
    void miniDatasetIsAsDescribed() throws Exception {
        BrightDataset ds = BrightDataset.open(mini());
        int emptyDocuments = 0;
        for (String task : ds.tasks()) {
            Set<String> corpus = new HashSet<>();
            List<String> lines = Files.readAllLines(ds.documents(task, false));
            assertTrue(lines.size() >= 12 && lines.size() <= 20, task + ": " + lines.size() + " documents");
            for (String line : lines) {
                assertTrue(line.length() < 400, line);
                JsonNode n = JSON.readTree(line);
                assertTrue(corpus.add(n.get("id").textValue()));
                if (n.get("content").textValue().isEmpty()) emptyDocuments++;
            }
            List<BrightDataset.Example> examples = ds.examples(task, "gpt4_reason", false);
            assertTrue(examples.size() >= 4 && examples.size() <= 6, task);
            long withGoldOutsideCorpus = examples.stream()
                    .filter(x -> x.goldIds().stream().anyMatch(g -> !corpus.contains(g))).count();
            assertEquals(1, withGoldOutsideCorpus, task + ": queries with a gold id missing from the corpus");
            for (BrightDataset.Example x : examples) {
                assertTrue(x.goldIds().size() <= 3, x.id());
                assertTrue(corpus.containsAll(x.excludedIds()), x.id());
            }
        }
        assertEquals(1, emptyDocuments);
        long emptyGold = 0;
        for (String task : ds.tasks()) {
            emptyGold += ds.examples(task, "original", false).stream().filter(x -> x.goldIds().isEmpty()).count();
        }
        assertEquals(1, emptyGold);
        long bytes;
        try (Stream<Path> files = Files.walk(mini())) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        assertTrue(bytes < 40 * 1024, bytes + " bytes");
    }

    @Test
    void taskOrderIsBrightsThenAlphabetical() throws IOException {
        for (String t : List.of("zeta", "theoremqa_theorems", "alpha", "biology", "leetcode")) {
            Files.createDirectories(tmp.resolve(t));
            Files.writeString(tmp.resolve(t).resolve("examples.jsonl"), "");
        }
        Files.createDirectories(tmp.resolve("economics")); // no examples.jsonl: not a task
        Files.writeString(tmp.resolve("notes.txt"), "not a folder");
        assertEquals(List.of("biology", "leetcode", "theoremqa_theorems", "alpha", "zeta"),
                BrightDataset.open(tmp).tasks());
    }

    @Test
    void openRefusesWhatIsNotADataset() throws IOException {
        BrightFormatException e = assertThrows(BrightFormatException.class, () -> BrightDataset.open(tmp));
        assertMessage("holds no task folder", e);
        Files.createDirectories(tmp.resolve("biology"));
        assertThrows(BrightFormatException.class, () -> BrightDataset.open(tmp));
        e = assertThrows(BrightFormatException.class, () -> BrightDataset.open(tmp.resolve("missing")));
        assertMessage("is not a directory", e);
        Path file = Files.writeString(tmp.resolve("file.jsonl"), "{}");
        assertThrows(BrightFormatException.class, () -> BrightDataset.open(file));
    }

    @Test
    void unknownTaskListsTheTasksFound() throws Exception {
        BrightDataset ds = BrightDataset.open(mini());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ds.documents("chemistry", false));
        assertMessage("unknown task \"chemistry\"", e);
        assertMessage("[biology, leetcode, theoremqa_theorems]", e);
        assertThrows(IllegalArgumentException.class, () -> ds.examples("chemistry", "original", false));
        assertThrows(IllegalArgumentException.class, () -> ds.hasLongDocuments("chemistry"));
    }

    @Test
    void missingDocumentFiles() throws IOException {
        BrightDataset ds = oneTask("biology", "{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": []}");
        Files.delete(tmp.resolve("biology/documents.jsonl"));
        BrightFormatException e = assertThrows(BrightFormatException.class, () -> ds.documents("biology", false));
        assertMessage("task biology has no documents", e);
        e = assertThrows(BrightFormatException.class, () -> ds.documents("biology", true));
        assertMessage("long_documents.jsonl is missing", e);
    }

    @Test
    void queriesMustNameAQueryField() throws IOException {
        BrightDataset ds = oneTask("biology", "{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": []}");
        for (String bad : new String[] {"", "query", "reasoning", "gold_ids", "id"}) {
            assertThrows(IllegalArgumentException.class, () -> ds.examples("biology", bad, false), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> ds.examples("biology", null, false));
    }

    @Test
    void integerIdsBecomeDecimalText() throws IOException {
        BrightDataset ds = oneTask("biology", "{\"id\": 7, \"query\": \"x\", \"gold_ids\": [12, \"a\", 12],"
                + " \"excluded_ids\": [\"N/A\", 30000000000]}");
        assertEquals(List.of(new BrightDataset.Example("7", "x", List.of("12", "a"), List.of("30000000000"))),
                ds.examples("biology", "original", false));
    }

    @Test
    void blankLinesAreSkippedButCounted() throws IOException {
        BrightFormatException e = refused("original", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": []}",
                "", "   ", "{\"id\": \"q2\", \"query\": \"x\", \"gold_ids\": [}");
        assertEquals(4, e.line());
        assertEquals(tmp.resolve("biology/examples.jsonl"), e.file());
        assertMessage("examples.jsonl line 4: not valid JSON", e);
    }

    @Test
    void windowsLineEndsAndByteOrderMark() throws IOException {
        oneTask("biology", "x");
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        byte[] text = ("{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [\"d1\"]}\r\n\r\n"
                + "{\"id\": \"q2\", \"query\": \"y\", \"gold_ids\": []}\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[bom.length + text.length];
        System.arraycopy(bom, 0, all, 0, bom.length);
        System.arraycopy(text, 0, all, bom.length, text.length);
        Files.write(tmp.resolve("biology/examples.jsonl"), all);
        List<BrightDataset.Example> ex = BrightDataset.open(tmp).examples("biology", "original", false);
        assertEquals(List.of("q1", "q2"), ex.stream().map(BrightDataset.Example::id).toList());
        assertEquals("y", ex.get(1).query());
    }

    @Test
    void fieldErrorsNameFileAndLine() throws IOException {
        String ok = "{\"id\": \"q0\", \"query\": \"fine\", \"gold_ids\": [\"d1\"]}";
        String[][] cases = {
                {"[1, 2]", "expected a JSON object"},
                {"{\"query\": \"x\", \"gold_ids\": []}", "missing \"id\""},
                {"{\"id\": 1.5, \"query\": \"x\", \"gold_ids\": []}", "\"id\" must be a string or an integer, got 1.5"},
                {"{\"id\": true, \"query\": \"x\", \"gold_ids\": []}", "\"id\" must be a string or an integer"},
                {"{\"id\": \"\", \"query\": \"x\", \"gold_ids\": []}", "\"id\" is empty"},
                {"{\"id\": \"q\", \"gold_ids\": []}", "missing \"query\""},
                {"{\"id\": \"q\", \"query\": [\"x\"], \"gold_ids\": []}", "\"query\" must be a string, got an array"},
                {"{\"id\": \"q\", \"query\": \" \", \"gold_ids\": []}", "\"query\" of example \"q\" is empty"},
                {"{\"id\": \"q\", \"query\": \"x\"}", "missing \"gold_ids\""},
                {"{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": \"d1\"}", "\"gold_ids\" must be an array of ids"},
                {"{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": [{}]}", "gold_ids[0] must be a string or an integer"},
                {"{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": [], \"excluded_ids\": 3}",
                        "\"excluded_ids\" must be an array of ids"},
        };
        for (String[] c : cases) {
            BrightFormatException e = refused("original", false, ok, c[0]);
            assertEquals(2, e.line(), c[0]);
            assertMessage("examples.jsonl line 2: " + c[1], e);
            Files.delete(tmp.resolve("biology/examples.jsonl"));
        }
    }

    @Test
    void longGoldIdsAreRequiredForLongDocuments() throws IOException {
        BrightDataset ds = oneTask("biology", "{\"id\": \"q\", \"query\": \"x\", \"gold_ids\": [\"d1\"]}");
        Files.writeString(tmp.resolve("biology/long_documents.jsonl"), "{\"id\": \"L1\", \"content\": \"y\"}\n");
        BrightFormatException e = assertThrows(BrightFormatException.class,
                () -> ds.examples("biology", "original", true));
        assertMessage("line 1: missing \"gold_ids_long\"", e);
    }

    @Test
    void missingReasoningQueries() throws IOException {
        BrightFormatException e = refused("gpt4_reason", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": []}");
        assertMessage("line 1: no field \"gpt4_reason\": this export has no gpt4_reason queries", e);
        Files.delete(tmp.resolve("biology/examples.jsonl"));
        e = refused("gpt4_reason", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [], \"gpt4_reason\": \"y\", "
                + "\"gpt4_reason_ids\": {\"gold_ids\": []}}", "{\"id\": \"q2\", \"query\": \"x\", \"gold_ids\": []}");
        assertMessage("line 2: no field \"gpt4_reason\": example \"q2\" lacks it", e);
        Files.delete(tmp.resolve("biology/examples.jsonl"));
        e = refused("gpt4_reason", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [], \"gpt4_reason\": 5}");
        assertMessage("\"gpt4_reason\" must be a string, got 5", e);
        // An export made before the reasoning config's own ids were exported: refused, not silently unofficial.
        Files.delete(tmp.resolve("biology/examples.jsonl"));
        e = refused("gpt4_reason", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [], \"gpt4_reason\": \"y\"}");
        assertMessage("line 1: no object \"gpt4_reason_ids\" for example \"q1\": the official evaluation takes", e);
        Files.delete(tmp.resolve("biology/examples.jsonl"));
        e = refused("gpt4_reason", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [], \"gpt4_reason\": \"y\", "
                + "\"gpt4_reason_ids\": {\"gold_ids\": [\"a\"], \"excluded_ids\": [\"a\"]}}");
        assertMessage("\"a\" of example \"q1\" is both in gpt4_reason_ids.gold_ids and in gpt4_reason_ids.excluded_ids", e);
    }

    @Test
    void duplicateExampleIdsNameBothLines() throws IOException {
        BrightFormatException e = refused("original", false, "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": []}",
                "{\"id\": \"q2\", \"query\": \"x\", \"gold_ids\": []}", "{\"id\": \"q1\", \"query\": \"y\", \"gold_ids\": []}");
        assertEquals(3, e.line());
        assertMessage("line 3: duplicate example id \"q1\" (also on line 1)", e);
        // 1 and "1" are the same id once read.
        Files.delete(tmp.resolve("biology/examples.jsonl"));
        e = refused("original", false, "{\"id\": 1, \"query\": \"x\", \"gold_ids\": []}",
                "{\"id\": \"1\", \"query\": \"x\", \"gold_ids\": []}");
        assertMessage("duplicate example id \"1\"", e);
    }

    @Test
    void goldAndExcludedMustNotOverlap() throws IOException {
        BrightFormatException e = refused("original", false,
                "{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": [\"d1\", \"d2\"], \"excluded_ids\": [\"N/A\", \"d2\"]}");
        assertMessage("line 1: document \"d2\" of example \"q1\" is both in gold_ids and in excluded_ids", e);
    }

    @Test
    void noExamplesAndBadUtf8() throws IOException {
        BrightFormatException e = refused("original", false, "", "  ");
        assertMessage("holds no examples", e);
        Path file = tmp.resolve("biology/examples.jsonl");
        List<byte[]> parts = new ArrayList<>();
        parts.add("{\"id\": \"q1\", \"query\": \"x\", \"gold_ids\": []}\n{\"id\": \"q2\", \"query\": \"".getBytes(
                StandardCharsets.UTF_8));
        parts.add(new byte[] {(byte) 0xC3, (byte) 0x28}); // a lead byte without its continuation
        parts.add("\", \"gold_ids\": []}\n".getBytes(StandardCharsets.UTF_8));
        try (var out = Files.newOutputStream(file)) {
            for (byte[] p : parts) out.write(p);
        }
        BrightDataset ds = BrightDataset.open(tmp);
        e = assertThrows(BrightFormatException.class, () -> ds.examples("biology", "original", false));
        assertMessage("not valid UTF-8", e);
    }
}
