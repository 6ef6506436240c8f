package dev.reasonir.spark;

import dev.reasonir.Options;
import dev.reasonir.retrieval.cli.EnvironmentDefaults;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The jobs' options: environment variables (flag &gt; environment &gt; default) and the engine's defaults. */
class JobOptionsTest {
    @Test
    void flagBeatsEnvironmentBeatsDefault() {
        Map<String, String> env = Map.of("REASONIR_MODEL", "/env/model", "REASONIR_DEVICE", "cuda",
                "REASONIR_MAX_LENGTH", "1024", "REASONIR_THREADS", "3");
        CommandLine cl = EmbedJob.commandLine(env::get);
        cl.parseArgs("--input", "in.jsonl", "--output", "out", "--device", "cpu");
        EmbedJob j = cl.getCommand();
        assertEquals("/env/model", j.model);
        assertEquals("cpu", j.engine.device);
        assertEquals(1024, j.engine.maxLength);
        assertEquals(3, j.engine.threads);
        assertEquals(Options.DEFAULT_BATCH_TOKENS, j.batchTokens);

        CommandLine s = SearchJob.commandLine(Map.of("REASONIR_TOP_K", "7", "REASONIR_MAX_LENGTH", "64")::get);
        s.parseArgs("--corpus", "c", "--queries", "q.jsonl", "--model", "m", "--task", "biology", "--out", "r.trec",
                "--max-length", "32");
        SearchJob sj = s.getCommand();
        assertEquals(7, sj.k);
        assertEquals(32, sj.engine.maxLength);
        assertEquals(Options.DEFAULT_DEVICE, sj.engine.device);
        assertEquals(Options.DEFAULT_THREADS, sj.engine.threads);
        s.parseArgs("--corpus", "c", "--queries", "q.jsonl", "--model", "m", "--task", "biology", "--out", "r.trec",
                "--threads", "2");
        assertEquals(2, sj.engine.threads);
    }

    @Test
    void helpSaysWhichColumnIsEmbeddedAndWhatThreadsDefaultTo() {
        String usage = EmbedJob.commandLine(Map.<String, String>of()::get).getUsageMessage(CommandLine.Help.Ansi.OFF)
                .replaceAll("\\s+", " ");
        assertTrue(usage.contains("The text is read from the column 'content' unless --column names another."),
                usage);
        assertTrue(usage.contains("--column=NAME the input's text column to embed (env: REASONIR_COLUMN; default:"
                + " content)"), usage);
        assertTrue(usage.contains("spark.task.cpus on a GPU"), usage);
    }

    @Test
    void invalidEnvironmentValueNamesTheVariable() {
        CommandLine cl = EmbedJob.commandLine(Map.of("REASONIR_BATCH_TOKENS", "lots")::get);
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err, true));
        assertEquals(2, cl.execute("--input", "i", "--output", "o", "--model", "m"));
        assertTrue(err.toString().contains("REASONIR_BATCH_TOKENS"), err.toString());
    }

    @Test
    void everyOptionHasAVariableInHelpAndEngineDefaults() {
        Map<String, String> defaults = Map.of("--device", Options.DEFAULT_DEVICE,
                "--threads", String.valueOf(Options.DEFAULT_THREADS),
                "--max-length", String.valueOf(Options.DEFAULT_MAX_LENGTH),
                "--batch-tokens", String.valueOf(Options.DEFAULT_BATCH_TOKENS),
                "--precision", Options.DEFAULT_PRECISION.name().toLowerCase(Locale.ROOT));
        for (CommandLine cl : List.of(EmbedJob.commandLine(Map.<String, String>of()::get),
                SearchJob.commandLine(Map.<String, String>of()::get))) {
            String usage = cl.getUsageMessage(CommandLine.Help.Ansi.OFF);
            for (OptionSpec o : cl.getCommandSpec().options()) {
                if (!EnvironmentDefaults.covers(o)) {
                    assertTrue(List.of("--help", "--task", "--instruction").contains(o.longestName())
                            && (o.usageHelp() || o.group() != null), o.longestName());
                    continue;
                }
                String var = EnvironmentDefaults.variable(o);
                assertTrue(Pattern.compile(Pattern.quote(var) + "[;)]").matcher(usage).find(), var + "\n" + usage);
                String d = defaults.get(o.longestName());
                if (d != null) {
                    assertEquals(d, o.defaultValueString(), o.longestName());
                    assertTrue(usage.replaceAll("\\s+", " ").contains("default: " + d + ")"), usage);
                }
            }
        }
    }
}
