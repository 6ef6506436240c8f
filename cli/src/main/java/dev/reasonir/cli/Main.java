package dev.reasonir.cli;

import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import dev.reasonir.retrieval.BrightFormatException;
import dev.reasonir.retrieval.RetrievalException;
import dev.reasonir.retrieval.cli.EnvironmentDefaults;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * The {@code ./reasonir} command line (picocli): embed, tokenize, index, search, eval, serve, demo.
 * {@code reasonir --help} and {@code reasonir COMMAND --help} list the options. Exit status: 0 ok, 1 engine or index
 * error, 2 usage or input error.
 */
@Command(name = "reasonir", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "ReasonIR-8B embeddings, retrieval and BRIGHT evaluation with a native engine.",
        subcommands = {EmbedCommands.Embed.class, EmbedCommands.Tokenize.class, RetrievalCommands.IndexCmd.class,
                RetrievalCommands.SearchCmd.class, RetrievalCommands.EvalCmd.class, ServeCommand.class, Demo.class},
        usageHelpAutoWidth = true)
public final class Main implements Callable<Integer> {
    /** Held so that the levels set in main() are not lost when java.util.logging drops an unreferenced logger. */
    private static java.util.logging.Logger engineLog;
    private static java.util.logging.Logger djlLog;
    private static java.util.logging.Logger serverLog;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // The CLI prints the device (and why "auto" chose it) and truncations itself, in its own terms: keep the
        // library's log lines of the same facts out of stderr. Warnings of other kinds still show.
        engineLog = java.util.logging.Logger.getLogger(ReasonIR.class.getName());
        engineLog.setLevel(java.util.logging.Level.WARNING);
        // DJL is used only for tokenization here, but probes for a CUDA runtime and platform on first use and logs
        // what it finds ("Failed to detect GPU count", "Found matching platform"): noise for a CLI user. Its errors
        // still surface as exceptions.
        djlLog = java.util.logging.Logger.getLogger("ai.djl");
        djlLog.setLevel(java.util.logging.Level.SEVERE);
        // `serve` prints its own "serving ..." line; the server's INFO lines would repeat it.
        serverLog = java.util.logging.Logger.getLogger("dev.reasonir.server");
        serverLog.setLevel(java.util.logging.Level.WARNING);
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command line; returns the exit status. Output and messages go to {@code out} and {@code err}. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, System::getenv);
    }

    /** {@link #run(String[], PrintStream, PrintStream)} with the environment variables read by {@code env}. */
    static int run(String[] args, PrintStream out, PrintStream err, Function<String, String> env) {
        Streams.set(out, err);
        return commandLine(out, err, env).execute(args);
    }

    /**
     * The command line: every option of every command reads {@code REASONIR_<OPTION>} from {@code env} when the flag
     * is not given ({@link EnvironmentDefaults}); usage errors exit 2, failures print one line.
     */
    static CommandLine commandLine(PrintStream out, PrintStream err, Function<String, String> env) {
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setParameterExceptionHandler((e, a) -> {
            // A misspelt option also leaves a required one missing; name the misspelling, which is the cause.
            List<String> unmatched = e.getCommandLine().getUnmatchedArguments();
            if (!(e instanceof CommandLine.UnmatchedArgumentException) && !unmatched.isEmpty()) {
                e = new CommandLine.UnmatchedArgumentException(e.getCommandLine(), unmatched);
            }
            String hint = "";
            if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
                hint = " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
            }
            err.println("reasonir: " + e.getMessage() + hint);
            CommandLine sub = e.getCommandLine();
            err.println("try 'reasonir " + (sub.getParent() == null ? "" : sub.getCommandName() + " ") + "--help'");
            return 2;
        });
        cl.setExecutionExceptionHandler((e, c, p) -> {
            err.println("reasonir: " + message(e));
            return status(e);
        });
        return EnvironmentDefaults.install(cl, env);
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;  // no command given
    }

    /** What the user reads for a failure: in the CLI's terms, one line, naming the file or input. */
    static String message(Throwable e) {
        if (e instanceof UncheckedIOException u) e = u.getCause();
        if (e instanceof ReasonIRException r) return r.kind() + ": " + r.getMessage();
        if (e instanceof NoSuchFileException f) return "no such file: " + f.getFile();
        if (e instanceof AccessDeniedException f) return "permission denied: " + f.getFile();
        if (e instanceof FileSystemException f) {
            return "cannot write or read " + f.getFile() + (f.getReason() == null ? "" : ": " + f.getReason());
        }
        if (e instanceof IOException) return "I/O error: " + e.getMessage();
        if (e instanceof CliException || e instanceof RetrievalException || e instanceof BrightFormatException) {
            return e.getMessage();
        }
        return "internal error: " + e;  // a bug: say so, with what we know
    }

    /** 2 for usage and input errors, 1 for engine, index and I/O failures. */
    static int status(Throwable e) {
        if (e instanceof UncheckedIOException u) e = u.getCause();
        if (e instanceof CliException || e instanceof BrightFormatException || e instanceof NoSuchFileException) {
            return 2;
        }
        if (e instanceof RetrievalException r) return r.kind() == RetrievalException.Kind.INPUT ? 2 : 1;
        return 1;
    }

    /**
     * One line on stderr saying where the model runs, e.g. "reasonir: device cuda:0 (NVIDIA H100 80GB HBM3), bf16,
     * max length 512", plus why when the device was "auto" (e.g. why the GPU was not used): quiet as the CLI is
     * otherwise, whether a run uses the GPU must be visible.
     */
    static void printDevice(ReasonIR m, PrintStream err) {
        String note = m.deviceNote();
        err.println("reasonir: device " + m.device() + ", " + m.precision().name().toLowerCase(Locale.ROOT)
                + ", max length " + m.maxLength()
                + (note.isEmpty() ? "" : " (" + m.options().device() + ": " + note + ")"));
    }

    /**
     * What the engine is fed for one input line; with {@code --overflow fail} an input longer than the max length is
     * refused here, in the CLI's words (the engine itself always truncates).
     */
    static TokenizedInput prepare(ReasonIR m, InputLine in, String where, EngineOptions.Overflow overflow) {
        TokenizedInput t;
        if (in.pretokenized()) {
            t = TokenizedInput.of(in.ids(), in.poolStart());
        } else {
            if (in.text().isEmpty()) throw new CliException(where + ": \"text\" is empty");
            t = m.tokenize(in.instruction(), in.text());
        }
        int length = Math.max(t.originalLength(), t.length());
        if (overflow == EngineOptions.Overflow.fail && length > m.maxLength()) {
            throw new CliException(where + ": has " + length + " tokens, more than --max-length " + m.maxLength()
                    + " (--overflow fail)");
        }
        if (m != null && t.poolStart() >= Math.min(t.length(), m.maxLength())) {
            throw new CliException(where + ": nothing left to pool: the instruction covers " + t.poolStart()
                    + " of the " + Math.min(t.length(), m.maxLength()) + " tokens (--max-length " + m.maxLength()
                    + ")");
        }
        return t;
    }

    /** Maps an engine error about one input of a call to the file line it came from. */
    static RuntimeException atLine(ReasonIRException e, java.util.List<Long> lineNumbers, java.nio.file.Path input) {
        if (e.inputIndex() < 0) return e;
        String where = input + " line " + lineNumbers.get(e.inputIndex()) + ": "
                + e.getMessage().replaceFirst("^input \\d+:? ?", "");
        if (e instanceof InvalidInputException) return new CliException(where);
        return new ReasonIRException(e.kind(), where, e);
    }

    /** {@code --version}: this build's version and the native engine's. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
            }
            String engine;
            try {
                engine = ReasonIR.nativeVersion();
            } catch (RuntimeException | LinkageError e) {
                engine = "not loadable here (" + e.getMessage() + ")";
            }
            return new String[] {"reasonir " + p.getProperty("version", "unknown"), "native engine " + engine};
        }
    }
}
