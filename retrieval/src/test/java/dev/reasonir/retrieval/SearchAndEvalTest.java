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
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Search against a brute-force reference, query files, run files, and the BRIGHT evaluation end to end on the
 * made-up dataset in test resources (bright-mini), checked against rankings and metrics computed independently from
 * the plain embedding API.
 */
class SearchAndEvalTest {
    @TempDir
    static Path tmp;
    static ReasonIR model;
    static Path bright;

    @BeforeAll
    static void setUp() throws Exception {
        model = ReasonIR.open(TestCorpus.model(tmp), Options.defaults().withDevice("cpu").withMaxLength(256));
        bright = Path.of(SearchAndEvalTest.class.getResource("/bright-mini").toURI());
    }

    @AfterAll
    static void tearDown() {
        model.close();
    }

    /**
     * The search's score definition ({@link ExactSearchTest#score}: 16 fused multiply-add lanes, fixed reduction
     * tree) of every row, sorted the trec_eval way, first k, excluded left out.
     */
    static List<Hit> bruteForce(Index index, float[] q, int k, Set<String> excluded) {
        List<Hit> all = new ArrayList<>();
        for (int r = 0; r < index.size(); r++) {
            if (excluded.contains(index.id(r))) continue;
            all.add(new Hit(index.id(r), r, ExactSearchTest.score(q, index.vector(r))));
        }
        all.sort(Hit.TREC_ORDER);
        return all.subList(0, Math.min(k, all.size()));
    }

    @Test
    void searchEqualsBruteForceWithExclusions() throws IOException {
        Path corpus = TestCorpus.write(tmp.resolve("docs.jsonl"), 120, 5);
        for (Dtype dtype : Dtype.values()) {
            Path dir = tmp.resolve("index-" + dtype);
            IndexBuilder.build(model, corpus, dir, IndexBuilder.Config.defaults().withDtype(dtype),
                    IndexBuilder.Progress.NONE);
            Path qf = Files.write(tmp.resolve("q.jsonl"), List.of(
                    "{\"id\": \"q1\", \"query\": \"protein enzyme in the cell membrane\"}",
                    "{\"id\": \"q2\", \"query\": \"river sediment and erosion\", \"excluded_ids\": [\"doc-001\", "
                            + "\"doc-002\", \"not-in-the-corpus\"]}",
                    "",
                    "{\"id\": 3, \"text\": \"prime integral theorem\", \"excluded_ids\": []}"), StandardCharsets.UTF_8);
            List<Search.Query> queries = Search.readQueries(qf);
            assertEquals("3", queries.get(2).id());
            try (Index index = Index.open(dir)) {
                String instr = Instructions.bright("biology");
                List<List<Hit>> hits = Search.run(model, index, queries, instr, 25, 2);
                float[][] qv = model.embedQueries(queries.stream().map(Search.Query::text).toList(), instr);
                for (int q = 0; q < queries.size(); q++) {
                    assertEquals(bruteForce(index, qv[q], 25, new HashSet<>(queries.get(q).excludedIds())),
                            hits.get(q), dtype + " query " + q);
                }
                assertTrue(hits.get(1).stream().noneMatch(h -> h.id().equals("doc-001") || h.id().equals("doc-002")));
                // more than the corpus holds: everything, ranked
                assertEquals(index.size(), Search.run(model, index, queries, instr, 10_000, 1).get(0).size());

                Path trec = tmp.resolve("run-" + dtype + ".trec");
                Search.writeTrec(trec, queries, hits);
                List<String> lines = Files.readAllLines(trec);
                assertEquals(75, lines.size());
                String[] first = lines.get(0).split(" ");
                assertEquals(List.of("q1", "Q0", hits.get(0).get(0).id(), "1"), List.of(first).subList(0, 4));
                assertEquals(hits.get(0).get(0).score(), Float.parseFloat(first[4]));  // round-trips exactly
                assertEquals(Search.RUN_TAG, first[5]);
                Path jsonl = tmp.resolve("run-" + dtype + ".jsonl");
                Search.writeJsonl(jsonl, queries, hits);
                var o = IndexManifest.JSON.readTree(Files.readAllLines(jsonl).get(1));
                assertEquals("q2", o.get("query_id").textValue());
                assertEquals(hits.get(1).get(3).id(), o.get("hits").get(3).get("id").textValue());
                assertEquals(4, o.get("hits").get(3).get("rank").intValue());
            }
        }
    }

