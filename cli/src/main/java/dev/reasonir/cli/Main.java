package dev.reasonir.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.InvalidInputException;
import dev.reasonir.NpyWriter;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import dev.reasonir.retrieval.BrightFormatException;
import dev.reasonir.retrieval.RetrievalException;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The {@code ./reasonir} command line: embed, tokenize, index, search, eval, demo. Run without arguments for usage. */
public final class Main {
    /** Input lines embedded per engine call: bounds memory for arbitrarily long files, and is the step of the progress display. */
    private static final int CHUNK_LINES = 1024;

    static final String USAGE = """
            usage:
              reasonir embed    --model DIR --input FILE.jsonl --output FILE.npy [options]
              reasonir tokenize --model DIR --input FILE.jsonl --output FILE.jsonl [--max-length N]
              reasonir index    --model DIR --corpus DOCS.jsonl --out INDEX_DIR [index options] [options]
              reasonir search   --model DIR --index INDEX_DIR --queries Q.jsonl --out RUN.trec
                                (--task NAME | --instruction TEXT) [--top-k 100] [--jsonl FILE] [options]
              reasonir eval     --model DIR --bright BRIGHT_DIR [--task all|NAME,...] [--queries original|FIELD]
                                [--long-documents] [--cache DIR] [--out DIR] [--dtype f16|f32] [options]
              reasonir demo     [--model DIR] [options]
            input lines (JSON):
              {"text": "...", "instruction": "..."}            instruction optional ("" pools every token)
              {"text": "...", "task": "biology", "role": "query"|"document"}   BRIGHT prompts
              {"ids": [128000, ...], "pool_start": k}           pre-tokenized (no tokenizer needed)
            index (corpus lines {"id": "...", "content": "..."}; rerun the same command to resume after a crash):
              --instruction TEXT              document prefix (default "<|embed|>\\n")
              --dtype f16|f32                 stored vectors (default f16)
              --on-empty skip|fail            empty documents are skipped and listed (default), or fail the run
              --commit-tokens N, --commit-docs N   commit a chunk every N tokens / documents (default 262144 / 4096)
            search (query lines {"id": "...", "query": "...", "excluded_ids": [...]}):
              writes a TREC run file (--out) and JSON lines (--jsonl, default RUN.jsonl)
            eval (BRIGHT_DIR/TASK/{documents,long_documents,examples}.jsonl; tools/bright/export_bright.py makes it):
              prints nDCG@10 per task like the paper's table; per-query JSON and run files in --out (default
              ./reasonir-eval); task indexes cached in --cache (default ~/.cache/reasonir/bright-indexes);
              --max-length defaults to 32768 as in BRIGHT's official evaluation
            options:
              --device auto|cpu|cuda|cuda:N   (default auto)
              --max-length N                  tokens per input incl. BOS (default 512); longer inputs are truncated
              --overflow truncate|fail        what to do with longer inputs (default truncate, reported on stderr)
              --batch-tokens N                token budget of one packed batch (default 8192)
              --threads N                     CPU threads (default: all cores)
              --precision default|fp32|bf16   numeric mode (default: fp32 on CPU, bf16 on CUDA)
              --copy-weights                  copy the weights into memory instead of mapping the files; a
                                              checkpoint file modified while the model is open can otherwise
                                              crash the process
            """;

    /** Options that take no value. */
    private static final List<String> SWITCHES = List.of("copy-weights", "long-documents");
    /** Options every engine command takes. */
    static final java.util.Set<String> ENGINE_FLAGS = java.util.Set.of("model", "device", "max-length", "overflow",
            "batch-tokens", "threads", "precision", "copy-weights");
    /** Held so that the level set in main() is not lost when java.util.logging drops an unreferenced logger. */
    private static java.util.logging.Logger engineLog;
    private static java.util.logging.Logger djlLog;

    private Main() {}

