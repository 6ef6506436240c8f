package dev.reasonir.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code reasonir index / search / eval} as a user runs them, on the h256_l4 model and the bright-mini dataset. */
class RetrievalCliTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path bright;

    @BeforeAll
    static void setUp() throws Exception {
        model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        bright = Path.of(System.getProperty("reasonir.brightMini"));
    }

    static CliTest.Run run(String... args) {
        return CliTest.run(args);
    }

    @Test
    void indexSearchAndRerun() throws IOException {
        Path index = tmp.resolve("bio-index");
        String docs = bright.resolve("biology/documents.jsonl").toString();
        CliTest.Run r = run("index", "--model", model.toString(), "--corpus", docs, "--out", index.toString(),
                "--device", "cpu", "--max-length", "128");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("reasonir: device cpu"), r.err());
        assertTrue(r.err().matches("(?s).*indexed \\d+ documents, \\d+ tokens in .*docs/s.*tokens/s.*"), r.err());
        assertTrue(r.err().contains("1 empty documents skipped"), r.err());
        assertTrue(Files.exists(index.resolve("manifest.json")));

        r = run("index", "--model", model.toString(), "--corpus", docs, "--out", index.toString(),
                "--device", "cpu", "--max-length", "128");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("is up to date"), r.err());

        r = run("index", "--model", model.toString(), "--corpus", docs, "--out", index.toString(),
                "--device", "cpu", "--max-length", "64");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("max length (128 vs 64)"), r.err());

        Path trec = tmp.resolve("bio.trec");
        r = run("search", "--model", model.toString(), "--index", index.toString(), "--queries",
                bright.resolve("biology/examples.jsonl").toString(), "--task", "biology", "--top-k", "5",
                "--out", trec.toString(), "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().matches("(?s).*\\d+ queries against \\d+ documents in .* queries/s.*"), r.err());
        List<String> lines = Files.readAllLines(trec);
        assertTrue(lines.get(0).matches("bio-q1 Q0 \\S+ 1 -?[0-9.E-]+ reasonir"), lines.get(0));
        assertTrue(Files.exists(tmp.resolve("bio.jsonl")));
        assertFalse(r.err().contains("truncated"), r.err());

        // queries longer than --max-length are embedded truncated, and said so
        r = run("search", "--model", model.toString(), "--index", index.toString(), "--queries",
                bright.resolve("biology/examples.jsonl").toString(), "--task", "biology", "--top-k", "5",
                "--out", trec.toString(), "--device", "cpu", "--max-length", "32");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().matches("(?s).*\\d+ queries truncated to --max-length 32 \\(first: query bio-q\\d, "
                + "\\d+ tokens\\).*"), r.err());
    }

    @Test
    void anIndexBuiltOnADevicePoolIsTheSameBytes() throws IOException {
        // 'cpu*2': two engines, small batches dealt to whichever is free; the index must not depend on it
        String docs = bright.resolve("biology/documents.jsonl").toString();
        for (String device : List.of("cpu", "cpu*2")) {
            Path index = tmp.resolve("pool-" + device.replace('*', 'x'));
            CliTest.Run r = run("index", "--model", model.toString(), "--corpus", docs, "--out", index.toString(),
                    "--device", device, "--max-length", "64", "--batch-tokens", "256");
            assertEquals(0, r.status(), r.err());
        }
        for (String file : List.of("embeddings.npy", "ids.jsonl")) {
            assertEquals(-1L, Files.mismatch(tmp.resolve("pool-cpu").resolve(file),
                    tmp.resolve("pool-cpux2").resolve(file)), file);
        }
        assertTrue(run("index", "--help").out().contains("cuda:all"));
    }

    @Test
    void helpAfterACommand() {
        for (String cmd : List.of("index", "search", "eval", "embed")) {
            CliTest.Run r = run(cmd, "--help");
            assertEquals(0, r.status(), cmd);
            assertTrue(r.out().contains("Usage: reasonir " + cmd), r.out());
        }
    }

    @Test
    void searchAndIndexRefuseWhatTheyCannotUse() throws IOException {
        String docs = bright.resolve("leetcode/documents.jsonl").toString();
        CliTest.Run r = run("index", "--model", model.toString(), "--corpus", docs, "--out",
                tmp.resolve("x").toString(), "--top-k", "3");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Unknown option") && r.err().contains("'--top-k'"), r.err());

        r = run("search", "--model", model.toString(), "--index", tmp.resolve("x").toString(), "--queries", docs,
                "--out", tmp.resolve("y.trec").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--task=NAME") && r.err().contains("--instruction=TEXT"), r.err());

        r = run("search", "--model", model.toString(), "--index", tmp.resolve("nope").toString(), "--queries",
                bright.resolve("leetcode/examples.jsonl").toString(), "--task", "leetcode", "--out",
                tmp.resolve("y.trec").toString(), "--device", "cpu");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("index folder " + tmp.resolve("nope") + " does not exist"), r.err());

        r = run("index", "--model", model.toString(), "--corpus", tmp.resolve("missing.jsonl").toString(),
                "--out", tmp.resolve("z").toString(), "--device", "cpu");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("missing.jsonl does not exist"), r.err());

        r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--task", "chemistry");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unknown task 'chemistry'") && r.err().contains("biology"), r.err());
    }

    @Test
    void evalPrintsThePaperTableAndWritesPerQueryResults() throws IOException {
        Path out = tmp.resolve("eval-out");
        CliTest.Run r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--task", "all",
                "--cache", tmp.resolve("cache").toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        String[] table = r.out().split("\n");
        assertTrue(table[0].matches("nDCG@10 x100\\s+Bio\\s+Leet\\s+TheoT\\s+Avg"), r.out());
        assertTrue(table[1].matches("this run \\(original\\)\\s+( +\\d+\\.\\d){4}"), r.out());
        assertTrue(table[2].matches("paper ReasonIR-8B\\s+26\\.2\\s+35\\.0\\s+27\\.2\\s+29\\.5"), r.out());
        assertEquals("BRIGHT revision bright-mini-rev-1; f32 vectors, cpu fp32, top 1000", table[3]);
        assertTrue(r.err().matches("(?s).*biology +nDCG@10 .* MRR .* MRR@10 .*\\(5 queries, 1 without gold scored 0, "
                + "14 documents, 1 empty skipped\\).*"), r.err());
        JsonNode res = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(3, res.get("tasks").size());
        assertEquals("bright-mini-rev-1", res.get("dataset_revision").textValue());
        assertEquals(1000, res.get("top_k").intValue());
        JsonNode bio = res.get("tasks").get(0);
        assertEquals("biology", bio.get("task").textValue());
        assertEquals(5, bio.get("per_query").size());
        assertEquals(5, bio.get("queries").intValue());
        assertEquals("<|user|>\nGiven a biology post, retrieve relevant passages that help answer the post\n"
                + "<|embed|>\n", bio.get("query_prompt").textValue());
        assertEquals("<|embed|>\n", bio.get("document_prompt").textValue());
        assertEquals("f32", bio.get("dtype").textValue());
        assertEquals("fp32", bio.get("precision").textValue());
        assertEquals("bright-mini-rev-1", bio.get("dataset_revision").textValue());
        assertEquals("bio-doc-07.txt", bio.get("empty_documents_skipped").get("ids").get(0).textValue());
        assertEquals("bio-q5", bio.get("queries_without_gold").get("ids").get(0).textValue());
        assertTrue(bio.has("mrr") && bio.has("mrr@10"), bio.toString());
        assertTrue(Files.exists(out.resolve("leetcode.trec")));
        // the average in the table is the mean of the three task scores as printed in results.json
        double mean = 0;
        for (JsonNode t : res.get("tasks")) mean += t.get("ndcg@10").doubleValue() / 3;
        assertTrue(table[1].trim().endsWith(String.format(java.util.Locale.ROOT, "%.1f", 100 * mean)), r.out());

        CliTest.Run again = run("eval", "--model", model.toString(), "--bright", bright.toString(),
                "--cache", tmp.resolve("cache").toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, again.status(), again.err());
        assertTrue(again.err().contains("cached index"), again.err());
        assertEquals(r.out(), again.out());
    }

    @Test
    void evalLongDocumentsAndSeparateReasoning() throws IOException {
        Path out = tmp.resolve("eval-long");
        CliTest.Run r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--long-documents",
                "--cache", tmp.resolve("cache-long").toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("skipping leetcode: no long documents"), r.err());
        JsonNode res = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(1, res.get("tasks").size());
        JsonNode bio = res.get("tasks").get(0);
        assertEquals("<|user|>\nGiven a biology post, retrieve relevant documents that help answer the post\n"
                + "<|embed|>\n", bio.get("query_prompt").textValue());
        assertEquals(2, bio.get("queries_without_gold").get("count").intValue()); // empty gold_ids_long
        assertTrue(r.out().contains("this run (original, long)") && !r.out().contains("paper"), r.out());

        r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--task", "leetcode",
                "--long-documents", "--cache", tmp.resolve("cache-long").toString(), "--device", "cpu");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("leetcode") && r.err().contains("no long-document setting"), r.err());

        r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--separate-reasoning",
                "--device", "cpu");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--separate-reasoning needs --queries FIELD"), r.err());

        out = tmp.resolve("eval-sep");
        r = run("eval", "--model", model.toString(), "--bright", bright.toString(), "--task", "biology",
                "--queries", "gpt4_reason", "--separate-reasoning", "--cache", tmp.resolve("cache-sep").toString(),
                "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        res = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertTrue(res.get("separate_reasoning").booleanValue());
        assertEquals(2, res.get("tasks").get(0).get("per_query").get(0).get("relevant").intValue());
        assertTrue(r.out().contains("this run (gpt4_reason+sep)"), r.out());

        String help = run("eval", "--help").out().replaceAll("\\s+", " "); // as read, whatever the line wrapping
        assertTrue(help.contains("Official settings: bf16") && help.contains("--dtype f32 (the default)")
                && help.contains("Approximations: the CPU default fp32, --dtype f16"), help);
    }

    @Test
    void progressLinesWhenStderrIsNotATerminal() throws InterruptedException {
        var buf = new ByteArrayOutputStream();
        try (ProgressDisplay p = new ProgressDisplay(new PrintStream(buf, true, StandardCharsets.UTF_8), "index",
                "docs", 200, 50, false, Duration.ofMillis(40))) {
            p.update(100, 123_456, 60_000);
            Thread.sleep(150);
        }
        String first = buf.toString(StandardCharsets.UTF_8).lines().findFirst().orElse("");
        assertTrue(first.matches("reasonir: index 100/200 docs \\(50%\\), 123\\.5k tokens, [0-9.]+[kM]? tokens/s, "
                + "ETA \\d+(s|m\\d\\ds)"), first);
    }
}
