package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Scores a model on a local BRIGHT-format folder ({@link BrightDataset}) the way the ReasonIR paper does: documents
 * embedded with the document prefix, queries with the task's official instruction ({@link Instructions#bright}),
 * each query's excluded ids removed, exact cosine ranking, then nDCG@10 (trec_eval's {@code ndcg_cut_10}),
 * Recall@100 and MRR@10 per query, averaged per task ({@link Metrics}). Each task's index is cached under
 * {@code cacheDir}, keyed by task, document set, model and settings, so a second evaluation embeds only the queries.
 */
public final class BrightEval {
    /** Hits kept per query: enough for Recall@100. */
    public static final int TOP_K = 100;
    /** Paper column labels, in the paper's order. */
    static final List<String[]> COLUMNS = List.of(new String[] {"biology", "Bio"},
            new String[] {"earth_science", "Earth"}, new String[] {"economics", "Econ"},
            new String[] {"psychology", "Psy"}, new String[] {"robotics", "Rob"},
            new String[] {"stackoverflow", "Stack"}, new String[] {"sustainable_living", "Sus"},
            new String[] {"leetcode", "Leet"}, new String[] {"pony", "Pony"}, new String[] {"aops", "AoPS"},
            new String[] {"theoremqa_questions", "TheoQ"}, new String[] {"theoremqa_theorems", "TheoT"});
    /** ReasonIR-8B's published nDCG@10 x 100 per task, in {@link #COLUMNS} order, then the average. */
    static final Map<String, double[]> PAPER = Map.of(
            "original", new double[] {26.2, 31.4, 23.3, 30.0, 18.0, 23.9, 20.5, 35.0, 10.5, 14.7, 31.9, 27.2, 24.4},
            "gpt4_reason", new double[] {43.6, 42.9, 32.7, 38.8, 20.9, 25.8, 27.5, 31.5, 19.6, 7.4, 33.1, 35.7, 29.9});

    /**
     * How to evaluate.
     *
     * @param queries       "original" or a reasoning-query field such as "gpt4_reason"
     * @param longDocuments use long_documents.jsonl and gold_ids_long
     * @param cacheDir      where task indexes are kept
     * @param index         how task indexes are built
     * @param threads       search threads (0: all cores)
     */
    public record Config(String queries, boolean longDocuments, Path cacheDir, IndexBuilder.Config index,
                         int threads) {}

    /** One task's outcome. */
    public record TaskResult(String task, Metrics.Summary summary, List<Metrics.QueryScores> perQuery,
                             List<List<Hit>> hits, List<Search.Query> queries, IndexBuilder.Result index,
                             double querySeconds) {}

    /** Callbacks per task (the CLI prints progress with them). */
    public interface Listener {
        Listener NONE = new Listener() {};

        default void indexing(String task, Path documents, Path indexDir) {}

        default IndexBuilder.Progress indexProgress(String task) {
            return IndexBuilder.Progress.NONE;
        }

        default void done(TaskResult r) {}
    }

    private BrightEval() {}

    /** Evaluates {@code tasks} (names as in {@link BrightDataset#tasks()}) in order. */
    public static List<TaskResult> run(ReasonIR model, BrightDataset data, List<String> tasks, Config cfg,
                                       Listener listener) throws IOException {
        List<TaskResult> out = new ArrayList<>();
        for (String task : tasks) {
            // Refuse an unknown task before any work (its query instruction is not known).
            Instructions.bright(task);
        }
        String modelId = ModelIdentity.of(model).shortId();
        for (String task : tasks) {
            Path docs = data.documents(task, cfg.longDocuments());
            List<BrightDataset.Example> examples = data.examples(task, cfg.queries(), cfg.longDocuments());
            Path dir = cfg.cacheDir().resolve(task + (cfg.longDocuments() ? "-long" : "") + "-" + modelId + "-L"
                    + model.maxLength() + "-" + cfg.index().dtype().name().toLowerCase(Locale.ROOT) + "-"
                    + model.backend() + "-" + model.precision().name().toLowerCase(Locale.ROOT));
            listener.indexing(task, docs, dir);
            IndexBuilder.Result built;
            try {
                built = IndexBuilder.build(model, docs, dir, cfg.index(), listener.indexProgress(task));
            } catch (RetrievalException e) {
                if (e.kind() != RetrievalException.Kind.MISMATCH || !e.getMessage().contains("corpus")) throw e;
                // The cached index is of an older copy of the documents: build it again.
                deleteIndexFolder(dir);
                built = IndexBuilder.build(model, docs, dir, cfg.index(), listener.indexProgress(task));
            }
            long t0 = System.nanoTime();
            List<Search.Query> queries = examples.stream()
                    .map(e -> new Search.Query(e.id(), e.query(), e.excludedIds())).toList();
            List<List<Hit>> hits;
            try (Index index = Index.open(dir)) {
                hits = Search.run(model, index, queries, Instructions.bright(task), TOP_K, cfg.threads());
            }
            List<Metrics.QueryScores> scores = new ArrayList<>();
            for (int q = 0; q < examples.size(); q++) {
                scores.add(Metrics.evaluate(examples.get(q).id(), hits.get(q),
                        Metrics.binaryQrels(examples.get(q).goldIds())));
            }
            TaskResult r = new TaskResult(task, Metrics.average(scores), scores, hits, queries, built,
                    (System.nanoTime() - t0) / 1e9);
            listener.done(r);
            out.add(r);
        }
        return out;
    }

