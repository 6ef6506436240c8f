package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * An index under construction, and its commit protocol. Four append-only files grow side by side:
 * {@code embeddings.npy.partial} (a 128-byte .npy header, then rows), {@code ids.jsonl.partial}, and the journals
 * {@code empty.jsonl.partial} and {@code truncated.jsonl.partial}. After each chunk the new bytes are forced to disk,
 * then {@code progress.json} is replaced atomically (write a temporary file, force it, rename it over the old one,
 * force the folder) with the committed length of each file and the number of corpus lines consumed.
 *
 * <p>A process killed at any instant leaves a {@code progress.json} that describes a consistent prefix: bytes past
 * the committed lengths (a chunk being written) are cut off on resume, and the corpus is read again from the first
 * line not committed. Because chunk boundaries depend only on the corpus and the plan, the resumed run embeds exactly
 * the chunks the uninterrupted run would have, and the final files are byte-identical.
 */
final class PartialIndex implements AutoCloseable {
    static final String PROGRESS = "progress.json";
    static final String PROGRESS_FORMAT = "reasonir-index-progress";
    static final String EMBEDDINGS = Index.EMBEDDINGS + ".partial";
    static final String IDS = Index.IDS + ".partial";
    static final String EMPTY = "empty.jsonl.partial";
    static final String TRUNCATED = "truncated.jsonl.partial";
    static final List<String> FILES = List.of(EMBEDDINGS, IDS, EMPTY, TRUNCATED);

    /** How the corpus is cut into chunks; must not change between a run and its resumption. */
    record Plan(long commitTokens, int commitDocuments, boolean failOnEmpty) {}

    /** What has been durably committed: corpus lines consumed and the length of every file. */
    record Committed(long lines, long documents, long rows, long tokens, long contentChars, long embeddingsBytes,
                     long idsBytes, long emptyBytes, long truncatedBytes) {
        static Committed start() {
            return new Committed(0, 0, 0, 0, 0, Npy.HEADER_BYTES, 0, 0, 0);
        }

        long[] lengths() {
            return new long[] {embeddingsBytes, idsBytes, emptyBytes, truncatedBytes};
        }
    }

    /** Everything progress.json records. */
    record State(IndexSettings settings, IndexManifest.CorpusInfo corpus, Plan plan, String created,
                 Committed committed) {}

    private final Path dir;
    private final FileChannel[] files = new FileChannel[FILES.size()];
    private State state;

    private PartialIndex(Path dir, State state) {
        this.dir = dir;
        this.state = state;
    }

    /** Starts a new build in an empty folder: creates the files and commits the empty state. */
    static PartialIndex create(Path dir, State initial) throws IOException {
        PartialIndex p = new PartialIndex(dir, initial);
        try {
            for (int i = 0; i < p.files.length; i++) {
                p.files[i] = FileChannel.open(dir.resolve(FILES.get(i)), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE);
            }
            writeFully(p.files[0], Npy.header(initial.settings().dtype(), 0, initial.settings().model().dimension()),
                    0);
            for (FileChannel f : p.files) f.force(false);
            p.writeProgress(initial);
            return p;
        } catch (IOException | RuntimeException e) {
            p.close();
            throw e;
        }
    }

    /** Reopens a build from its progress.json, cutting off whatever was written after the last commit. */
    static PartialIndex resume(Path dir, State state) throws IOException {
        PartialIndex p = new PartialIndex(dir, state);
        try {
            long[] lengths = state.committed().lengths();
            for (int i = 0; i < p.files.length; i++) {
                Path f = dir.resolve(FILES.get(i));
                if (!Files.isRegularFile(f)) {
                    throw new RetrievalException(RetrievalException.Kind.CORRUPT, f + " is missing: the unfinished "
                            + "index in " + dir + " cannot be resumed; delete the folder to start over");
                }
                p.files[i] = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
                long size = p.files[i].size();
                if (size < lengths[i]) {
                    throw new RetrievalException(RetrievalException.Kind.CORRUPT, f + " has " + size + " bytes but "
                            + lengths[i] + " were committed: the unfinished index in " + dir + " was damaged; delete "
                            + "the folder to start over");
                }
                if (size > lengths[i]) p.files[i].truncate(lengths[i]);  // an interrupted chunk
            }
            Files.deleteIfExists(dir.resolve(PROGRESS + ".tmp"));
            return p;
        } catch (IOException | RuntimeException e) {
            p.close();
            throw e;
        }
    }

    State state() {
        return state;
    }

