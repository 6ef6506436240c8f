package dev.reasonir.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.NpyWriter;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code embed} and {@code tokenize}: JSON lines in, vectors (.npy) or token ids (JSON lines) out. */
final class EmbedCommands {
    /** Input lines embedded per engine call: bounds memory, and is the step of the progress display. */
    static final int CHUNK_LINES = 1024;
    /**
     * {@code Instructions.describe(Instructions.DEFAULT_PROMPT)} as a constant, because annotations (the help texts)
     * need one; DefaultPromptTest holds the two equal.
     */
    static final String DEFAULT_PROMPT_SHOWN = "document (\"<|embed|>\\n\")";
    static final String INPUT_HELP = "input lines (JSON, one object per line): {\"text\": \"...\"} (the default "
            + "prompt, the same as serve and the adapters use: " + DEFAULT_PROMPT_SHOWN + "); {\"text\": \"...\", "
            + "\"role\": \"query\", \"task\": \"biology\"} (a BRIGHT task's prompt); {\"text\": \"...\", "
            + "\"role\": \"document\"} (the document prefix); {\"text\": \"...\", \"instruction\": \"...\"} (your "
            + "own prompt; \"\" embeds the raw text and pools every token); {\"ids\": [128000, ...], \"pool_start\": "
            + "k} (pre-tokenized, no tokenizer needed)";

    private EmbedCommands() {}

