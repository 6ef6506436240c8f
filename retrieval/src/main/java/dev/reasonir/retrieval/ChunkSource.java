package dev.reasonir.retrieval;

import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.stream.IntStream;

/**
 * Reads, parses and tokenizes the corpus on a background thread, ahead of the engine, and cuts it into the chunks
 * that the index commits one at a time. A chunk ends after the document that brings it to {@code commitDocuments}
 * documents or {@code commitTokens} tokens, whichever comes first: the cut depends only on the corpus and the plan,
 * never on timing, so a resumed build sees the same chunks as an uninterrupted one. Tokenization runs on all cores
 * (the tokenizer is thread-safe), in slices of {@value #SLICE} documents; at most {@value #AHEAD} chunks wait ready.
 */
final class ChunkSource implements AutoCloseable {
    static final int SLICE = 512;
    static final int AHEAD = 2;

    /** One chunk: documents to embed with their inputs, the empty ones skipped, the last corpus line it covers. */
    record Chunk(List<Corpus.Document> documents, List<TokenizedInput> inputs, List<Corpus.Document> empty,
                 long endLine, long contentChars, long tokens) {
        boolean isEnd() {
            return documents.isEmpty() && empty.isEmpty();
        }
    }

    private record Failure(Throwable error) {}

    private final Path file;
    private final ReasonIR model;
    private final String instruction;
    private final PartialIndex.Plan plan;
    private final long skipLines;
    private final String expectedSha256;
    private final BlockingQueue<Object> ready = new ArrayBlockingQueue<>(AHEAD);
    private final Thread thread;
    private volatile boolean stopped;

    ChunkSource(Path file, ReasonIR model, String instruction, PartialIndex.Plan plan, long skipLines,
                String expectedSha256) {
        this.file = file;
        this.model = model;
        this.instruction = instruction;
        this.plan = plan;
        this.skipLines = skipLines;
        this.expectedSha256 = expectedSha256;
        this.thread = new Thread(this::run, "reasonir-index-reader");
        thread.setDaemon(true);
        thread.start();
    }

    /** The next chunk; an end chunk ({@link Chunk#isEnd()}) after the last one. Rethrows the reader's failure. */
    Chunk next() throws IOException, InterruptedException {
        Object o = ready.take();
        if (o instanceof Failure f) {
            if (f.error instanceof IOException e) throw e;
            if (f.error instanceof RuntimeException e) throw e;
            if (f.error instanceof Error e) throw e;
            throw new IllegalStateException(f.error);
        }
        return (Chunk) o;
    }

    private void run() {
        try {
            produce();
        } catch (InterruptedException e) {
            // closed
        } catch (Throwable t) {
            try {
                if (!stopped) ready.put(new Failure(t));
            } catch (InterruptedException ignored) {
                // closed
            }
        }
    }

    private void produce() throws IOException, InterruptedException {
        MessageDigest md = ModelIdentity.digest();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md);
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16)) {
            long lineNo = 0;
            String line;
            // Committed lines are read again only to hash them: the check at the end covers the whole file.
            while (lineNo < skipLines && (line = r.readLine()) != null) lineNo++;
            ArrayDeque<Object[]> pending = new ArrayDeque<>();  // {Document, TokenizedInput or null if empty}
            boolean eof = false;
            while (!stopped) {
                List<Corpus.Document> docs = new ArrayList<>();
                List<TokenizedInput> inputs = new ArrayList<>();
                List<Corpus.Document> empty = new ArrayList<>();
                long tokens = 0, chars = 0, endLine = lineNo;
                while (docs.size() < plan.commitDocuments() && tokens < plan.commitTokens()) {
                    if (pending.isEmpty()) {
                        if (eof) break;
                        List<Corpus.Document> slice = new ArrayList<>();
                        while (slice.size() < SLICE && (line = r.readLine()) != null) {
                            lineNo++;
                            if (!line.isBlank()) slice.add(Corpus.parse(file, lineNo, line));
                        }
                        if (slice.size() < SLICE) eof = true;
                        tokenize(slice, pending);
                        if (eof && slice.isEmpty()) endLine = lineNo;  // trailing blank lines
                        continue;
                    }
                    Object[] p = pending.poll();
                    Corpus.Document d = (Corpus.Document) p[0];
                    chars += d.content().length();
                    endLine = eof && pending.isEmpty() ? lineNo : d.line();
                    if (p[1] == null) {
                        empty.add(d);
                    } else {
                        TokenizedInput t = (TokenizedInput) p[1];
                        docs.add(d);
                        inputs.add(t);
                        tokens += t.length();
                    }
                }
                Chunk c = new Chunk(docs, inputs, empty, endLine, chars, tokens);
                if (c.isEnd()) {
                    String sha = HexFormat.of().formatHex(md.digest());
                    if (!sha.equals(expectedSha256)) {
                        throw new RetrievalException(RetrievalException.Kind.INPUT, "corpus " + file + " changed "
                                + "while it was being indexed (its SHA-256 is no longer the one recorded at the "
                                + "start); start again");
                    }
                    ready.put(new Chunk(docs, inputs, empty, lineNo, 0, 0));
                    return;
                }
                ready.put(c);
            }
        }
    }

    /** Tokenizes a slice in parallel; results go to {@code out} in corpus order (null input = empty document). */
    private void tokenize(List<Corpus.Document> slice, ArrayDeque<Object[]> out) {
        TokenizedInput[] t = new TokenizedInput[slice.size()];
        RuntimeException[] errors = new RuntimeException[slice.size()];
        IntStream.range(0, slice.size()).parallel().forEach(i -> {
            Corpus.Document d = slice.get(i);
            if (d.empty()) return;
            try {
                t[i] = model.tokenize(instruction, d.content());
            } catch (RuntimeException e) {
                errors[i] = e;
            }
        });
        for (int i = 0; i < slice.size(); i++) {
            if (errors[i] != null) {
                Corpus.Document d = slice.get(i);
                throw new RetrievalException(RetrievalException.Kind.INPUT, file + " line " + d.line() + " (id \""
                        + d.id() + "\"): " + errors[i].getMessage(), errors[i]);
            }
            out.add(new Object[] {slice.get(i), t[i]});
        }
    }

    @Override
    public void close() throws InterruptedException {
        stopped = true;
        thread.interrupt();
        ready.clear();
        thread.join(60_000);
    }
}
