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

    /**
     * What the official evaluation computes for one task, from the engine's raw fp32 vectors: every non-empty
     * document embedded with "<|embed|>\\n", every query with {@code prompt}, exact scores, excluded ids removed, the
     * top 1000 by the trec_eval order. Scores use the search's own score definition ({@link ExactSearchTest#score})
     * so that equal inputs give equal floats.
     */
    static List<List<Hit>> officialRuns(Path documents, List<BrightDataset.Example> ex, String prompt)
            throws IOException {
        List<Corpus.Document> docs = readDocs(documents);
        float[][] dv = model.embed(docs.stream().map(Corpus.Document::content).toList(), "<|embed|>\n").vectors();
        float[][] qv = model.embed(ex.stream().map(BrightDataset.Example::query).toList(), prompt).vectors();
        List<List<Hit>> runs = new ArrayList<>();
        for (int q = 0; q < ex.size(); q++) {
            List<Hit> ranking = new ArrayList<>();
            for (int d = 0; d < docs.size(); d++) {
                if (ex.get(q).excludedIds().contains(docs.get(d).id())) continue;
                ranking.add(new Hit(docs.get(d).id(), d, ExactSearchTest.score(qv[q], dv[d])));
            }
            ranking.sort(Hit.TREC_ORDER);
            runs.add(List.copyOf(ranking.subList(0, Math.min(1000, ranking.size()))));
        }
        return runs;
    }

    /** The mean the official script prints: every query counts, one with no gold as 0, summed in id order. */
    static double officialMean(List<BrightDataset.Example> ex, List<Double> perQuery) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < ex.size(); i++) order.add(i);
        order.sort((a, b) -> Hit.compareUtf8(ex.get(a).id(), ex.get(b).id()));
        double sum = 0;
        for (int i : order) sum += ex.get(i).goldIds().isEmpty() ? 0.0 : perQuery.get(i);
        return sum / ex.size();
    }

    @Test
    void brightEvaluationMatchesAnIndependentComputation() throws IOException {
        BrightDataset data = BrightDataset.open(bright);
        Path cache = tmp.resolve("cache");
        BrightEval.Config cfg = new BrightEval.Config("original", false, false, cache, BrightEval.officialIndex(), 2);
        List<BrightEval.TaskResult> results = BrightEval.run(model, data, data.tasks(), cfg,
                BrightEval.Listener.NONE);
        assertEquals(List.of("biology", "leetcode", "theoremqa_theorems"),
                results.stream().map(BrightEval.TaskResult::task).toList());
        for (BrightEval.TaskResult r : results) {
            List<BrightDataset.Example> ex = data.examples(r.task(), "original", false);
            List<List<Hit>> expected = officialRuns(data.documents(r.task(), false), ex, Instructions.bright(r.task()));
            assertEquals(expected, r.hits(), r.task());
            List<Double> ndcg = new ArrayList<>();
            for (int q = 0; q < ex.size(); q++) {
                Metrics.QueryScores s = Metrics.evaluate(ex.get(q).id(), expected.get(q),
                        Metrics.binaryQrels(ex.get(q).goldIds()));
                assertEquals(s, r.perQuery().get(q));
                ndcg.add(s.ndcg10());
            }
            assertEquals(officialMean(ex, ndcg), r.summary().ndcg10(), r.task());
            assertEquals(ex.size(), r.summary().queries());
            assertEquals(IndexBuilder.Status.BUILT, r.index().status());
            assertEquals(Dtype.F32, r.index().manifest().settings().dtype());
            assertEquals("bright-mini-rev-1", r.revision());
        }
        // bio-q5 has an empty gold list: scored 0 and averaged in (5 queries, not 4).
        assertEquals(5, results.get(0).summary().queries());
        assertEquals(1, results.get(0).summary().noRelevant());
        assertTrue(results.get(0).summary().ndcg10() > 0);
        String table = BrightEval.table(results, cfg);
        assertTrue(table.contains("Bio") && table.contains("Leet") && table.contains("TheoT"), table);
        assertTrue(table.contains("paper ReasonIR-8B"), table);
        assertTrue(table.endsWith("BRIGHT revision bright-mini-rev-1; f32 vectors, cpu fp32, top 1000\n"), table);

        var json = BrightEval.json(results, cfg);
        assertEquals("bright-mini-rev-1", json.get("dataset_revision").textValue());
        var bio = json.get("tasks").get(0);
        assertEquals(Instructions.bright("biology"), bio.get("query_prompt").textValue());
        assertEquals("<|embed|>\n", bio.get("document_prompt").textValue());
        assertEquals("f32", bio.get("dtype").textValue());
        assertEquals("fp32", bio.get("precision").textValue());
        assertEquals("bright-mini-rev-1", bio.get("dataset_revision").textValue());
        assertEquals(1, bio.get("empty_documents_skipped").get("count").intValue());
        assertEquals("bio-doc-07.txt", bio.get("empty_documents_skipped").get("ids").get(0).textValue());
        assertEquals("bio-q5", bio.get("queries_without_gold").get("ids").get(0).textValue());
        assertEquals(results.get(0).summary().mrr(), bio.get("mrr").doubleValue());

        // A second evaluation reuses the cached indexes and gives the same numbers.
        List<BrightEval.TaskResult> again = BrightEval.run(model, data, data.tasks(), cfg, BrightEval.Listener.NONE);
        for (int i = 0; i < again.size(); i++) {
            assertEquals(IndexBuilder.Status.UP_TO_DATE, again.get(i).index().status());
            assertEquals(results.get(i).perQuery(), again.get(i).perQuery());
        }
        // An f16 index is a different cache entry: never reused for the fp32 default, nor the other way round.
        BrightEval.Config f16 = new BrightEval.Config("original", false, false, cache,
                IndexBuilder.Config.defaults().withDtype(Dtype.F16), 2);
        BrightEval.TaskResult half = BrightEval.run(model, data, List.of("biology"), f16, BrightEval.Listener.NONE)
                .get(0);
        assertEquals(IndexBuilder.Status.BUILT, half.index().status());
        assertEquals(Dtype.F16, half.index().manifest().settings().dtype());
        assertTrue(!half.index().dir().equals(results.get(0).index().dir()));
    }

    /**
     * The acceptance check: {@code --long-documents} equals an independent computation with the official
     * long-document prompt (written out literally here), fp32 vectors and empty gold lists scored 0.
     */
    @Test
    void longDocumentsUseTheOfficialLongPrompt() throws IOException {
        BrightDataset data = BrightDataset.open(bright);
        BrightEval.Config cfg = new BrightEval.Config("original", true, false, tmp.resolve("cache-long"),
                BrightEval.officialIndex(), 2);
        BrightEval.TaskResult r = BrightEval.run(model, data, List.of("biology"), cfg, BrightEval.Listener.NONE)
                .get(0);
        String prompt = "<|user|>\nGiven a biology post, retrieve relevant documents that help answer the post\n"
                + "<|embed|>\n";
        assertEquals(prompt, r.queryPrompt());
        List<BrightDataset.Example> ex = data.examples("biology", "original", true);
        List<List<Hit>> expected = officialRuns(data.documents("biology", true), ex, prompt);
        assertEquals(expected, r.hits());
        List<Double> ndcg = new ArrayList<>(), recall = new ArrayList<>(), mrr = new ArrayList<>();
        for (int q = 0; q < ex.size(); q++) {
            Metrics.QueryScores s = Metrics.evaluate(ex.get(q).id(), expected.get(q),
                    Metrics.binaryQrels(ex.get(q).goldIds()));
            ndcg.add(s.ndcg10());
            recall.add(s.recall100());
            mrr.add(s.mrr());
        }
        // bio-q3 and bio-q5 have empty gold_ids_long: both averaged in as 0.
        assertEquals(2, r.summary().noRelevant());
        assertEquals(5, r.summary().queries());
        assertEquals(officialMean(ex, ndcg), r.summary().ndcg10());
        assertEquals(officialMean(ex, recall), r.summary().recall100());
        assertEquals(officialMean(ex, mrr), r.summary().mrr());
        assertTrue(r.summary().ndcg10() > 0);
        // The short prompt would give other vectors: the setting really changes what is embedded.
        assertTrue(!Instructions.bright("biology").equals(prompt));
        assertTrue(BrightEval.table(List.of(r), cfg).contains("this run (original, long)"));
        assertTrue(!BrightEval.table(List.of(r), cfg).contains("paper"));
    }

    @Test
    void reasoningQueriesUseTheReasoningConfigsIds() throws IOException {
        BrightDataset data = BrightDataset.open(bright);
        BrightEval.Config cfg = new BrightEval.Config("gpt4_reason", false, false, tmp.resolve("cache-reason"),
                BrightEval.officialIndex(), 2);
        BrightEval.TaskResult r = BrightEval.run(model, data, List.of("biology"), cfg, BrightEval.Listener.NONE)
                .get(0);
        // bio-q1: gpt4_reason_ids has one gold id (bio-doc-12.txt) and excludes bio-doc-01.txt
        assertEquals(1, r.perQuery().get(0).relevant());
        assertTrue(r.hits().get(0).stream().noneMatch(h -> h.id().equals("bio-doc-01.txt")));
        assertTrue(r.queries().get(0).text().startsWith("The question asks about leaf colour."));

        BrightEval.Config sep = new BrightEval.Config("gpt4_reason", false, true, tmp.resolve("cache-reason"),
                BrightEval.officialIndex(), 2);
        BrightEval.TaskResult s = BrightEval.run(model, data, List.of("biology"), sep, BrightEval.Listener.NONE)
                .get(0);
        assertTrue(s.queries().get(0).text().startsWith("Why are most plants green instead of black?\n<REASON>\n"
                + "The question asks about leaf colour."), s.queries().get(0).text());
        assertEquals(2, s.perQuery().get(0).relevant()); // the examples config's ids
        assertTrue(BrightEval.table(List.of(s), sep).contains("this run (gpt4_reason+sep)"));
        assertTrue(BrightEval.json(List.of(s), sep).get("separate_reasoning").booleanValue());
        assertThrows(IllegalArgumentException.class, () -> new BrightEval.Config("original", false, true,
                tmp, BrightEval.officialIndex(), 2));
    }

    /** The official script keeps the top 1000 per query; its MRR is recip_rank over those, uncut. */
    @Test
    void runsHoldTheTop1000AndMrrIsUncut() throws IOException {
        Path root = tmp.resolve("bright-1200");
        Path docs = TestCorpus.write(Files.createDirectories(root.resolve("biology")).resolve("documents.jsonl"),
                1200, 11);
        String q = "protein enzyme in the cell membrane";
        List<BrightDataset.Example> probe = List.of(new BrightDataset.Example("q1", q, List.of(), List.of()));
        List<Hit> all = officialRuns(docs, probe, Instructions.bright("biology")).get(0);
        assertEquals(1000, all.size());
        String gold = all.get(436).id(); // rank 437: beyond MRR@10, inside the run
        Files.writeString(root.resolve("biology/examples.jsonl"), "{\"id\": \"q1\", \"query\": \"" + q
                + "\", \"gold_ids\": [\"" + gold + "\"], \"gold_ids_long\": [], \"excluded_ids\": []}\n");
        BrightEval.Config cfg = new BrightEval.Config("original", false, false, tmp.resolve("cache-1200"),
                BrightEval.officialIndex(), 2);
        BrightEval.TaskResult r = BrightEval.run(model, BrightDataset.open(root), List.of("biology"), cfg,
                BrightEval.Listener.NONE).get(0);
        assertEquals(all, r.hits().get(0));
        assertEquals(0.0, r.summary().mrr10());
        assertEquals(1.0 / 437, r.summary().mrr());
        assertEquals(null, r.revision());
        assertTrue(BrightEval.table(List.of(r), cfg).contains("BRIGHT revision unrecorded;"));
        Path trec = tmp.resolve("top1000.trec");
        Search.writeTrec(trec, r.queries(), r.hits());
        assertEquals(1000, Files.readAllLines(trec).size());
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