    public static void main(String[] args) {
        // The CLI prints the device (and why "auto" chose it) itself, in one line: keep the library's INFO line of
        // the same fact out of stderr. Warnings still show.
        engineLog = java.util.logging.Logger.getLogger(ReasonIR.class.getName());
        engineLog.setLevel(java.util.logging.Level.WARNING);
        // DJL is used only for tokenization here, but probes for a CUDA runtime and platform on first use and logs
        // what it finds ("Failed to detect GPU count", "Found matching platform"): noise for a CLI user. Its errors
        // still surface as exceptions.
        djlLog = java.util.logging.Logger.getLogger("ai.djl");
        djlLog.setLevel(java.util.logging.Level.SEVERE);
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the exit status (0 ok, 1 engine error, 2 usage/input error). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            (args.length == 0 ? err : out).print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        if (java.util.Arrays.asList(args).subList(1, args.length).stream()
                .anyMatch(a -> a.equals("--help") || a.equals("-h"))) {
            out.print(USAGE);  // "reasonir index --help": the usage covers every command
            return 0;
        }
        try {
            Map<String, String> flags = parseFlags(args);
            switch (args[0]) {
                case "embed" -> embed(flags, err);
                case "tokenize" -> tokenize(flags, err);
                case "index" -> RetrievalCommands.index(flags, out, err);
                case "search" -> RetrievalCommands.search(flags, out, err);
                case "eval" -> RetrievalCommands.eval(flags, out, err);
                case "demo" -> Demo.run(flags, options(flags, java.util.Set.of()), out, err);
                default -> throw new CliException("unknown command '" + args[0] + "'\n" + USAGE);
            }
            return 0;
        } catch (CliException e) {
            err.println("reasonir: " + e.getMessage());
            return 2;
        } catch (ReasonIRException e) {
            err.println("reasonir: " + e.kind() + ": " + e.getMessage());
            return 1;
        } catch (RetrievalException e) {
            err.println("reasonir: " + e.getMessage());
            return e.kind() == RetrievalException.Kind.INPUT ? 2 : 1;
        } catch (BrightFormatException e) {
            err.println("reasonir: " + e.getMessage());
            return 2;
        } catch (IOException e) {
            err.println("reasonir: I/O error: " + e.getMessage());
            return 1;
        }
    }