    /**
     * Appends one chunk to the four files and commits it. {@code next} is the state after the chunk; the files must
     * grow by exactly the given buffers.
     */
    void commit(ByteBuffer rows, ByteBuffer ids, ByteBuffer empty, ByteBuffer truncated, Committed next)
            throws IOException {
        ByteBuffer[] parts = {rows, ids, empty, truncated};
        long[] at = state.committed().lengths();
        long[] want = next.lengths();
        for (int i = 0; i < parts.length; i++) {
            if (at[i] + parts[i].remaining() != want[i]) throw new IllegalStateException("commit size mismatch");
            writeFully(files[i], parts[i], at[i]);
        }
        for (FileChannel f : files) f.force(false);
        State s = new State(state.settings(), state.corpus(), state.plan(), state.created(), next);
        writeProgress(s);
        state = s;
    }

    /** Rewrites the .npy header with the final row count and forces it (the rows are already durable). */
    void writeFinalHeader() throws IOException {
        writeFully(files[0], Npy.header(state.settings().dtype(), state.committed().rows(),
                state.settings().model().dimension()), 0);
        files[0].force(false);
    }

    private void writeProgress(State s) throws IOException {
        ObjectNode o = IndexManifest.JSON.createObjectNode();
        o.put("format", PROGRESS_FORMAT);
        o.put("format_version", IndexManifest.VERSION);
        s.settings().writeTo(o);
        ObjectNode c = o.putObject("corpus");
        c.put("file", s.corpus().file()).put("sha256", s.corpus().sha256()).put("bytes", s.corpus().bytes())
                .put("lines", s.corpus().lines());
        o.putObject("plan").put("commit_tokens", s.plan().commitTokens())
                .put("commit_documents", s.plan().commitDocuments()).put("fail_on_empty", s.plan().failOnEmpty());
        o.put("created", s.created());
        Committed k = s.committed();
        o.putObject("committed").put("lines", k.lines()).put("documents", k.documents()).put("rows", k.rows())
                .put("tokens", k.tokens()).put("content_chars", k.contentChars())
                .put("embeddings_bytes", k.embeddingsBytes()).put("ids_bytes", k.idsBytes())
                .put("empty_bytes", k.emptyBytes()).put("truncated_bytes", k.truncatedBytes());
        replaceDurably(dir.resolve(PROGRESS), IndexManifest.JSON.writeValueAsBytes(o));
    }

    /** Reads progress.json; CORRUPT errors name the field. */
    static State readProgress(Path dir) throws IOException {
        Path f = dir.resolve(PROGRESS);
        String where = f.toString();
        JsonNode o;
        try {
            o = IndexManifest.JSON.readTree(Files.readAllBytes(f));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new RetrievalException(RetrievalException.Kind.CORRUPT, where + ": not valid JSON; the unfinished "
                    + "index cannot be resumed, delete " + dir + " to start over");
        }
        if (o == null || !PROGRESS_FORMAT.equals(o.path("format").asText(null))
                || o.path("format_version").asInt(-1) != IndexManifest.VERSION) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, where + ": not a progress file of this "
                    + "index format (version " + IndexManifest.VERSION + ")");
        }
        IndexManifest.Fields r = new IndexManifest.Fields(o, where);
        IndexManifest.Fields c = new IndexManifest.Fields(r.object("corpus"), where + " corpus");
        IndexManifest.Fields p = new IndexManifest.Fields(r.object("plan"), where + " plan");
        IndexManifest.Fields k = new IndexManifest.Fields(r.object("committed"), where + " committed");
        JsonNode failOnEmpty = p.get("fail_on_empty");
        return new State(IndexSettings.readFrom(o, where),
                new IndexManifest.CorpusInfo(c.string("file"), c.string("sha256"), c.longField("bytes"),
                        c.longField("lines")),
                new Plan(p.longField("commit_tokens"), (int) p.longField("commit_documents"),
                        failOnEmpty.asBoolean()),
                r.string("created"),
                new Committed(k.longField("lines"), k.longField("documents"), k.longField("rows"),
                        k.longField("tokens"), k.longField("content_chars"), k.longField("embeddings_bytes"),
                        k.longField("ids_bytes"), k.longField("empty_bytes"), k.longField("truncated_bytes")));
    }

    /** Replaces {@code target} with {@code content} so that a crash leaves either the old or the new file. */
    static void replaceDurably(Path target, byte[] content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.wrap(content), 0);
            ch.force(true);
        }
        moveDurably(tmp, target);
    }

    /** Renames atomically and forces the folder, so the rename itself survives a crash. */
    static void moveDurably(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system of " + to.getParent() + " cannot rename atomically", e);
        }
        try (FileChannel d = FileChannel.open(to.getParent(), StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException ignored) {
            // Some file systems cannot open or force a folder; the rename is still atomic.
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        while (b.hasRemaining()) at += ch.write(b, at);
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (FileChannel f : files) {
            if (f == null) continue;
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
