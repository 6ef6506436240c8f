package dev.reasonir.cli;

import dev.reasonir.NpyWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a new user tripped over, each fixed: help, version, typos, messages in the CLI's terms, strict input lines. */
class CliUsabilityTest {
    @TempDir
    static Path tmp;
    static String model;

    @BeforeAll
    static void setUp() throws IOException {
        model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model")).toString();
    }

    static CliTest.Run run(String... args) {
        return CliTest.run(args);
    }

    static Path write(String name, byte[] content) throws IOException {
        return Files.write(tmp.resolve(name), content);
    }

    static Path lines(String name, String... lines) throws IOException {
        return Files.write(tmp.resolve(name), List.of(lines), StandardCharsets.UTF_8);
    }

    @Test
    void helpAndVersionEverywhere() {
        for (String cmd : List.of("embed", "tokenize", "index", "search", "eval", "demo")) {
            CliTest.Run r = run(cmd, "--help");
            assertEquals(0, r.status(), cmd + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: reasonir " + cmd), r.out());
            assertTrue(r.err().isEmpty(), r.err());
        }
        CliTest.Run v = run("--version");
        assertEquals(0, v.status());
        assertTrue(v.out().matches("(?s)reasonir \\d+\\.\\d+\\.\\d+.*\nnative engine .*"), v.out());
        CliTest.Run none = run();
        assertEquals(2, none.status());
        assertTrue(none.err().contains("Usage: reasonir"), none.err());
    }

    @Test
    void typosAndBadValuesAreNamedInTheCliTerms() throws IOException {
        Path in = lines("ok.jsonl", "{\"text\": \"hello\"}");
        CliTest.Run typo = run("embed", "--model", model, "--input", in.toString(), "--ouput", "x.npy");
        assertEquals(2, typo.status());
        assertTrue(typo.err().contains("'--ouput'") && typo.err().contains("did you mean --output?"), typo.err());
        assertTrue(typo.err().contains("try 'reasonir embed --help'"), typo.err());

        CliTest.Run prec = run("embed", "--model", model, "--input", in.toString(), "--output", "x.npy",
                "--precision", "fp16");
        assertEquals(2, prec.status());
        assertTrue(prec.err().contains("fp16") && prec.err().contains("BF16"), prec.err());
        assertFalse(prec.err().contains("No enum constant"), prec.err());

        CliTest.Run twice = run("embed", "--model", model, "--input", in.toString(), "--output", "x.npy",
                "--output", "y.npy");
        assertEquals(2, twice.status());
        assertTrue(twice.err().contains("--output") && twice.err().contains("should be specified only once"),
                twice.err());

        // an instruction that fills the max length: said in flags, not in API names
        Path longInstr = lines("long-instr.jsonl",
                "{\"text\": \"hello\", \"role\": \"query\", \"task\": \"biology\"}");
        CliTest.Run pool = run("embed", "--model", model, "--input", longInstr.toString(), "--output",
                tmp.resolve("p.npy").toString(), "--max-length", "8");
        assertEquals(2, pool.status(), pool.err());
        assertTrue(pool.err().contains("line 1: nothing left to pool") && pool.err().contains("(--max-length 8)")
                && !pool.err().contains("maxLength"), pool.err());

        // options a command would ignore are refused
        for (String[] ignored : new String[][] {{"serve", "--batch-tokens", "5"}, {"index", "--overflow", "fail"},
                {"search", "--overflow", "fail"}}) {
            CliTest.Run r = run(ignored[0], "--model", model, ignored[1], ignored[2]);
            assertEquals(2, r.status(), String.join(" ", ignored));
            assertTrue(r.err().contains("'" + ignored[1] + "'"), r.err());
        }

        CliTest.Run missing = run("embed", "--model", model, "--input", tmp.resolve("nofile.jsonl").toString(),
                "--output", tmp.resolve("x.npy").toString());
        assertEquals(2, missing.status());
        assertTrue(missing.err().contains("input file " + tmp.resolve("nofile.jsonl") + " does not exist"),
                missing.err());
    }

    @Test
    void failedRunsLeaveNoFiles() throws IOException {
        Path in = lines("one.jsonl", "{\"text\": \"hello\"}");
        Path folder = Files.createDirectories(tmp.resolve("out-is-a-folder"));
        CliTest.Run r = run("embed", "--model", model, "--input", in.toString(), "--output", folder.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("is a folder"), r.err());

        Path bad = lines("tok-late-bad.jsonl", "{\"text\": \"fine\"}", "{\"text\": \"\"}");
        Path out = tmp.resolve("tok-out.jsonl");
        r = run("tokenize", "--model", model, "--input", bad.toString(), "--output", out.toString());
        assertEquals(2, r.status());
        assertFalse(Files.exists(out));
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".partial")), "a partial file left");
        }
    }

    @Test
    void twoRunsWritingOneOutputUseTheirOwnTemporaryFiles() throws IOException {
        Path target = tmp.resolve("shared.npy");
        try (EmbedCommands.Output a = new EmbedCommands.Output(target);
             EmbedCommands.Output b = new EmbedCommands.Output(target)) {
            assertNotEquals(a.temp(), b.temp());
            try (NpyWriter w = new NpyWriter(a.temp(), 2)) {
                w.append(new float[] {1, 2});
            }
            try (NpyWriter w = new NpyWriter(b.temp(), 2)) {
                w.append(new float[] {3, 4});
                w.append(new float[] {5, 6});
            }
            b.commit();
            assertEquals(2, NpyWriter.read(target).length);  // b's file, whole
            a.commit();
            assertEquals(1, NpyWriter.read(target).length);  // then a's, whole: never a mix
        }
    }

    @Test
    void inputLinesAreReadStrictly() throws IOException {
        Object[][] cases = {
                {"{\"text\": \"a\"} {\"text\": \"b\"}", "line 1", "not valid JSON"},
                {"{\"text\": \"a\"} trailing", "line 1", "not valid JSON"},
                {"{\"text\": \"a\", \"instuction\": \"x\"}", "line 1", "unknown key \"instuction\""},
                {"{\"text\": \"a\", \"text\": \"b\"}", "line 1", "Duplicate field 'text'"},
                {"{\"text\": \"a\", \"instruction\": \"x\", \"role\": \"document\"}", "line 1", "not both"},
                {"{\"text\": \"a\", \"task\": \"biology\"}", "line 1", "\"task\" needs \"role\": \"query\""},
                {"{\"text\": \"a\", \"task\": \"biology\", \"role\": \"document\"}", "line 1", "takes no \"task\""},
                {"{\"text\": \"a\", \"pool_start\": 1}", "line 1", "\"pool_start\" goes with \"ids\""},
        };
        int k = 0;
        for (Object[] c : cases) {
            Path in = lines("strict" + (k++) + ".jsonl", "{\"text\": \"fine\"}", (String) c[0]);
            CliTest.Run r = run("embed", "--model", model, "--input", in.toString(), "--output",
                    tmp.resolve("strict.npy").toString());
            assertEquals(2, r.status(), c[0] + ": " + r.err());
            assertTrue(r.err().contains("line 2") && r.err().contains((String) c[2]), c[0] + ": " + r.err());
        }
        // invalid UTF-8 on line 2: named, exit 2
        byte[] bytes = "{\"text\": \"ok\"}\n{\"text\": \"\u00e9\"}\n".getBytes(StandardCharsets.UTF_8);
        bytes[bytes.length - 4] = (byte) 0xff;
        CliTest.Run r = run("embed", "--model", model, "--input", write("bad-utf8.jsonl", bytes).toString(),
                "--output", tmp.resolve("u.npy").toString());
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("line 2: not valid UTF-8"), r.err());
        // a byte-order mark is skipped
        byte[] bom = ("\uFEFF{\"text\": \"hello\"}\n").getBytes(StandardCharsets.UTF_8);
        Path out = tmp.resolve("bom.npy");
        r = run("embed", "--model", model, "--input", write("bom.jsonl", bom).toString(), "--output", out.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(1, NpyWriter.read(out).length);
    }
}