    static Map<String, String> parseFlags(String[] args) {
        Map<String, String> flags = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) throw new CliException("unexpected argument '" + a + "'");
            if (SWITCHES.contains(a.substring(2))) {
                flags.put(a.substring(2), "true");
                continue;
            }
            if (i + 1 >= args.length) throw new CliException("option " + a + " needs a value");
            flags.put(a.substring(2), args[++i]);
        }
        return flags;
    }

    static String required(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) throw new CliException("missing --" + name + "\n" + USAGE);
        return v;
    }

    static int intFlag(Map<String, String> flags, String name, int dflt) {
        String v = flags.get(name);
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new CliException("--" + name + " expects an integer, got '" + v + "'");
        }
    }

    /** Options of embed, tokenize and demo besides the engine's. */
    static final java.util.Set<String> IO_FLAGS = java.util.Set.of("input", "output");

    /** The engine options; refuses any flag that is neither an engine option nor one of the command's own. */
    static Options options(Map<String, String> flags, java.util.Set<String> commandFlags) {
        for (String k : flags.keySet()) {
            if (!ENGINE_FLAGS.contains(k) && !commandFlags.contains(k)) {
                throw new CliException("unknown option --" + k + " for this command\n" + USAGE);
            }
        }
        Options o = Options.defaults();
        try {
            if (flags.containsKey("device")) o = o.withDevice(flags.get("device"));
            o = o.withMaxLength(intFlag(flags, "max-length", o.maxLength()))
                    .withBatchTokens(intFlag(flags, "batch-tokens", o.batchTokens()))
                    .withThreads(intFlag(flags, "threads", o.threads()))
                    .withCopyWeights(flags.containsKey("copy-weights"));
            if (flags.containsKey("precision")) {
                o = o.withPrecision(enumFlag(flags, "precision", Precision.class));
            }
            if (flags.containsKey("overflow")) {
                o = o.withOverflow(enumFlag(flags, "overflow", Options.Overflow.class));
            }
        } catch (IllegalArgumentException e) {
            throw new CliException("bad option: " + e.getMessage());
        }
        return o;
    }

    /** The value of an enum option, case-insensitive; an unknown value names the accepted ones. */
    static <E extends Enum<E>> E enumFlag(Map<String, String> flags, String name, Class<E> type) {
        String v = flags.get(name);
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(v)) return e;
        }
        throw new CliException("--" + name + " expects one of " + java.util.Arrays.stream(type.getEnumConstants())
                .map(e -> e.name().toLowerCase(Locale.ROOT)).toList() + ", got '" + v + "'");
    }

    private static void embed(Map<String, String> flags, PrintStream err) throws IOException {
        Path model = Path.of(required(flags, "model"));
        Path input = Path.of(required(flags, "input"));
        Path output = Path.of(required(flags, "output"));
        Options options = options(flags, IO_FLAGS);
        long start = System.nanoTime();
        long tokens = 0, lines = 0;
        int maxLength;
        List<EmbeddingResult.Truncation> truncations = new ArrayList<>();
        // Written beside the output and moved into place only when every line has been embedded: a failed run
        // leaves no partial .npy that would look valid.
        Path partial = output.resolveSibling(output.getFileName() + ".partial");
        boolean done = false;
        try (ReasonIR m = ReasonIR.open(model, options);
             BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8);
             NpyWriter w = new NpyWriter(partial, m.dimension());
             ChunkReader chunks = new ChunkReader(r, m, input, CHUNK_LINES);
             ProgressDisplay progress = ProgressDisplay.start(err, "embed", "inputs", countInputLines(input), 0)) {
            maxLength = m.maxLength();
            printDevice(m, err);
            // The next chunk is read and tokenized while the engine embeds this one (ChunkReader).
            for (ChunkReader.Chunk c = chunks.next(); !c.inputs().isEmpty(); c = chunks.next()) {
                List<Long> lineNumbers = c.lineNumbers();
                EmbeddingResult res = embedChunk(m, c.inputs(), lineNumbers, input);
                for (float[] v : res.vectors()) w.append(v);
                tokens += res.totalTokens();
                for (var t : res.truncations()) {
                    truncations.add(new EmbeddingResult.Truncation(
                            (int) (long) lineNumbers.get(t.index()), t.originalTokens(), t.keptTokens()));
                }
                lines += c.inputs().size();
                progress.update(lines, tokens, tokens);
            }
            if (lines == 0) throw new CliException(input + ": no input lines");
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(partial);
        }
        Files.move(partial, output, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        double s = (System.nanoTime() - start) / 1e9;
        err.printf(Locale.ROOT, "reasonir: embedded %d inputs, %d tokens in %.2f s (%.0f tokens/s) -> %s%n",
                lines, tokens, s, tokens / s, output);
        if (!truncations.isEmpty()) {
            err.printf(Locale.ROOT, "reasonir: %d inputs truncated to the max length %d:%n", truncations.size(),
                    maxLength);
            for (var t : truncations.subList(0, Math.min(20, truncations.size()))) {
                err.printf(Locale.ROOT, "  line %d: %d -> %d tokens%n", t.index(), t.originalTokens(), t.keptTokens());
            }
            if (truncations.size() > 20) err.println("  ...");
        }
    }

    /** Non-blank lines of an input file: the total of the progress display (reading a file is fast next to embedding it). */
    static long countInputLines(Path input) throws IOException {
        try (var lines = Files.lines(input, StandardCharsets.UTF_8)) {
            return lines.filter(l -> !l.isBlank()).count();
        } catch (java.io.UncheckedIOException e) {
            throw new IOException(input + ": " + e.getCause().getMessage(), e.getCause());
        }
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

    static TokenizedInput prepare(ReasonIR m, InputLine in, String where) {
        if (in.pretokenized()) return TokenizedInput.of(in.ids(), in.poolStart());
        if (in.text().isEmpty()) throw new CliException(where + ": \"text\" is empty");
        return m.tokenize(in.instruction(), in.text());
    }

    private static EmbeddingResult embedChunk(ReasonIR m, List<TokenizedInput> chunk, List<Long> lineNumbers,
                                              Path input) {
        try {
            return m.embedTokens(chunk);
        } catch (ReasonIRException e) {
            if (e.inputIndex() < 0) throw e;
            String where = input + " line " + lineNumbers.get(e.inputIndex()) + ": "
                    + e.getMessage().replaceFirst("^input \\d+: ", "");
            if (e instanceof InvalidInputException) throw new CliException(where);
            throw new ReasonIRException(e.kind(), where, e);
        }
    }

    /** Writes what {@code embed} would feed the model for each text line; refuses what embed would refuse. */
    private static void tokenize(Map<String, String> flags, PrintStream err) throws IOException {
        Path model = Path.of(required(flags, "model"));
        Path input = Path.of(required(flags, "input"));
        Path output = Path.of(required(flags, "output"));
        Options options = options(flags, IO_FLAGS).withDevice("cpu");
        ObjectMapper json = new ObjectMapper();
        long n = 0;
        try (ReasonIR m = ReasonIR.open(model, options);
             BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8);
             BufferedWriter w = Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
            String line;
            long lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String where = input + " line " + lineNo;
                InputLine in = InputLine.parse(line, where);
                if (in.pretokenized()) throw new CliException(where + ": tokenize needs \"text\" lines");
                TokenizedInput t = prepare(m, in, where);
                if (t.poolStart() >= t.length()) {
                    throw new CliException(where + ": nothing left to pool: the instruction covers " + t.poolStart()
                            + " of the " + t.length() + " tokens (max length " + m.maxLength() + ")");
                }
                ObjectNode o = json.createObjectNode();
                o.putArray("ids").addAll(java.util.Arrays.stream(t.ids())
                        .mapToObj(json.getNodeFactory()::numberNode).toList());
                o.put("pool_start", t.poolStart());
                o.put("original_length", t.originalLength());
                w.write(json.writeValueAsString(o));
                w.newLine();
                n++;
            }
        }
        err.println("reasonir: tokenized " + n + " inputs -> " + output);
    }
}
