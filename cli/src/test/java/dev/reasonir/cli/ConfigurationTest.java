package dev.reasonir.cli;

import dev.reasonir.Options;
import dev.reasonir.retrieval.cli.EnvironmentDefaults;
import dev.reasonir.server.ServerConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One configuration surface: defaults from {@link Options} and {@link ServerConfig}, an environment variable for every
 * option, flag &gt; environment &gt; default.
 */
class ConfigurationTest {
    private static final PrintStream SINK = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    private static CommandLine cli(Map<String, String> env) {
        return Main.commandLine(SINK, SINK, env::get);
    }

    @SuppressWarnings("unchecked")
    private static <T> T parse(Map<String, String> env, String... args) {
        CommandLine.ParseResult r = cli(env).parseArgs(args);
        return (T) r.subcommand().commandSpec().userObject();
    }

    @Test
    void embedFlagBeatsEnvironmentBeatsDefault() {
        Map<String, String> env = Map.of("REASONIR_MODEL", "/env/model", "REASONIR_DEVICE", "cuda:1",
                "REASONIR_MAX_LENGTH", "1024", "REASONIR_BATCH_TOKENS", "100", "REASONIR_OVERFLOW", "fail");
        EmbedCommands.Embed e = parse(env, "embed", "--input", "in.jsonl", "--output", "out.npy", "--device", "cpu",
                "--batch-tokens", "200");
        Options o = e.engine.options(e.batch);
        assertEquals(Path.of("/env/model"), e.engine.model());      // environment (a required option)
        assertEquals("cpu", o.device());                             // flag over environment
        assertEquals(200, o.batchTokens());                          // flag over environment
        assertEquals(1024, o.maxLength());                           // environment over default
        assertEquals(EngineOptions.Overflow.fail, e.overflow.value); // environment over default
        assertEquals(Options.DEFAULT_THREADS, o.threads());          // default
        assertEquals(Options.DEFAULT_PRECISION, o.precision());

        // Nothing set: exactly the engine's defaults.
        EmbedCommands.Embed d = parse(Map.of(), "embed", "--input", "i", "--output", "o", "--model", "m");
        assertEquals(Options.defaults(), d.engine.options(d.batch));
        assertEquals(EngineOptions.Overflow.of(Options.DEFAULT_OVERFLOW), d.overflow.value);
    }

    @Test
    void serveFlagBeatsEnvironmentBeatsDefault() {
        Map<String, String> env = Map.of("REASONIR_PORT", "9000", "REASONIR_HOST", "0.0.0.0",
                "REASONIR_MAX_BATCH_TOKENS", "4096", "REASONIR_MAX_LENGTH", "2048", "REASONIR_OVERFLOW", "fail");
        ServeCommand s = parse(env, "serve", "--model", "m", "--port", "1234", "--max-length", "300");
        ServerConfig c = s.server.config(s.overflow.value == EngineOptions.Overflow.truncate);
        assertEquals(1234, c.port());                                 // flag over environment
        assertEquals("0.0.0.0", c.host());                           // environment over default
        assertEquals(4096, c.maxBatchTokens());                       // environment over default
        assertEquals(false, c.autoTruncate());                        // environment over default
        assertEquals(ServerConfig.DEFAULT_PAYLOAD_LIMIT_BYTES, c.payloadLimitBytes());  // default
        assertEquals(300, s.engine.options(Options.DEFAULT_MAX_LENGTH, c.maxBatchTokens()).maxLength());

        // Nothing set: exactly the server's and the engine's defaults.
        ServeCommand d = parse(Map.of(), "serve", "--model", "m");
        assertEquals(ServerConfig.defaults(), d.server.config(d.overflow.value == EngineOptions.Overflow.truncate));
        assertEquals(Options.defaults(), d.engine.options(Options.DEFAULT_MAX_LENGTH, Options.DEFAULT_BATCH_TOKENS));
    }