    @Test
    void badQueryFilesAreNamed() throws IOException {
        assertQueryError("{\"id\": \"a\", \"query\": \"x\"}\n{\"id\": \"a\", \"query\": \"y\"}\n",
                "duplicate query id \"a\" on line 1 and line 2");
        assertQueryError("{\"id\": \"a\", \"query\": \"x\"}\n{\"id\": \"b\" \"query\": \"y\"}\n",
                "line 2: not valid JSON");
        assertQueryError("{\"query\": \"x\"}\n", "line 1: missing \"id\"");
        assertQueryError("{\"id\": \"a\", \"query\": \" \"}\n", "line 1: query \"a\" is empty");
        assertQueryError("{\"id\": \"a\", \"query\": \"x\", \"excluded_ids\": \"b\"}\n", "must be an array");
        assertQueryError("\n\n", "holds no queries");
    }

    private static void assertQueryError(String content, String expected) throws IOException {
        Path f = Files.writeString(tmp.resolve("bad-queries.jsonl"), content);
        RetrievalException e = assertThrows(RetrievalException.class, () -> Search.readQueries(f));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void brightEvaluationMatchesAnIndependentComputation() throws IOException {
        BrightDataset data = BrightDataset.open(bright);
        Path cache = tmp.resolve("cache");
        BrightEval.Config cfg = new BrightEval.Config("original", false, cache,
                IndexBuilder.Config.defaults().withDtype(Dtype.F32), 2);
        List<BrightEval.TaskResult> results = BrightEval.run(model, data, data.tasks(), cfg,
                BrightEval.Listener.NONE);
        assertEquals(List.of("biology", "leetcode", "theoremqa_theorems"),
                results.stream().map(BrightEval.TaskResult::task).toList());
        for (BrightEval.TaskResult r : results) {
            List<BrightDataset.Example> ex = data.examples(r.task(), "original", false);
            List<Corpus.Document> docs = readDocs(data.documents(r.task(), false));
            float[][] dv = model.embedDocuments(docs.stream().map(Corpus.Document::content).toList());
            float[][] qv = model.embedQueries(ex.stream().map(BrightDataset.Example::query).toList(),
                    Instructions.bright(r.task()));
            List<Metrics.QueryScores> expected = new ArrayList<>();
            for (int q = 0; q < ex.size(); q++) {
                List<Hit> ranking = new ArrayList<>();
                for (int d = 0; d < docs.size(); d++) {
                    if (ex.get(q).excludedIds().contains(docs.get(d).id())) continue;
                    float s = 0;
                    for (int k = 0; k < dv[d].length; k++) s += qv[q][k] * dv[d][k];
                    ranking.add(new Hit(docs.get(d).id(), d, s));
                }
                ranking.sort(Hit.TREC_ORDER);
                expected.add(Metrics.evaluate(ex.get(q).id(), ranking.subList(0, Math.min(100, ranking.size())),
                        Metrics.binaryQrels(ex.get(q).goldIds())));
            }
            assertEquals(expected, r.perQuery(), r.task());
            assertEquals(Metrics.average(expected), r.summary());
            assertEquals(IndexBuilder.Status.BUILT, r.index().status());
        }
        // The biology task has a query without relevant documents: counted apart, not averaged.
        assertEquals(1, results.get(0).summary().skippedNoRelevant());
        String table = BrightEval.table(results, "original", false);
        assertTrue(table.contains("Bio") && table.contains("Leet") && table.contains("TheoT"), table);
        assertTrue(table.contains("paper ReasonIR-8B"), table);

        // A second evaluation reuses the cached indexes and gives the same numbers.
        List<BrightEval.TaskResult> again = BrightEval.run(model, data, data.tasks(), cfg, BrightEval.Listener.NONE);
        for (int i = 0; i < again.size(); i++) {
            assertEquals(IndexBuilder.Status.UP_TO_DATE, again.get(i).index().status());
            assertEquals(results.get(i).perQuery(), again.get(i).perQuery());
        }
    }

    @Test
    void reasoningQueriesAndLongDocuments() throws IOException {
        BrightDataset data = BrightDataset.open(bright);
        BrightEval.Config cfg = new BrightEval.Config("gpt4_reason", true, tmp.resolve("cache-long"),
                IndexBuilder.Config.defaults(), 2);
        List<BrightEval.TaskResult> r = BrightEval.run(model, data, List.of("biology"), cfg,
                BrightEval.Listener.NONE);
        List<BrightDataset.Example> ex = data.examples("biology", "gpt4_reason", true);
        assertEquals(ex.size(), r.get(0).perQuery().size());
        assertEquals(readDocs(data.documents("biology", true)).stream().filter(d -> !d.empty()).count(),
                r.get(0).index().manifest().documents());
        assertEquals(ex.get(0).query(), r.get(0).queries().get(0).text());
        assertTrue(ex.get(0).query().length() > 60, "a gpt4_reason query, not the original");
    }

    static List<Corpus.Document> readDocs(Path f) throws IOException {
        List<Corpus.Document> out = new ArrayList<>();
        long n = 0;
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            n++;
            if (line.isBlank()) continue;
            Corpus.Document d = Corpus.parse(f, n, line);
            if (!d.empty()) out.add(d);
        }
        return out;
    }
}
