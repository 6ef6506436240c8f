package dev.reasonir.cli;

import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

/**
 * Reads, parses and tokenizes the input lines of {@code embed} one chunk ahead of the engine: while the engine embeds
 * chunk k, a background thread prepares chunk k + 1, tokenizing its lines on all cores. Errors keep their line numbers
 * and are reported in line order, as a sequential read would report them.
 */
final class ChunkReader implements AutoCloseable {
    /** One chunk: the inputs and the file line number of each. An empty chunk means the end of the input. */
    record Chunk(List<TokenizedInput> inputs, List<Long> lineNumbers) {}

    private final InputFile reader;
    private final ReasonIR model;
    private final Path input;
    private final int chunkLines;
    private final EngineOptions.Overflow overflow;
    private final ExecutorService ahead = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "reasonir-cli-reader");
        t.setDaemon(true);
        return t;
    });
    private Future<Chunk> next;

    ChunkReader(InputFile reader, ReasonIR model, int chunkLines, EngineOptions.Overflow overflow) {
        this.reader = reader;
        this.model = model;
        this.input = reader.path();
        this.chunkLines = chunkLines;
        this.overflow = overflow;
        this.next = ahead.submit(this::read);
    }

    /** The next chunk (empty at the end); starts preparing the one after it before returning. */
    Chunk next() throws IOException {
        Chunk c;
        try {
            c = next.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while reading " + input, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof UncheckedIOException u) throw u.getCause();
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IOException(cause);
        }
        if (!c.inputs().isEmpty()) next = ahead.submit(this::read);
        return c;
    }

    private Chunk read() {
        List<InputLine> parsed = new ArrayList<>();
        List<Long> numbers = new ArrayList<>();
        try {
            String line;
            while (parsed.size() < chunkLines && (line = reader.next()) != null) {
                if (line.isBlank()) continue;
                parsed.add(InputLine.parse(line, where(reader.lineNo())));
                numbers.add(reader.lineNo());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // Tokenize on all cores (the tokenizer is thread-safe); report the first failing line in file order.
        TokenizedInput[] out = new TokenizedInput[parsed.size()];
        RuntimeException[] errors = new RuntimeException[parsed.size()];
        IntStream.range(0, parsed.size()).parallel().forEach(i -> {
            try {
                out[i] = Main.prepare(model, parsed.get(i), where(numbers.get(i)), overflow);
            } catch (RuntimeException e) {
                errors[i] = e;
            }
        });
        for (RuntimeException e : errors) {
            if (e != null) throw e;
        }
        return new Chunk(List.of(out), numbers);
    }

    private String where(long line) {
        return input + " line " + line;
    }

    @Override
    public void close() {
        if (next != null) next.cancel(true);
        ahead.shutdownNow();
    }
}
