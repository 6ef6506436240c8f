package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Queries against an index: read a query file, embed the queries with their instruction, rank the index, write the
 * ranking as a TREC run file and as JSON lines.
 */
public final class Search {
    /** Tag in the last column of TREC run lines. */
    public static final String RUN_TAG = "reasonir";

    /** A query: its id, its text, and the document ids it must never retrieve (e.g. BRIGHT's excluded_ids). */
    public record Query(String id, String text, List<String> excludedIds) {
        public Query {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(text, "text");
            excludedIds = excludedIds == null ? List.of() : List.copyOf(excludedIds);
        }
    }

    private Search() {}

    /**
     * Reads query lines {@code {"id": "...", "query": "...", "excluded_ids": [...]}} ("text" is accepted for
     * "query"; excluded_ids is optional). Errors name the file and line; duplicate ids name both lines.
     */
    public static List<Query> readQueries(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, "query file " + file + " does not exist");
        }
        List<Query> out = new ArrayList<>();
        Map<String, Long> seen = new HashMap<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            long lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String where = file + " line " + lineNo;
                JsonNode n;
                try {
                    n = IndexManifest.JSON.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw input(where + ": not valid JSON: " + e.getOriginalMessage());
                }
                if (n == null || !n.isObject()) throw input(where + ": expected a JSON object");
                String id = Corpus.id(n.get("id"), where);
                String field = n.has("query") ? "query" : n.has("text") ? "text" : "query";
                String text = Corpus.text(n.get(field), where, field);
                if (text.isBlank()) throw input(where + ": query \"" + id + "\" is empty");
                List<String> excluded = new ArrayList<>();
                JsonNode ex = n.get("excluded_ids");
                if (ex != null && !ex.isNull()) {
                    if (!ex.isArray()) throw input(where + ": \"excluded_ids\" must be an array of ids");
                    for (JsonNode e : ex) excluded.add(Corpus.id(e, where + " excluded_ids"));
                }
                Long before = seen.putIfAbsent(id, lineNo);
                if (before != null) {
                    throw input(file + ": duplicate query id \"" + id + "\" on line " + before + " and line " + lineNo);
                }
                out.add(new Query(id, text, excluded));
            }
        }
        if (out.isEmpty()) throw input("query file " + file + " holds no queries");
        return out;
    }

    /**
     * Embeds the queries (each prefixed by {@code instruction}) and ranks the index for each, top {@code k}, with
     * the query's excluded ids left out. {@code threads <= 0}: all cores.
     */
    public static List<List<Hit>> run(ReasonIR model, Index index, List<Query> queries, String instruction, int k,
                                      int threads) {
        return rank(model, index, queries, instruction, k, threads).hits();
    }

    /**
     * The rankings of {@link #run} and the queries the engine truncated to its max length
     * ({@code Truncation.index} is the query's position in {@code queries}).
     */
    public record Ranking(List<List<Hit>> hits, List<EmbeddingResult.Truncation> truncations) {}

    /** {@link #run}, also reporting truncated queries. */
    public static Ranking rank(ReasonIR model, Index index, List<Query> queries, String instruction, int k,
                               int threads) {
        index.checkModel(model);
        List<String> texts = queries.stream().map(Query::text).toList();
        EmbeddingResult e;
        try {
            e = model.embed(texts, instruction);
        } catch (InvalidInputException ex) {
            if (ex.inputIndex() < 0) throw ex;
            throw input("query \"" + queries.get(ex.inputIndex()).id() + "\": "
                    + ex.getMessage().replaceFirst("^input \\d+:? ?", ""));
        }
        return new Ranking(index.search(e.vectors(), k, queries.stream().map(Query::excludedIds).toList(), threads),
                e.truncations());
    }

    /**
     * Writes {@code qid Q0 docno rank score tag} lines, in ranking order. Scores are written with as many digits as
     * float32 needs to round-trip, so trec_eval reads the same ties and order as the ranking here.
     */
    public static void writeTrec(Path out, List<Query> queries, List<List<Hit>> hits) throws IOException {
        writeAtomically(out, w -> {
            for (int q = 0; q < queries.size(); q++) {
                int rank = 1;
                for (Hit h : hits.get(q)) {
                    w.write(queries.get(q).id() + " Q0 " + h.id() + " " + rank++ + " " + Float.toString(h.score())
                            + " " + RUN_TAG + "\n");
                }
            }
        });
    }

    /** Writes one JSON line per query: {@code {"query_id", "hits": [{"id", "rank", "score"}...]}}. */
    public static void writeJsonl(Path out, List<Query> queries, List<List<Hit>> hits) throws IOException {
        writeAtomically(out, w -> {
            for (int q = 0; q < queries.size(); q++) {
                ObjectNode o = IndexManifest.JSON.createObjectNode();
                o.put("query_id", queries.get(q).id());
                ArrayNode a = o.putArray("hits");
                int rank = 1;
                for (Hit h : hits.get(q)) a.addObject().put("id", h.id()).put("rank", rank++).put("score", h.score());
                w.write(IndexManifest.JSON.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT).writeValueAsString(o));
                w.write('\n');
            }
        });
    }

    /** Something that writes text. */
    interface Body {
        void write(Writer w) throws IOException;
    }

    /** Writes a file through a temporary sibling and a rename: a failure never leaves half a file. */
    static void writeAtomically(Path out, Body body) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            body.write(w);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static RetrievalException input(String message) {
        return new RetrievalException(RetrievalException.Kind.INPUT, message);
    }
}
