package dev.reasonir.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Instructions;
import dev.reasonir.NpyWriter;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ./reasonir command line (dev.reasonir.cli.Main) end to end on the h256_l4 checkpoint + real tokenizer. */
class CliTest {
    static Path generated;
    @TempDir
    static Path tmp;
    static Path modelWithTokenizer;

    @BeforeAll
    static void setUp() throws IOException {
        generated = Path.of(System.getProperty("reasonir.generated")).resolve("h256_l4");
        modelWithTokenizer = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
    }

    record Run(int status, String out, String err) {}

    static Run run(String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int st = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(st, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Path write(String name, String... lines) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, List.of(lines), StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void embedMixedInputInOrder() throws IOException {
        Path in = write("in.jsonl",
                "{\"text\": \"why is the sky blue?\", \"task\": \"biology\", \"role\": \"query\"}",
                "{\"text\": \"Rayleigh scattering of sunlight\", \"role\": \"document\"}",
                "",
                "{\"text\": \"no instruction at all\"}",
                "{\"text\": \"no instruction at all\", \"instruction\": \"\"}",
                "{\"text\": \"tail\", \"instruction\": \"<|user|>\\nCustom task\\n<|embed|>\\n\"}",
                "{\"ids\": [128000, 5, 6, 7], \"pool_start\": 1}");
        Path out = tmp.resolve("out.npy");
        Run r = run("embed", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                out.toString(), "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("embedded 6 inputs"), r.err());
        assertTrue(r.err().contains("reasonir: lines without \"role\" or \"instruction\" use the default prompt "
                + "document (\"<|embed|>\\n\")"), r.err());
        float[][] got = NpyWriter.read(out);
        assertEquals(6, got.length);
        try (ReasonIR m = ReasonIR.open(modelWithTokenizer, Options.defaults().withDevice("cpu"))) {
            assertEquals(m.dimension(), got[0].length);
            float[][] expected = {
                    m.embedQueries(List.of("why is the sky blue?"), Instructions.bright("biology"))[0],
                    m.embedDocuments(List.of("Rayleigh scattering of sunlight"))[0],
                    // a bare {"text"} line: the Java API's default, ReasonIR.embed(texts), bit for bit
                    m.embed(List.of("no instruction at all")).vectors()[0],
                    // raw text only when the line asks for it
                    m.embed(List.of("no instruction at all"), "").vectors()[0],
                    m.embed(List.of("tail"), "<|user|>\nCustom task\n<|embed|>\n").vectors()[0],
                    m.embedTokens(List.of(TokenizedInput.of(new int[] {128000, 5, 6, 7}, 1))).vectors()[0]};
            // Exact: the same ids through the same CPU engine, which is bit-for-bit batch invariant.
            for (int i = 0; i < 6; i++) assertArrayEquals(expected[i], got[i], "row " + i);
        }
    }

    @Test
    void preTokenizedInputNeedsNoTokenizerFiles() throws IOException {
        assertTrue(Files.notExists(generated.resolve("tokenizer.json")));
        Path in = write("ids.jsonl", "{\"ids\": [128000, 9, 8], \"pool_start\": 0}", "{\"ids\": [1]}");
        Path out = tmp.resolve("ids.npy");
        Run r = run("embed", "--model", generated.toString(), "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(2, NpyWriter.read(out).length);
    }

    @Test
    void truncationIsReported() throws IOException {
        Path in = write("long.jsonl", "{\"text\": \"" + "word ".repeat(100) + "\"}", "{\"text\": \"short\"}");
        Path out = tmp.resolve("long.npy");
        Run r = run("embed", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                out.toString(), "--max-length", "16");
        assertEquals(0, r.status(), r.err());
        // 107 = BOS + 5 tokens of the default prompt "<|embed|>\n" + 101 of the text
        assertTrue(r.err().contains("1 inputs truncated") && r.err().contains("line 1: 107 -> 16 tokens"), r.err());
        Run fail = run("embed", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                out.toString(), "--max-length", "16", "--overflow", "fail");
        assertEquals(2, fail.status());
        assertTrue(fail.err().contains("line 1: has 107 tokens, more than --max-length 16 (--overflow fail)"),
                fail.err());
    }

    @Test
    void failedRunLeavesNoOutput() throws IOException {
        Path in = write("late-bad.jsonl", "{\"text\": \"fine\"}", "{\"ids\": [1, 2], \"pool_start\": 5}");
        Path out = tmp.resolve("late-bad.npy");
        Run r = run("embed", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                out.toString());
        assertEquals(2, r.status(), r.err());
        assertTrue(Files.notExists(out), "output left");
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".partial")), "partial output left");
        }
    }

