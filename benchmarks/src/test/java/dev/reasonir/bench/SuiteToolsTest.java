package dev.reasonir.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.FixturesAccess;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The benchmark suite's command-line tools {@link TokenizerBench} and {@link JniBench}: argument handling (usage,
 * one-line errors, exit status 2) and a very short real run on the h256_l4 random-weight checkpoint with the real
 * Llama-3.1 tokenizer, whose last line must be the suite's JSON object (benchmarks/reasonir_bench/SCHEMA.md) with sane values.
 */
class SuiteToolsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path model;

    /** What one run of a tool printed. */
    record Run(int status, String out, String err) {
        JsonNode lastLineJson() throws IOException {
            List<String> lines = out.lines().toList();
            return JSON.readTree(lines.get(lines.size() - 1));
        }
    }

    interface Tool {
        int run(String[] args, PrintStream out, PrintStream err) throws Exception;
    }

    /**
     * The checkpoint plus the tokenizer files, linked once in target/ (links in a JUnit temporary folder make JUnit
     * warn about each one when it deletes the folder). Named h256_l4: the tools report the folder's name.
     */
    @BeforeAll
    static void model() throws IOException {
        Path dir = Path.of("target", "test-models", "h256_l4").toAbsolutePath();
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            if (Files.isDirectory(dir)) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) Files.delete(f);
                }
            }
            FixturesAccess.withTokenizer("h256_l4", dir);
        }
        model = dir;
    }

    static Run run(Tool tool, String... args) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = tool.run(args, o, e);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static void assertBadArguments(Tool tool, String prefix, String... args) throws Exception {
        Run r = run(tool, args);
        assertEquals(2, r.status(), "exit status for " + List.of(args));
        assertEquals(1, r.err().lines().count(), "one line of error for " + List.of(args) + ": " + r.err());
        assertTrue(r.err().startsWith(prefix + ": "), r.err());
        assertEquals("", r.out());
    }

    private static Set<String> keys(JsonNode o) {
        Set<String> s = new TreeSet<>();
        o.fieldNames().forEachRemaining(s::add);
        return s;
    }

    @Test
    void helpPrintsUsage() throws Exception {
        for (Tool tool : List.<Tool>of(TokenizerBench::run, JniBench::run)) {
            Run r = run(tool, "--help");
            assertEquals(0, r.status());
            assertTrue(r.out().startsWith("usage: "), r.out());
            assertEquals("", r.err());
        }
    }

    @Test
    void badArgumentsExitWithStatus2() throws Exception {
        String m = model.toString();
        Tool tok = TokenizerBench::run;
        assertBadArguments(tok, "TokenizerBench");                                  // --model missing
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--docs", "many");
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--threads", "1,0");
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--seconds", "0");
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--frobnicate", "1");
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--seconds");      // value missing
        assertBadArguments(tok, "TokenizerBench", "--model", m, "--tokenizer", m + "/nowhere");
        Tool jni = JniBench::run;
        assertBadArguments(jni, "JniBench");
        assertBadArguments(jni, "JniBench", "--model", m, "--calls", "0");
        assertBadArguments(jni, "JniBench", "--model", m, "--tokens", "x");
        assertBadArguments(jni, "JniBench", "--model", m + "/nowhere");
        assertBadArguments(jni, "JniBench", "--model", m, "--native-us", "-1");
        assertBadArguments(jni, "JniBench", "--model", m, "--bench-embed", m + "/no-such-binary");
        assertBadArguments(jni, "JniBench", "--model", m, "--native-us", "3", "--bench-embed", m + "/config.json");
    }

    @Test
    void threadListDefaultsToOneAndAllCores() {
        int cores = Runtime.getRuntime().availableProcessors();
        TokenizerBench.Config c = TokenizerBench.Config.parse(new String[] {"--model", model.toString()});
        assertEquals(cores > 1 ? List.of(1, cores) : List.of(1), java.util.Arrays.stream(c.threads).boxed().toList());
        assertEquals(List.of(4, 1), java.util.Arrays.stream(TokenizerBench.Config.threadList(" 4,1,4")).boxed()
                .toList());
    }

    @Test
    void documentsAreDeterministicAndCorpusLike() {
        List<String> a = TokenizerBench.documents(200, 7);
        assertEquals(a, TokenizerBench.documents(200, 7));
        assertNotEquals(a, TokenizerBench.documents(200, 8));
        int min = Integer.MAX_VALUE, max = 0;
        for (String d : a) {
            int words = d.split("\\s+").length;
            min = Math.min(min, words);
            max = Math.max(max, words);
            assertTrue(words >= 50 && words <= 2000, "words " + words);
            assertTrue((Character.isUpperCase(d.charAt(0)) || Character.isDigit(d.charAt(0))) && d.endsWith("."), d);
        }
        assertTrue(max > 3 * min, "lengths spread: " + min + ".." + max);
    }

    @Test
    void tokenizerBenchShortRun() throws Exception {
        Run r = run(TokenizerBench::run, "--model", model.toString(), "--docs", "40", "--seconds", "0.3",
                "--warmup", "0.1", "--threads", "1,2", "--engine-seconds", "0.2", "--batch-tokens", "2048", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode j = r.lastLineJson();
        assertEquals(Set.of("rows", "engine_tokens_per_s", "starves", "pipeline"), keys(j), j.toString());
        assertEquals(2, j.get("rows").size());
        for (int i = 0; i < 2; i++) {
            JsonNode row = j.get("rows").get(i);
            assertEquals(Set.of("threads", "texts_per_s", "tokens_per_s"), keys(row));
            assertEquals(i + 1, row.get("threads").intValue());
            assertTrue(row.get("texts_per_s").doubleValue() > 0, row.toString());
            // Every document has at least 50 words, hence more than 50 tokens.
            assertTrue(row.get("tokens_per_s").doubleValue() > 50 * row.get("texts_per_s").doubleValue(),
                    row.toString());
        }
        double engine = j.get("engine_tokens_per_s").doubleValue();
        assertTrue(engine > 0, j.toString());
        assertTrue(j.get("starves").isBoolean());
        assertEquals(j.get("rows").get(1).get("tokens_per_s").doubleValue() < engine, j.get("starves").booleanValue());
        assertTrue(j.get("pipeline").isNull());
    }

    @Test
    void tokenizerBenchWithoutEngine() throws Exception {
        Run r = run(TokenizerBench::run, "--model", model.toString(), "--docs", "10", "--seconds", "0.1",
                "--warmup", "0", "--threads", "1", "--engine-seconds", "0", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode j = r.lastLineJson();
        assertEquals(1, j.get("rows").size());
        assertTrue(j.get("engine_tokens_per_s").isNull());
        assertTrue(j.get("starves").isNull());
    }

    @Test
    void jniBenchWithGivenNativeTime() throws Exception {
        Run r = run(JniBench::run, "--model", model.toString(), "--calls", "300", "--warmup", "30",
                "--native-us", "1.5", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode j = r.lastLineJson();
        assertTrue(keys(j).containsAll(Set.of("checkpoint", "tokens", "java_us", "native_us", "overhead_us",
                "java_p50_us", "java_p99_us")), j.toString());
        assertEquals("h256_l4", j.get("checkpoint").textValue());
        assertEquals(1, j.get("tokens").intValue());
        double java = j.get("java_us").doubleValue();
        assertTrue(java > 0, j.toString());
        assertEquals(1.5, j.get("native_us").doubleValue());
        assertEquals(java - 1.5, j.get("overhead_us").doubleValue(), 2e-3);
        assertTrue(j.get("java_p50_us").doubleValue() > 0);
        assertTrue(j.get("java_p50_us").doubleValue() <= j.get("java_p99_us").doubleValue(), j.toString());
    }

    @Test
    void jniBenchRunsBenchEmbed() throws Exception {
        // bench_embed is built with libreasonir.so by core's build, next to the generated checkpoints (build/).
        Path benchEmbed = Path.of(System.getProperty("reasonir.generated")).resolveSibling("native")
                .resolve("bench_embed");
        assumeTrue(Files.isExecutable(benchEmbed), benchEmbed + " not built");
        Run r = run(JniBench::run, "--model", model.toString(), "--calls", "300", "--warmup", "30", "--tokens", "4",
                "--bench-embed", benchEmbed.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode j = r.lastLineJson();
        assertEquals(4, j.get("tokens").intValue());
        double java = j.get("java_us").doubleValue(), nat = j.get("native_us").doubleValue();
        assertTrue(java > 0 && nat > 0, j.toString());
        assertEquals(java - nat, j.get("overhead_us").doubleValue(), 2e-3);
        assertTrue(j.get("native_p50_us").doubleValue() > 0, j.toString());
    }
}