    /**
     * The API key comes from REASONIR_API_KEY, --api-key or --api-key-file (one of them), is checked as the server
     * checks it, and never shows in help, even when the variable holds it.
     */
    @Test
    void serveApiKeyFromTheEnvironmentOrAFileAndNeverInHelp(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        ServeCommand env = parse(Map.of("REASONIR_API_KEY", "sk-from-env"), "serve", "--model", "m");
        assertEquals("sk-from-env", env.server.config(true).apiKey());
        ServeCommand flag = parse(Map.of("REASONIR_API_KEY", "sk-from-env"), "serve", "--model", "m", "--api-key",
                "sk-flag");
        assertEquals("sk-flag", flag.server.config(true).apiKey());  // flag over environment

        Path file = java.nio.file.Files.writeString(tmp.resolve("key"), "sk-from-file\n");  // as `echo` writes it
        ServeCommand fromFile = parse(Map.of(), "serve", "--model", "m", "--api-key-file", file.toString());
        assertEquals("sk-from-file", fromFile.server.config(true).apiKey());
        ServeCommand fileEnv = parse(Map.of("REASONIR_API_KEY_FILE", file.toString()), "serve", "--model", "m");
        assertEquals("sk-from-file", fileEnv.server.config(true).apiKey());

        ServeCommand both = parse(Map.of("REASONIR_API_KEY", "sk-from-env"), "serve", "--model", "m",
                "--api-key-file", file.toString());
        CliException e = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> both.server.config(true));
        assertTrue(e.getMessage().contains("--api-key") && e.getMessage().contains("--api-key-file"), e.getMessage());
        Path empty = java.nio.file.Files.writeString(tmp.resolve("empty"), "\n");
        e = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> serveConfig("--api-key-file", empty.toString()));
        assertTrue(e.getMessage().contains("is empty"), e.getMessage());
        e = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> serveConfig("--api-key-file", tmp.resolve("none").toString()));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
        e = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> serveConfig("--api-key", "two words"));
        assertTrue(e.getMessage().startsWith("the API key may hold printable ASCII"), e.getMessage());
        assertTrue(!e.getMessage().contains("two words"), e.getMessage());

        String help = cli(Map.of("REASONIR_API_KEY", "sk-from-env")).getSubcommands().get("serve")
                .getUsageMessage(CommandLine.Help.Ansi.OFF);
        assertTrue(help.contains("REASONIR_API_KEY") && !help.contains("sk-from-env"), help);
    }

    /** The server config of {@code serve --model m ARGS} with no environment. */
    private static ServerConfig serveConfig(String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "serve";
        all[1] = "--model";
        all[2] = "m";
        System.arraycopy(args, 0, all, 3, args.length);
        ServeCommand s = parse(Map.of(), all);
        return s.server.config(true);
    }

    /** The shutdown and connection options reach the server's config; a grace longer than the timeout is refused. */
    @Test
    void serveShutdownAndConnectionOptions() {
        ServeCommand s = parse(Map.of("REASONIR_DRAIN_GRACE", "5", "REASONIR_MAX_CONNECTIONS", "64"), "serve",
                "--model", "m", "--shutdown-timeout", "20", "--request-read-timeout", "0");
        ServerConfig c = s.server.config(true);
        assertEquals(java.time.Duration.ofSeconds(5), c.drainGrace());
        assertEquals(java.time.Duration.ofSeconds(20), c.shutdownTimeout());
        assertEquals(java.time.Duration.ZERO, c.requestReadTimeout());
        assertEquals(64, c.maxConnections());
        ServeCommand bad = parse(Map.of(), "serve", "--model", "m", "--drain-grace", "40");
        CliException e = org.junit.jupiter.api.Assertions.assertThrows(CliException.class,
                () -> bad.server.config(true));
        assertTrue(e.getMessage().startsWith("--drain-grace (40 s) must not exceed --shutdown-timeout (30 s)"),
                e.getMessage());
    }

    @Test
    void evalKeepsItsOwnMaxLengthDefaultUnderTheEnvironment() {
        RetrievalCommands.EvalCmd e = parse(Map.of(), "eval", "--model", "m", "--bright", "b");
        assertEquals(RetrievalCommands.EVAL_MAX_LENGTH,
                e.engine.options(RetrievalCommands.EVAL_MAX_LENGTH, e.batch.value).maxLength());
        RetrievalCommands.EvalCmd env = parse(Map.of("REASONIR_MAX_LENGTH", "4096"), "eval", "--model", "m",
                "--bright", "b");
        assertEquals(4096, env.engine.options(RetrievalCommands.EVAL_MAX_LENGTH, env.batch.value).maxLength());
    }

    @Test
    void invalidEnvironmentValueIsAUsageErrorNamingTheVariable() {
        for (Map<String, String> env : List.of(Map.of("REASONIR_PORT", "eighty"),
                Map.of("REASONIR_OVERFLOW", "sometimes"), Map.of("REASONIR_COPY_WEIGHTS", "yes"))) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int st = Main.run(new String[] {"serve", "--model", "m"}, SINK,
                    new PrintStream(err, true, StandardCharsets.UTF_8), env::get);
            String msg = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, st, msg);
            assertTrue(msg.contains(env.keySet().iterator().next()), msg);
            assertTrue(!msg.contains("Exception") && !msg.contains("\tat "), msg);
        }
    }

    /** Every option of every command has its variable, and help shows it. */
    @Test
    void everyOptionHasAnEnvironmentVariableInHelp() {
        List<String> uncovered = new ArrayList<>();
        for (CommandLine c : tree(cli(Map.of()))) {
            String usage = c.getUsageMessage(CommandLine.Help.Ansi.OFF);
            for (OptionSpec o : c.getCommandSpec().options()) {
                if (!EnvironmentDefaults.covers(o)) {
                    uncovered.add(o.longestName());
                    continue;
                }
                String var = EnvironmentDefaults.variable(o);
                assertEquals("REASONIR_" + o.longestName().substring(2).toUpperCase(Locale.ROOT).replace('-', '_'),
                        var);
                assertTrue(Pattern.compile(Pattern.quote(var) + "[;)]").matcher(usage).find(),
                        c.getCommandName() + " " + o.longestName() + ": no " + var + " in\n" + usage);
            }
        }
        // Only the standard help options and search's exclusive --task/--instruction group have none.
        assertEquals(new TreeSet<>(List.of("--help", "--version", "--task", "--instruction")),
                new TreeSet<>(uncovered));
    }

    /** The defaults the commands use and show are the constants of Options and ServerConfig, not retyped numbers. */
    @Test
    void shownDefaultsAreTheLibraryConstants() {
        Map<String, String> engine = Map.of(
                "--device", Options.DEFAULT_DEVICE,
                "--threads", String.valueOf(Options.DEFAULT_THREADS),
                "--batch-tokens", String.valueOf(Options.DEFAULT_BATCH_TOKENS),
                "--precision", Options.DEFAULT_PRECISION.name().toLowerCase(Locale.ROOT),
                "--overflow", Options.DEFAULT_OVERFLOW.name().toLowerCase(Locale.ROOT),
                "--copy-weights", String.valueOf(Options.DEFAULT_COPY_WEIGHTS));
        Map<String, String> server = Map.ofEntries(
                Map.entry("--host", ServerConfig.DEFAULT_HOST),
                Map.entry("--port", String.valueOf(ServerConfig.DEFAULT_PORT)),
                Map.entry("--default-prompt-name", ServerConfig.DOCUMENT_PROMPT),
                Map.entry("--max-concurrent-requests", String.valueOf(ServerConfig.DEFAULT_MAX_CONCURRENT_REQUESTS)),
                Map.entry("--max-client-batch-size", String.valueOf(ServerConfig.DEFAULT_MAX_CLIENT_BATCH_SIZE)),
                Map.entry("--max-batch-tokens", String.valueOf(ServerConfig.DEFAULT_MAX_BATCH_TOKENS)),
                Map.entry("--payload-limit", String.valueOf(ServerConfig.DEFAULT_PAYLOAD_LIMIT_BYTES)),
                Map.entry("--queue-timeout", String.valueOf(ServerConfig.DEFAULT_QUEUE_TIMEOUT.toSeconds())),
                Map.entry("--request-read-timeout",
                        String.valueOf(ServerConfig.DEFAULT_REQUEST_READ_TIMEOUT.toSeconds())),
                Map.entry("--max-connections", String.valueOf(ServerConfig.DEFAULT_MAX_CONNECTIONS)),
                Map.entry("--drain-grace", String.valueOf(ServerConfig.DEFAULT_DRAIN_GRACE.toSeconds())),
                Map.entry("--shutdown-timeout", String.valueOf(ServerConfig.DEFAULT_SHUTDOWN_TIMEOUT.toSeconds())));
        int checked = 0;
        for (CommandLine c : tree(cli(Map.of()))) {
            String usage = c.getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
            for (OptionSpec o : c.getCommandSpec().options()) {
                String expected = engine.containsKey(o.longestName()) ? engine.get(o.longestName())
                        : c.getCommandName().equals("serve") ? server.get(o.longestName()) : null;
                if (o.longestName().equals("--max-length")) {
                    assertTrue(usage.contains("default: " + Options.DEFAULT_MAX_LENGTH + ";"), usage);
                    checked++;
                }
                if (expected == null) continue;
                assertEquals(expected, o.defaultValueString(), c.getCommandName() + " " + o.longestName());
                if (!o.longestName().equals("--copy-weights")) {
                    assertTrue(usage.contains("default: " + expected + ")"),
                            c.getCommandName() + " " + o.longestName() + ": " + usage);
                }
                checked++;
            }
        }
        assertTrue(checked > 20, "checked " + checked);
    }

    static List<CommandLine> tree(CommandLine root) {
        List<CommandLine> all = new ArrayList<>();
        all.add(root);
        for (CommandLine sub : root.getSubcommands().values()) all.addAll(tree(sub));
        return all;
    }
}