    @Test
    void tokenizeRefusesWhatEmbedRefuses() throws IOException {
        Path in = write("tok-bad.jsonl", "{\"text\": \"hello\", \"role\": \"document\"}",
                "{\"text\": \"x\", \"instruction\": \"<|user|>\\nlong instruction here\\n<|embed|>\\n\"}");
        Run r = run("tokenize", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                tmp.resolve("tok-bad-out.jsonl").toString(), "--max-length", "4");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("line 1") && r.err().contains("nothing left to pool"), r.err());
    }

    @Test
    void tokenizeWritesWhatTheEngineFeeds() throws IOException {
        Path in = write("tok.jsonl",
                "{\"text\": \"why is the sky blue?\", \"task\": \"biology\", \"role\": \"query\"}",
                "{\"text\": \"The quick brown fox jumps over the lazy dog.\"}",
                "{\"text\": \"The quick brown fox jumps over the lazy dog.\", \"instruction\": \"\"}");
        Path out = tmp.resolve("tok-out.jsonl");
        Run r = run("tokenize", "--model", modelWithTokenizer.toString(), "--input", in.toString(), "--output",
                out.toString());
        assertEquals(0, r.status(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(3, lines.size());
        // no role or instruction: the default prompt "<|embed|>\n" (27 91 12529 91 397), not pooled
        JsonNode second = new ObjectMapper().readTree(lines.get(1));
        assertEquals("[128000,27,91,12529,91,397,791,4062,14198,39935,35308,927,279,16053,5679,13]",
                second.get("ids").toString());
        assertEquals(6, second.get("pool_start").asInt());
        JsonNode raw = new ObjectMapper().readTree(lines.get(2));
        assertEquals("[128000,791,4062,14198,39935,35308,927,279,16053,5679,13]", raw.get("ids").toString());
        assertEquals(0, raw.get("pool_start").asInt());
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertTrue(first.get("pool_start").asInt() > 10 && first.get("pool_start").asInt() < first.get("ids").size());
    }

    /** An open failure reaches stderr as one clean line: no NUL padding or stray memory from the native buffer. */
    @Test
    void openErrorsOnStderrAreClean() throws IOException {
        Path in = write("one.jsonl", "{\"ids\": [1, 2]}");
        Path out = tmp.resolve("one.npy");
        Path noConfig = Files.createDirectories(tmp.resolve("empty-model"));
        Path badJson = Files.createDirectories(tmp.resolve("bad-json-model"));
        Files.writeString(badJson.resolve("config.json"), "{\"hidden_size\": 96,,");
        Object[][] cases = {
                {noConfig.toString(), "cpu", "config.json"},
                {badJson.toString(), "cpu", "config.json"},
                {generated.toString(), "tpu", "tpu"},
                {generated.toString(), "cuda:99", "cuda:99"},
        };
        for (Object[] c : cases) {
            Run r = run("embed", "--model", (String) c[0], "--input", in.toString(), "--output", out.toString(),
                    "--device", (String) c[1]);
            if (c[1].equals("cuda:99") && r.status() == 0) continue;  // cannot happen without 100 GPUs
            assertEquals(1, r.status(), r.err());
            assertTrue(r.err().contains((String) c[2]), r.err());
            assertTrue(r.err().length() < 1000, "stderr of " + r.err().length() + " chars");
            for (char ch : r.err().toCharArray()) {
                assertTrue(ch == '\n' || !Character.isISOControl(ch),
                        "control character " + (int) ch + " on stderr: " + r.err().replace("\0", "\\0"));
            }
        }
    }

    /** The device line: one line on stderr naming the device and precision, plus why when "auto" chose it. */
    @Test
    void embedPrintsTheDeviceOnce() throws IOException {
        Path in = write("dev.jsonl", "{\"ids\": [1, 2]}");
        Path out = tmp.resolve("dev.npy");
        Run cpu = run("embed", "--model", generated.toString(), "--input", in.toString(), "--output", out.toString(),
                "--device", "cpu", "--copy-weights");
        assertEquals(0, cpu.status(), cpu.err());
        List<String> lines = cpu.err().lines().filter(l -> l.startsWith("reasonir: device ")).toList();
        assertEquals(1, lines.size(), cpu.err());
        assertTrue(lines.get(0).startsWith("reasonir: device cpu") && lines.get(0).contains("fp32"), lines.get(0));
        Run auto = run("embed", "--model", generated.toString(), "--input", in.toString(), "--output", out.toString());
        assertEquals(0, auto.status(), auto.err());
        lines = auto.err().lines().filter(l -> l.startsWith("reasonir: device ")).toList();
        assertEquals(1, lines.size(), auto.err());
        try (ReasonIR m = ReasonIR.open(generated)) {
            if (!m.deviceNote().isEmpty()) {
                assertTrue(lines.get(0).contains("(auto: " + m.deviceNote() + ")"), lines.get(0));
            }
        }
    }

    @Test
    void badLinesNameTheLine() throws IOException {
        String model = modelWithTokenizer.toString();
        Path out = tmp.resolve("bad.npy");
        Object[][] cases = {
                {new String[] {"{\"text\": \"ok\"}", "{\"text\": \"broken\""}, "line 2", "not valid JSON"},
                {new String[] {"{\"text\": \"\"}"}, "line 1", "empty"},
                {new String[] {"{\"text\": \"a\", \"task\": \"chemistry\", \"role\": \"query\"}"}, "line 1", "chemistry"},
                {new String[] {"{\"ids\": [1, 2], \"pool_start\": 2}"}, "line 1", "nothing left to pool"},
                {new String[] {"{\"ids\": [1, 999999999]}"}, "line 1", "outside the vocabulary"},
                {new String[] {"{\"ids\": [1], \"text\": \"x\"}"}, "line 1", "not both"},
                {new String[] {"{\"text\": \"<|embed|>\", \"role\": \"document\"}", "{\"text\": \"\\n\", \"role\": \"document\"}"},
                        "line 2", "nothing left to pool"},
        };
        int k = 0;
        for (Object[] c : cases) {
            Path in = write("bad" + (k++) + ".jsonl", (String[]) c[0]);
            Run r = run("embed", "--model", model, "--input", in.toString(), "--output", out.toString());
            assertEquals(2, r.status(), r.err());
            assertTrue(r.err().contains((String) c[1]) && r.err().contains((String) c[2]),
                    "expected '" + c[1] + "' and '" + c[2] + "' in: " + r.err());
        }
        assertEquals(2, run("embed", "--model", model).status());
        assertEquals(2, run("frobnicate").status());
        assertEquals(2, run("embed", "--model", model, "--input", "x", "--output", "y", "--bogus", "1").status());
        Run badPrecision = run("embed", "--model", model, "--input", "x", "--output", "y", "--precision", "fp16");
        assertEquals(2, badPrecision.status());
        assertTrue(badPrecision.err().contains("fp16") || badPrecision.err().contains("FP16"), badPrecision.err());
    }
}