    /** Deletes a cached index folder, only if it looks like one (never a folder of other files). */
    private static void deleteIndexFolder(Path dir) throws IOException {
        if (!Files.exists(dir.resolve(Index.MANIFEST))) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /**
     * The results as the paper prints them: nDCG@10 x 100 with one decimal, one column per task evaluated (paper
     * order) and their average; with the paper's ReasonIR-8B row below when {@code queries} has one.
     */
    public static String table(List<TaskResult> results, String queries, boolean longDocuments) {
        List<String> labels = new ArrayList<>();
        List<String> ours = new ArrayList<>();
        List<String> paper = new ArrayList<>();
        double[] ref = longDocuments ? null : PAPER.get(queries);
        double sum = 0, refSum = 0;
        int n = 0, refCount = 0;
        for (int c = 0; c < COLUMNS.size(); c++) {
            String[] col = COLUMNS.get(c);
            for (TaskResult r : results) {
                if (!r.task().equals(col[0])) continue;
                labels.add(col[1]);
                ours.add(pct(r.summary().ndcg10()));
                sum += r.summary().ndcg10();
                n++;
                if (ref != null) {
                    paper.add(String.format(Locale.ROOT, "%.1f", ref[c]));
                    refSum += ref[c];
                    refCount++;
                }
            }
        }
        for (TaskResult r : results) {  // tasks outside the paper's twelve, in run order
            if (COLUMNS.stream().noneMatch(col -> col[0].equals(r.task()))) {
                labels.add(r.task());
                ours.add(pct(r.summary().ndcg10()));
                paper.add("-");
                sum += r.summary().ndcg10();
                n++;
            }
        }
        labels.add("Avg");
        ours.add(n == 0 ? "-" : pct(sum / n));
        StringBuilder b = new StringBuilder();
        int w = 22;
        b.append(pad("nDCG@10 x100", w));
        for (String l : labels) b.append(String.format(Locale.ROOT, " %6s", l));
        b.append('\n').append(pad("this run (" + queries + (longDocuments ? ", long" : "") + ")", w));
        for (String v : ours) b.append(String.format(Locale.ROOT, " %6s", v));
        b.append('\n');
        if (ref != null) {
            // The published average over all twelve tasks; over a subset, the mean of the published task scores.
            paper.add(String.format(Locale.ROOT, "%.1f", refCount == COLUMNS.size() ? ref[12]
                    : refSum / Math.max(1, refCount)));
            b.append(pad("paper ReasonIR-8B", w));
            for (String v : paper) b.append(String.format(Locale.ROOT, " %6s", v));
            b.append('\n');
        }
        return b.toString();
    }

    /** {@link #json} as pretty-printed UTF-8 bytes. */
    public static byte[] jsonBytes(List<TaskResult> results, String queries, boolean longDocuments) {
        try {
            return IndexManifest.JSON.writeValueAsBytes(json(results, queries, longDocuments));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Everything, per task and per query, as one JSON document (for {@code --out}). */
    public static ObjectNode json(List<TaskResult> results, String queries, boolean longDocuments) {
        ObjectNode o = IndexManifest.JSON.createObjectNode();
        o.put("queries", queries).put("long_documents", longDocuments);
        ArrayNode tasks = o.putArray("tasks");
        for (TaskResult r : results) {
            ObjectNode t = tasks.addObject();
            t.put("task", r.task()).put("queries", r.summary().queries())
                    .put("skipped_no_relevant", r.summary().skippedNoRelevant())
                    .put("ndcg@10", r.summary().ndcg10()).put("recall@100", r.summary().recall100())
                    .put("mrr@10", r.summary().mrr10()).put("index", r.index().dir().toString())
                    .put("documents", r.index().manifest().documents());
            ArrayNode pq = t.putArray("per_query");
            for (Metrics.QueryScores s : r.perQuery()) {
                pq.addObject().put("query_id", s.queryId()).put("ndcg@10", s.ndcg10()).put("recall@100", s.recall100())
                        .put("mrr@10", s.mrr10()).put("relevant", s.relevant()).put("retrieved", s.retrieved());
            }
        }
        return o;
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    private static String pad(String s, int w) {
        return s.length() >= w ? s : s + " ".repeat(w - s.length());
    }
}