    @Command(name = "embed", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Embeds every line of a JSON-lines file into a float32 .npy [n, hidden], L2-normalized, "
                    + "rows in input order. The file appears only when every line succeeded.", INPUT_HELP})
    static final class Embed implements Callable<Integer> {
        @Mixin
        EngineOptions engine;
        @Mixin
        EngineOptions.BatchTokens batch;
        @Mixin
        EngineOptions.OverflowOption overflow;
        @Option(names = "--input", required = true, paramLabel = "FILE.jsonl", description = "input lines")
        Path input;
        @Option(names = "--output", required = true, paramLabel = "FILE.npy", description = "where the vectors go")
        Path output;

        @Override
        public Integer call() throws IOException {
            PrintStream err = Streams.err();
            long total = InputFile.countNonBlank(input);
            long start = System.nanoTime();
            long tokens = 0, lines = 0;
            List<EmbeddingResult.Truncation> truncations = new ArrayList<>();
            int maxLength;
            try (Output out = new Output(output);
                 ReasonIR m = ReasonIR.open(engine.model(), engine.options(batch));
                 InputFile in = new InputFile(input);
                 ChunkReader chunks = new ChunkReader(in, m, CHUNK_LINES, overflow.value);
                 ProgressDisplay progress = ProgressDisplay.start(err, "embed", "inputs", total, 0)) {
                maxLength = m.maxLength();
                Main.printDevice(m, err);
                // Which prompt a bare {"text"} line gets is not visible in the input: say it before any work.
                err.println("reasonir: lines without \"role\" or \"instruction\" use the default prompt "
                        + dev.reasonir.Instructions.describe(dev.reasonir.Instructions.DEFAULT_PROMPT));
                try (NpyWriter w = new NpyWriter(out.temp(), m.dimension())) {
                    // The next chunk is read and tokenized while the engine embeds this one (ChunkReader).
                    for (ChunkReader.Chunk c = chunks.next(); !c.inputs().isEmpty(); c = chunks.next()) {
                        List<Long> lineNumbers = c.lineNumbers();
                        EmbeddingResult res;
                        try {
                            res = m.embedTokens(c.inputs());
                        } catch (ReasonIRException e) {
                            throw Main.atLine(e, lineNumbers, input);
                        }
                        for (float[] v : res.vectors()) w.append(v);
                        tokens += res.totalTokens();
                        for (var t : res.truncations()) {
                            truncations.add(new EmbeddingResult.Truncation(
                                    (int) (long) lineNumbers.get(t.index()), t.originalTokens(), t.keptTokens()));
                        }
                        lines += c.inputs().size();
                        progress.update(lines, tokens, tokens);
                    }
                }
                if (lines == 0) throw new CliException(input + ": no input lines");
                out.commit();
            }
            double s = (System.nanoTime() - start) / 1e9;
            err.printf(Locale.ROOT, "reasonir: embedded %d inputs, %d tokens in %.2f s (%.0f tokens/s) -> %s%n",
                    lines, tokens, s, tokens / s, output);
            if (!truncations.isEmpty()) {
                err.printf(Locale.ROOT, "reasonir: %d inputs truncated to --max-length %d:%n", truncations.size(),
                        maxLength);
                for (var t : truncations.subList(0, Math.min(20, truncations.size()))) {
                    err.printf(Locale.ROOT, "  line %d: %d -> %d tokens%n", t.index(), t.originalTokens(),
                            t.keptTokens());
                }
                if (truncations.size() > 20) err.println("  ...");
            }
            return 0;
        }
    }

    @Command(name = "tokenize", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Writes what embed would feed the model for each text line: {\"ids\": [...], "
                    + "\"pool_start\": k, \"original_length\": n}; refuses what embed would refuse. Runs on the "
                    + "CPU.", INPUT_HELP})
    static final class Tokenize implements Callable<Integer> {
        @Mixin
        EngineOptions.ModelOption model;
        @Option(names = "--input", required = true, paramLabel = "FILE.jsonl", description = "text lines")
        Path input;
        @Option(names = "--output", required = true, paramLabel = "FILE.jsonl", description = "token lines")
        Path output;
        @Mixin
        EngineOptions.MaxLengthOption maxLengthOption;
        @Mixin
        EngineOptions.OverflowOption overflowOption;

        @Override
        public Integer call() throws IOException {
            int maxLength = maxLengthOption.orDefault(dev.reasonir.Options.DEFAULT_MAX_LENGTH);
            EngineOptions.Overflow overflow = overflowOption.value;
            ObjectMapper json = new ObjectMapper();
            long n = 0;
            try (Output out = new Output(output);
                 ReasonIR m = ReasonIR.open(model.value, dev.reasonir.Options.defaults().withDevice("cpu")
                         .withMaxLength(maxLength));
                 InputFile in = new InputFile(input)) {
                try (BufferedWriter w = Files.newBufferedWriter(out.temp(), StandardCharsets.UTF_8)) {
                    for (String line = in.next(); line != null; line = in.next()) {
                        if (line.isBlank()) continue;
                        String where = input + " line " + in.lineNo();
                        InputLine il = InputLine.parse(line, where);
                        if (il.pretokenized()) throw new CliException(where + ": tokenize needs \"text\" lines");
                        TokenizedInput t = Main.prepare(m, il, where, overflow);
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
                out.commit();
            }
            Streams.err().println("reasonir: tokenized " + n + " inputs -> " + output);
            return 0;
        }
    }

    /**
     * An output file written under a temporary name unique to this run, in the same folder, and moved into place only
     * by {@link #commit()}; closing without commit deletes it. Two runs writing the same output never share a file,
     * and a failed run leaves nothing behind.
     */
    static final class Output implements AutoCloseable {
        private final Path target;
        private final Path temp;
        private boolean committed;

        Output(Path target) throws IOException {
            if (Files.isDirectory(target)) throw new CliException("output " + target + " is a folder");
            Path dir = target.toAbsolutePath().getParent();
            if (dir != null && !Files.isDirectory(dir)) {
                throw new CliException("the folder of output " + target + " does not exist");
            }
            this.target = target;
            this.temp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".partial");
        }

        Path temp() {
            return temp;
        }

        void commit() throws IOException {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            committed = true;
        }

        @Override
        public void close() throws IOException {
            if (!committed) Files.deleteIfExists(temp);
        }
    }
}
