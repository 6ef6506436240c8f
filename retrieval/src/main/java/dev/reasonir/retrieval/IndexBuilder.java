package dev.reasonir.retrieval;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Builds an index folder from a corpus file (see {@link Corpus}): every non-empty document is embedded with the
 * document instruction and stored as one row, in corpus order. The build is resumable and crash-safe
 * ({@link PartialIndex}): run it again on the same folder after any interruption, a SIGKILL included, and it
 * continues from the last committed chunk; the finished folder is byte-identical to that of an uninterrupted run.
 * A finished index with the same settings and corpus is left as is ({@link Status#UP_TO_DATE}).
 *
 * <pre>{@code
 * IndexBuilder.Result r = IndexBuilder.build(model, Path.of("docs.jsonl"), Path.of("my-index"),
 *         IndexBuilder.Config.defaults(), IndexBuilder.Progress.NONE);
 * }</pre>
 */
public final class IndexBuilder {
    static final String LOCK = ".lock";
    /** Test hook: runs between the two final renames (a crash there must be recoverable); null in production. */
    static volatile Runnable betweenFinalRenames;

    /**
     * How to build.
     *
     * @param instruction     prefix of every document ({@link Instructions#DOCUMENT} by default)
     * @param dtype           stored element type (F16 by default: half the size, and the cosine scores change by
     *                        about 1e-3 at most for unit vectors)
     * @param failOnEmpty     fail on an empty document instead of skipping and listing it
     * @param commitTokens    a chunk is committed after this many tokens ...
     * @param commitDocuments ... or this many documents, whichever comes first
     */
    public record Config(String instruction, Dtype dtype, boolean failOnEmpty, long commitTokens,
                         int commitDocuments) {
        public Config {
            Objects.requireNonNull(instruction, "instruction");
            Objects.requireNonNull(dtype, "dtype");
            if (commitTokens < 1 || commitDocuments < 1) {
                throw new IllegalArgumentException("commitTokens and commitDocuments must be >= 1");
            }
        }

        public static Config defaults() {
            return new Config(Instructions.DOCUMENT, Dtype.F16, false, 1 << 18, 4096);
        }

        public Config withInstruction(String v) {
            return new Config(v, dtype, failOnEmpty, commitTokens, commitDocuments);
        }

        public Config withDtype(Dtype v) {
            return new Config(instruction, v, failOnEmpty, commitTokens, commitDocuments);
        }

        public Config withFailOnEmpty(boolean v) {
            return new Config(instruction, dtype, v, commitTokens, commitDocuments);
        }

        public Config withCommit(long tokens, int documents) {
            return new Config(instruction, dtype, failOnEmpty, tokens, documents);
        }
    }

    /** Progress callbacks, on the building thread; the CLI draws its bar with them. */
    public interface Progress {
        Progress NONE = new Progress() {};

        /** The corpus was scanned; {@code documentsDone} were committed by earlier runs. */
        default void started(Corpus.Scan corpus, long documentsDone, long charsDone) {}

        /** A chunk was committed; {@code tokensThisRun} counts only tokens embedded by this run. */
        default void committed(long documentsDone, long charsDone, long tokensDone, long tokensThisRun) {}
    }

    public enum Status { BUILT, RESUMED, UP_TO_DATE }

    /**
     * What a build did: the final manifest, whether it resumed an earlier run, and this run's work and timings
     * ({@code tokenizerWaitNanos}: time the engine sat idle waiting for tokenized input).
     */
    public record Result(Path dir, IndexManifest manifest, Status status, long documentsThisRun, long tokensThisRun,
                         long nanos, long engineNanos, long tokenizerWaitNanos) {}

    private IndexBuilder() {}

    public static Result build(ReasonIR model, Path corpus, Path dir, Config config, Progress progress)
            throws IOException {
        long start = System.nanoTime();
        IndexSettings settings = new IndexSettings(ModelIdentity.of(model), config.instruction(), model.maxLength(),
                config.dtype(), model.backend(), model.precision().name().toLowerCase(Locale.ROOT));
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, dir + " exists and is not a folder");
        }
        boolean created = !Files.exists(dir);
        Files.createDirectories(dir);
        boolean locked = false;
        try (FileChannel lockFile = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
             FileLock lock = tryLock(lockFile, dir)) {
            locked = true;
            return buildLocked(model, corpus, dir, config, settings, progress, start);
        } finally {
            // Only the holder removes the lock file. (A build that opened it just before the removal could then lock
            // a file no longer in the folder; two builds started into one folder at the same instant are a misuse
            // this lock catches in the common case, not a supported race.)
            if (locked) Files.deleteIfExists(dir.resolve(LOCK));
            if (created && locked) deleteIfEmpty(dir);
        }
    }

    /** A folder this build created and left empty (e.g. the corpus was refused) is removed again. */
    private static void deleteIfEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            if (s.findAny().isPresent()) return;
        }
        Files.deleteIfExists(dir);
    }

    private static FileLock tryLock(FileChannel ch, Path dir) throws IOException {
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null;
        }
        if (l == null) {
            throw new RetrievalException(RetrievalException.Kind.MISMATCH, "another build is writing the index in "
                    + dir + " right now");
        }
        return l;
    }

    private static Result buildLocked(ReasonIR model, Path corpus, Path dir, Config config, IndexSettings settings,
                                      Progress progress, long start) throws IOException {
        PartialIndex.Plan plan = new PartialIndex.Plan(config.commitTokens(), config.commitDocuments(),
                config.failOnEmpty());
        if (Files.exists(dir.resolve(Index.MANIFEST))) {
            Index existing = Index.open(dir);
            Corpus.Scan scan = Corpus.scan(corpus, config.failOnEmpty());
            List<String> diff = existing.manifest().settings().differences(settings, true);
            if (!existing.manifest().corpus().sha256().equals(scan.sha256())) diff.add("corpus (its content differs)");
            if (!diff.isEmpty()) {
                throw new RetrievalException(RetrievalException.Kind.MISMATCH, dir + " already holds a complete index "
                        + "with another " + String.join(", ", diff) + " (index vs requested); give another output "
                        + "folder or delete this one");
            }
            cleanLeftovers(dir);
            return new Result(dir, existing.manifest(), Status.UP_TO_DATE, 0, 0, System.nanoTime() - start, 0, 0);
        }
        boolean resuming = Files.exists(dir.resolve(PartialIndex.PROGRESS));
        if (!resuming) refuseForeign(dir);
        Corpus.Scan scan = Corpus.scan(corpus, config.failOnEmpty());
        PartialIndex partial;
        if (resuming) {
            PartialIndex.State s = PartialIndex.readProgress(dir);
            List<String> diff = s.settings().differences(settings, true);
            if (!s.corpus().sha256().equals(scan.sha256())) diff.add("corpus (its content differs)");
            if (!s.plan().equals(plan)) {
                diff.add("commit plan (" + s.plan().commitTokens() + " tokens / " + s.plan().commitDocuments()
                        + " documents / fail on empty " + s.plan().failOnEmpty() + " vs " + plan.commitTokens() + " / "
                        + plan.commitDocuments() + " / " + plan.failOnEmpty() + ")");
            }
            if (!diff.isEmpty()) {
                throw new RetrievalException(RetrievalException.Kind.MISMATCH, "the unfinished index in " + dir
                        + " was started with another " + String.join(", ", diff) + " (then vs now); resume it with "
                        + "the same settings, or delete the folder to start over");
            }
            // A crash during the final renames leaves final names for some files: take them back.
            for (String name : List.of(Index.EMBEDDINGS, Index.IDS)) {
                Path fin = dir.resolve(name), part = dir.resolve(name + ".partial");
                if (!Files.exists(part) && Files.exists(fin)) PartialIndex.moveDurably(fin, part);
            }
            partial = PartialIndex.resume(dir, s);
        } else {
            partial = PartialIndex.create(dir, new PartialIndex.State(settings,
                    new IndexManifest.CorpusInfo(corpus.toString(), scan.sha256(), scan.bytes(), scan.lines()), plan,
                    created(), PartialIndex.Committed.start()));
        }
        long[] run = new long[4];  // documents, tokens, engine ns, tokenizer wait ns
        try (partial) {
            embedAll(model, corpus, config.instruction(), partial, scan, progress, run);
            partial.writeFinalHeader();
        }
        IndexManifest m = finish(dir, partial.state());
        return new Result(dir, m, resuming ? Status.RESUMED : Status.BUILT, run[0], run[1], System.nanoTime() - start,
                run[2], run[3]);
    }

    private static void embedAll(ReasonIR model, Path corpus, String instruction, PartialIndex partial,
                                 Corpus.Scan scan, Progress progress, long[] run) throws IOException {
        PartialIndex.State s = partial.state();
        PartialIndex.Committed k = s.committed();
        progress.started(scan, k.documents(), k.contentChars());
        int dim = s.settings().model().dimension();
        Dtype dtype = s.settings().dtype();
        ChunkSource source = new ChunkSource(corpus, model, instruction, s.plan(), k.lines(), scan.sha256());
        try {
            while (true) {
                long w0 = System.nanoTime();
                ChunkSource.Chunk c = source.next();
                run[3] += System.nanoTime() - w0;
                if (c.isEnd()) break;
                long e0 = System.nanoTime();
                EmbeddingResult res = embed(model, corpus, c);
                run[2] += System.nanoTime() - e0;
                ByteBuffer rows = ByteBuffer.allocate(c.documents().size() * dim * dtype.bytes())
                        .order(ByteOrder.LITTLE_ENDIAN);
                for (float[] v : res.vectors()) {
                    if (dtype == Dtype.F16) {
                        for (float x : v) rows.putShort(Half.fromFloat(x));
                    } else {
                        for (float x : v) rows.putFloat(x);
                    }
                }
                StringBuilder ids = new StringBuilder(), empty = new StringBuilder(), trunc = new StringBuilder();
                for (Corpus.Document d : c.documents()) ids.append(jsonString(d.id())).append('\n');
                for (Corpus.Document d : c.empty()) {
                    empty.append("{\"line\":").append(d.line()).append(",\"id\":").append(jsonString(d.id()))
                            .append("}\n");
                }
                for (EmbeddingResult.Truncation t : res.truncations()) {
                    Corpus.Document d = c.documents().get(t.index());
                    trunc.append("{\"line\":").append(d.line()).append(",\"id\":").append(jsonString(d.id()))
                            .append(",\"tokens\":").append(t.originalTokens()).append(",\"kept\":")
                            .append(t.keptTokens()).append("}\n");
                }
                ByteBuffer idsB = utf8(ids), emptyB = utf8(empty), truncB = utf8(trunc);
                PartialIndex.Committed p = partial.state().committed();
                long tokens = res.totalTokens();
                PartialIndex.Committed next = new PartialIndex.Committed(c.endLine(),
                        p.documents() + c.documents().size() + c.empty().size(), p.rows() + c.documents().size(),
                        p.tokens() + tokens, p.contentChars() + c.contentChars(),
                        p.embeddingsBytes() + rows.capacity(), p.idsBytes() + idsB.remaining(),
                        p.emptyBytes() + emptyB.remaining(), p.truncatedBytes() + truncB.remaining());
                partial.commit(rows.flip(), idsB, emptyB, truncB, next);
                run[0] += c.documents().size() + c.empty().size();
                run[1] += tokens;
                progress.committed(next.documents(), next.contentChars(), next.tokens(), run[1]);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while indexing " + corpus, e);
        } finally {
            try {
                source.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Embeds a chunk; an input the engine refuses is reported with its corpus line and id. */
    private static EmbeddingResult embed(ReasonIR model, Path corpus, ChunkSource.Chunk c) {
        try {
            return model.embedTokens(c.inputs());
        } catch (InvalidInputException e) {
            if (e.inputIndex() < 0) throw e;
            Corpus.Document d = c.documents().get(e.inputIndex());
            throw new RetrievalException(RetrievalException.Kind.INPUT, corpus + " line " + d.line() + " (id \""
                    + d.id() + "\"): " + e.getMessage().replaceFirst("^input \\d+:? ?", ""), e);
        }
    }

    /** Turns the committed partial files into the final index; safe to repeat after a crash in the middle. */
    private static IndexManifest finish(Path dir, PartialIndex.State s) throws IOException {
        PartialIndex.Committed k = s.committed();
        List<IndexManifest.EmptyDocument> empty = new ArrayList<>();
        for (var n : readJournal(dir.resolve(PartialIndex.EMPTY))) {
            empty.add(new IndexManifest.EmptyDocument(n.get("line").longValue(), n.get("id").textValue()));
        }
        List<IndexManifest.TruncatedDocument> truncated = new ArrayList<>();
        for (var n : readJournal(dir.resolve(PartialIndex.TRUNCATED))) {
            truncated.add(new IndexManifest.TruncatedDocument(n.get("line").longValue(), n.get("id").textValue(),
                    n.get("tokens").intValue(), n.get("kept").intValue()));
        }
        IndexManifest m = new IndexManifest(s.settings(), s.corpus(), k.rows(), k.tokens(), List.copyOf(empty),
                List.copyOf(truncated), sha256(dir.resolve(PartialIndex.EMBEDDINGS)),
                sha256(dir.resolve(PartialIndex.IDS)), s.created());
        PartialIndex.moveDurably(dir.resolve(PartialIndex.IDS), dir.resolve(Index.IDS));
        Runnable hook = betweenFinalRenames;
        if (hook != null) hook.run();
        PartialIndex.moveDurably(dir.resolve(PartialIndex.EMBEDDINGS), dir.resolve(Index.EMBEDDINGS));
        PartialIndex.replaceDurably(dir.resolve(Index.MANIFEST), m.toJson());
        cleanLeftovers(dir);
        return m;
    }

    /** Removes what a build leaves besides the index (after the manifest is in place). */
    private static void cleanLeftovers(Path dir) throws IOException {
        for (String f : List.of(PartialIndex.EMPTY, PartialIndex.TRUNCATED, PartialIndex.PROGRESS,
                PartialIndex.PROGRESS + ".tmp", Index.MANIFEST + ".tmp")) {
            Files.deleteIfExists(dir.resolve(f));
        }
    }

    private static List<com.fasterxml.jackson.databind.JsonNode> readJournal(Path f) throws IOException {
        List<com.fasterxml.jackson.databind.JsonNode> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) out.add(IndexManifest.JSON.readTree(line));
        }
        return out;
    }

    private static void refuseForeign(Path dir) throws IOException {
        List<String> other;
        try (Stream<Path> s = Files.list(dir)) {
            other = s.map(p -> p.getFileName().toString()).filter(n -> !n.equals(LOCK)).sorted().toList();
        }
        if (!other.isEmpty()) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, dir + " is not empty and holds no ReasonIR "
                    + "index (found " + String.join(", ", other.subList(0, Math.min(5, other.size())))
                    + (other.size() > 5 ? ", ..." : "") + "); give a new or empty folder");
        }
    }

    /** The build's creation time: {@code SOURCE_DATE_EPOCH} (reproducible builds) when set, else now. */
    static String created() {
        String epoch = System.getenv("SOURCE_DATE_EPOCH");
        Instant t = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        if (epoch != null && !epoch.isBlank()) {
            try {
                t = Instant.ofEpochSecond(Long.parseLong(epoch.trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("SOURCE_DATE_EPOCH is not a number of seconds: " + epoch);
            }
        }
        return t.toString();
    }

    static String jsonString(String s) {
        try {
            return IndexManifest.JSON.writeValueAsString(s);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ByteBuffer utf8(CharSequence s) {
        return ByteBuffer.wrap(s.toString().getBytes(StandardCharsets.UTF_8));
    }

    static String sha256(Path f) throws IOException {
        MessageDigest md = ModelIdentity.digest();
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(f)) {
            int n;
            while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
