package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.ReasonIR;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A finished index folder, opened for search: {@code manifest.json}, {@code embeddings.npy} (memory-mapped, never
 * read into the heap) and {@code ids.jsonl} (held in memory). Opening checks that the three agree: a missing,
 * truncated or inconsistent file, or a folder that is not an index, is refused with a {@link RetrievalException}
 * that names the file. Thread-safe for search.
 */
public final class Index implements AutoCloseable {
    public static final String MANIFEST = "manifest.json";
    public static final String EMBEDDINGS = "embeddings.npy";
    public static final String IDS = "ids.jsonl";

    private final Path dir;
    private final IndexManifest manifest;
    private final String[] ids;
    private final MappedMatrix matrix;
    private volatile Map<String, Long> rowOfId;  // built on first use (excluded ids)

    private Index(Path dir, IndexManifest manifest, String[] ids, MappedMatrix matrix) {
        this.dir = dir;
        this.manifest = manifest;
        this.ids = ids;
        this.matrix = matrix;
    }

    /** Opens and checks an index folder written by {@link IndexBuilder}. */
    public static Index open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, "index folder " + dir + " does not exist");
        }
        Path mf = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(mf)) {
            boolean building = Files.exists(dir.resolve(PartialIndex.PROGRESS));
            throw new RetrievalException(building ? RetrievalException.Kind.CORRUPT : RetrievalException.Kind.FOREIGN,
                    building ? dir + " holds an unfinished index: run the same index command again to finish it"
                            : dir + " is not a ReasonIR index (no " + MANIFEST + ")");
        }
        IndexManifest m = IndexManifest.parse(Files.readAllBytes(mf), mf.toString());
        int dim = m.settings().model().dimension();
        Path emb = dir.resolve(EMBEDDINGS);
        if (!Files.isRegularFile(emb)) throw corrupt(emb + " is missing");
        Npy.Header h;
        try (FileChannel ch = FileChannel.open(emb, StandardOpenOption.READ)) {
            h = Npy.read(ch, emb);
            long want = Npy.HEADER_BYTES + h.rows() * h.cols() * (long) h.dtype().bytes();
            if (ch.size() != want) {
                throw corrupt(emb + " has " + ch.size() + " bytes, its header says " + want);
            }
        }
        if (h.dtype() != m.settings().dtype() || h.rows() != m.documents() || h.cols() != dim) {
            throw corrupt(emb + " holds " + h.rows() + " x " + h.cols() + " " + h.dtype() + ", the manifest says "
                    + m.documents() + " x " + dim + " " + m.settings().dtype());
        }
        String[] ids = readIds(dir.resolve(IDS), m.documents());
        return new Index(dir, m, ids, MappedMatrix.map(emb, Npy.HEADER_BYTES, h.rows(), dim, h.dtype()));
    }

    private static String[] readIds(Path f, long rows) throws IOException {
        if (!Files.isRegularFile(f)) throw corrupt(f + " is missing");
        if (rows > Integer.MAX_VALUE - 8) throw corrupt(f + ": " + rows + " rows is more than one index can hold");
        String[] out = new String[(int) rows];
        Set<String> seen = new HashSet<>();
        int n = 0;
        try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (n >= rows) throw corrupt(f + " has more than the " + rows + " ids the manifest lists");
                JsonNode v;
                try {
                    v = IndexManifest.JSON.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    v = null;
                }
                if (v == null || !v.isTextual()) throw corrupt(f + " line " + (n + 1) + " is not a JSON string");
                if (!seen.add(v.textValue())) throw corrupt(f + " line " + (n + 1) + ": duplicate id " + line);
                out[n++] = v.textValue();
            }
        } catch (java.nio.charset.MalformedInputException e) {
            throw corrupt(f + " is not valid UTF-8");
        }
        if (n != rows) throw corrupt(f + " has " + n + " ids, the manifest lists " + rows);
        return out;
    }

    private static RetrievalException corrupt(String message) {
        return new RetrievalException(RetrievalException.Kind.CORRUPT, message);
    }

    public Path dir() {
        return dir;
    }

    public IndexManifest manifest() {
        return manifest;
    }

    /** Number of documents (rows). */
    public int size() {
        return ids.length;
    }

    public String id(int row) {
        return ids[row];
    }

    /** The stored vector of a row, as float32. */
    public float[] vector(int row) {
        float[] v = new float[matrix.dim()];
        matrix.row(row, v);
        return v;
    }

    /**
     * Refuses a model whose vectors are not comparable with this index's: another config, tokenizer, weights or
     * dimension. Queries may use another max length, device or precision.
     */
    public void checkModel(ReasonIR model) {
        ModelIdentity mine = manifest.settings().model(), theirs = ModelIdentity.of(model);
        if (!mine.sameModel(theirs)) {
            throw new RetrievalException(RetrievalException.Kind.MISMATCH, "index " + dir + " was built with model "
                    + mine.name() + ", not with " + model.modelDir() + " (" + mine.differences(theirs)
                    + " differ); search it with the model that built it, or build a new index");
        }
    }

    /**
     * Exact top-{@code k} by cosine similarity for each query vector (unit norm, this index's dimension), ranked as
     * trec_eval ranks (score, then id, descending). {@code excludedIds} (null, or one collection per query, entries
     * may be null) are never returned; ids not in the index are ignored.
     */
    public List<List<Hit>> search(float[][] queries, int k, List<? extends Collection<String>> excludedIds,
                                  int threads) {
        if (excludedIds != null && excludedIds.size() != queries.length) {
            throw new IllegalArgumentException(queries.length + " queries but " + excludedIds.size()
                    + " excluded-id lists");
        }
        List<Set<Long>> rows = null;
        if (excludedIds != null) {
            Map<String, Long> byId = rowOfId();
            rows = new ArrayList<>();
            for (Collection<String> ex : excludedIds) {
                Set<Long> s = new HashSet<>();
                if (ex != null) {
                    for (String id : ex) {
                        Long r = byId.get(id);
                        if (r != null) s.add(r);
                    }
                }
                rows.add(s);
            }
        }
        return ExactSearch.search(matrix, ids, queries, k, rows, threads);
    }

    private Map<String, Long> rowOfId() {
        Map<String, Long> m = rowOfId;
        if (m == null) {
            m = new HashMap<>(ids.length * 2);
            for (int i = 0; i < ids.length; i++) m.put(ids[i], (long) i);
            rowOfId = m;
        }
        return m;
    }

    @Override
    public void close() {
        matrix.close();
    }
}
