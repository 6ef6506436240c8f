package dev.reasonir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Helpers for the CLI's device-pool tests on the CUDA emulator (cli/pom.xml, executions {@code emulated-gpu-*}):
 * the command line run in process, a small corpus, index comparison, the engine's log lines, and a main that runs
 * the CLI in a child JVM over the emulated engine. In package dev.reasonir for {@link EmulatedGpu} and
 * {@link Fixtures} (core's test-jar).
 */
final class EmulatedCli {
    /** Subject of the random corpus: words the Llama-3.1 tokenizer keeps mostly whole (a few tokens a document). */
    private static final String[] WORDS = ("the cell membrane protein enzyme river sediment market price memory "
            + "robot sensor graph theorem prime integral energy water carbon climate neuron gene signal").split(" ");

    private EmulatedCli() {}

    /**
     * {@code ./reasonir} over the emulated engine, for a child JVM: the emulator must be loaded before anything
     * loads the native library, so this runs first and then hands over to the CLI's own main.
     */
    public static void main(String[] args) {
        if (!EmulatedGpu.loadIfRequested()) {
            throw new IllegalStateException("-Dreasonir.emulatedLibrary and -Dreasonir.jniLibrary are required");
        }
        if (args.length >= 2 && args[0].equals("--main")) {  // another program over the emulator, e.g. GpuSmoke
            try {
                Class.forName(args[1]).getMethod("main", String[].class)
                        .invoke(null, (Object) java.util.Arrays.copyOfRange(args, 2, args.length));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            return;
        }
        dev.reasonir.cli.Main.main(args);
    }

    private static final Pattern SERVING = Pattern.compile("serving .* on http://127\\.0\\.0\\.1:(\\d+) ");

    /** {@code ./reasonir serve} in a child JVM over the emulated engine (which inherits this JVM's EMU_* variables). */
    record Served(Process process, URI base, String log) implements AutoCloseable {
        /** SIGTERM (the shutdown hook closes the server, then the model), then a kill if it does not end in 60 s. */
        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) process.destroyForcibly();
        }
    }

    /** Starts {@code serve --model MODEL --port 0 ARGS...} and waits for its "serving" line. */
    static Served serve(Path model, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-cp", System.getProperty("java.class.path"),
                "-Dai.djl.offline=true",
                "-Dreasonir.emulatedLibrary=" + System.getProperty("reasonir.emulatedLibrary"),
                "-Dreasonir.jniLibrary=" + System.getProperty("reasonir.jniLibrary"),
                EmulatedCli.class.getName(), "serve", "--model", model.toString(), "--port", "0"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder log = new StringBuilder();
        for (String line; (line = out.readLine()) != null; ) {
            log.append(line).append('\n');
            Matcher m = SERVING.matcher(line);
            if (m.find()) return new Served(p, URI.create("http://127.0.0.1:" + m.group(1)), log.toString());
        }
        p.destroyForcibly();
        throw new AssertionError("no 'serving' line: " + log);
    }

    record Run(int status, String out, String err) {}

    /** A command line in this JVM (dev.reasonir.cli.Main.run), its output and messages captured. */
    static Run run(String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int st = dev.reasonir.cli.Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(st, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * The h256_l4 checkpoint (4 layers; the tokenizer's vocabulary, so text input works) with the tokenizer: a folder
     * of links made once in target/ (links in a JUnit temp folder make JUnit warn about each one when it deletes it).
     */
    static synchronized Path model() throws IOException {
        Path dir = Path.of("target", "test-models", "h256_l4-emulated").toAbsolutePath();
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) return dir;
        if (Files.isDirectory(dir)) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.delete(f);
            }
        }
        return Fixtures.withTokenizer("h256_l4", dir);
    }

    /**
     * {@code docs} short documents {"id", "content"} of 3 to 10 words, always the same: few tokens each (the
     * emulator runs a batch of a few dozen tokens in about a second).
     */
    static Path corpus(Path file, int docs) throws IOException {
        Random r = new Random(20);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < docs; i++) {
            StringBuilder b = new StringBuilder();
            int words = 3 + r.nextInt(8);
            for (int w = 0; w < words; w++) b.append(w == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
            lines.add("{\"id\": \"d" + i + "\", \"content\": \"" + b + ".\"}");
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
        return file;
    }

    /** The two index folders hold the same vectors and ids, byte for byte (the manifests differ in their time). */
    static void assertSameIndex(Path expected, Path actual) throws IOException {
        for (String file : List.of("embeddings.npy", "ids.jsonl")) {
            assertEquals(-1L, Files.mismatch(expected.resolve(file), actual.resolve(file)),
                    file + " of " + actual + " differs from " + expected);
        }
    }

    /**
     * Collects the engine's log lines (logger dev.reasonir.ReasonIR, which the device pool also uses) while open. The
     * logger is held here: java.util.logging keeps only weak references to loggers.
     */
    static final class EngineLog extends Handler implements AutoCloseable {
        private final Logger logger = Logger.getLogger(ReasonIR.class.getName());
        private final List<String> lines = new ArrayList<>();

        EngineLog() {
            logger.addHandler(this);
        }

        @Override
        public synchronized void publish(LogRecord r) {
            String msg = r.getMessage();
            Object[] params = r.getParameters();
            if (params != null && params.length > 0) msg = java.text.MessageFormat.format(msg, params);
            lines.add(r.getLevel() + " " + msg);
        }

        synchronized List<String> lines() {
            return List.copyOf(lines);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {
            logger.removeHandler(this);
        }
    }
}
