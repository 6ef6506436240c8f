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
 * Scores a model on a local BRIGHT-format folder ({@link BrightDataset}) the way the official evaluation does
 * (facebookresearch/ReasonIR {@code evaluation/bright/run.py} with xlang-ai/BRIGHT's data): documents embedded with
 * the document prefix, queries with the task's official instruction ({@link Instructions#bright}, or
 * {@link Instructions#brightLong} in the long-document setting), each query's excluded ids removed, exact cosine
 * ranking cut to the top {@value #TOP_K}, then nDCG@10 (trec_eval's {@code ndcg_cut_10}), Recall@100, MRR@10 and the
 * uncut reciprocal rank per query, averaged per task over every query, those with an empty gold list as 0
 * ({@link Metrics}). Each task's index is cached under {@code cacheDir}, keyed by task, document set, model and
 * settings, so a second evaluation embeds only the queries.
 *
 * <p>One deliberate difference: an empty document is skipped (counted and listed in the results). The official code
 * embeds it, and its vector is NaN (a mean over zero pooled tokens), so its score is NaN for every query; Python's
 * {@code sorted} has no order for NaN, so where that document lands, and how it disorders the documents around it,
 * depends on its position in the corpus. There is no rule to reproduce; skipping is what the official ranking would
 * be if NaN sorted last.
 */
public final class BrightEval {
    /** Hits kept per query, as the official script keeps (its run files, its MRR). */
    public static final int TOP_K = 1000;
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
     * @param queries           "original" or a reasoning-query field such as "gpt4_reason"
     * @param longDocuments     long_documents.jsonl, gold_ids_long and the long-document query instructions
     * @param separateReasoning {@code run.py --separate_reasoning}: original query, {@code \n<REASON>\n}, reasoning
     * @param cacheDir          where task indexes are kept
     * @param index             how task indexes are built ({@link #officialIndex()}: fp32 vectors, as official)
     * @param threads           search threads (0: all cores)
     */
    public record Config(String queries, boolean longDocuments, boolean separateReasoning, Path cacheDir,
                         IndexBuilder.Config index, int threads) {
        public Config {
            if (separateReasoning && BrightDataset.ORIGINAL.equals(queries)) {
                throw new IllegalArgumentException("separate reasoning needs a reasoning-query field such as "
                        + "gpt4_reason, not the original queries");
            }
        }

        /** The label of this query setting in tables: the field, "+sep" with separate reasoning, ", long". */
        String label() {
            return queries + (separateReasoning ? "+sep" : "") + (longDocuments ? ", long" : "");
        }
    }

    /** The index settings of the official evaluation: document prefix "<|embed|>\n" and fp32 vectors. */
    public static IndexBuilder.Config officialIndex() {
        return IndexBuilder.Config.defaults().withDtype(Dtype.F32);
    }

    /**
     * One task's outcome.
     *
     * @param queryPrompt the instruction every query of the task was embedded with
     * @param revision    the dataset revision recorded by the export ({@code null}: not recorded)
     */
    public record TaskResult(String task, Metrics.Summary summary, List<Metrics.QueryScores> perQuery,
                             List<List<Hit>> hits, List<Search.Query> queries, IndexBuilder.Result index,
                             String queryPrompt, String revision, double querySeconds) {}

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

    /** The official query prompt of a task in the chosen setting. */
    public static String queryPrompt(String task, boolean longDocuments) {
        return longDocuments ? Instructions.brightLong(task) : Instructions.bright(task);
    }

    /** Evaluates {@code tasks} (names as in {@link BrightDataset#tasks()}) in order. */
    public static List<TaskResult> run(ReasonIR model, BrightDataset data, List<String> tasks, Config cfg,
                                       Listener listener) throws IOException {
        List<TaskResult> out = new ArrayList<>();
        for (String task : tasks) {
            // Refuse an unknown task before any work (its query instruction is not known).
            queryPrompt(task, cfg.longDocuments());
        }
        String modelId = ModelIdentity.of(model).shortId();
        for (String task : tasks) {
            Path docs = data.documents(task, cfg.longDocuments());
            List<BrightDataset.Example> examples = data.examples(task, cfg.queries(), cfg.longDocuments(),
                    cfg.separateReasoning());
            String revision = data.revision(task); // read before the slow part, so a bad source.json fails early
            // The key names everything the document vectors depend on except the document prefix, which eval never
            // changes (the manifest records it and a build refuses a mismatch). Query prompts are not cached: queries
            // are embedded on every run, so a change of query prompt can never meet stale vectors.
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
            String prompt = queryPrompt(task, cfg.longDocuments());
            List<Search.Query> queries = examples.stream()
                    .map(e -> new Search.Query(e.id(), e.query(), e.excludedIds())).toList();
            List<List<Hit>> hits;
            try (Index index = Index.open(dir)) {
                hits = Search.run(model, index, queries, prompt, TOP_K, cfg.threads());
            }
            List<Metrics.QueryScores> scores = new ArrayList<>();
            for (int q = 0; q < examples.size(); q++) {
                scores.add(Metrics.evaluate(examples.get(q).id(), hits.get(q),
                        Metrics.binaryQrels(examples.get(q).goldIds())));
            }
            TaskResult r = new TaskResult(task, Metrics.average(scores), scores, hits, queries, built, prompt,
                    revision, (System.nanoTime() - t0) / 1e9);
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
     * order) and their average; with the paper's ReasonIR-8B row below when the query setting has one; then a footer
     * naming the dataset revision, vectors and arithmetic.
     */
    public static String table(List<TaskResult> results, Config cfg) {
        List<String> labels = new ArrayList<>();
        List<String> ours = new ArrayList<>();
        List<String> paper = new ArrayList<>();
        double[] ref = cfg.longDocuments() || cfg.separateReasoning() ? null : PAPER.get(cfg.queries());
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
        b.append('\n').append(pad("this run (" + cfg.label() + ")", w));
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
        if (!results.isEmpty()) {
            IndexSettings s = results.get(0).index().manifest().settings();
            b.append("BRIGHT revision ").append(revisions(results)).append("; ")
                    .append(lower(s.dtype())).append(" vectors, ").append(s.backend()).append(' ')
                    .append(s.precision()).append(", top ").append(TOP_K).append('\n');
        }
        return b.toString();
    }

    /** The revision of the tasks' exports: one value, several joined by "/", "unrecorded" where none was written. */
    static String revisions(List<TaskResult> results) {
        return String.join("/", results.stream()
                .map(r -> r.revision() == null ? "unrecorded" : r.revision()).distinct().toList());
    }

    /** {@link #json} as pretty-printed UTF-8 bytes. */
    public static byte[] jsonBytes(List<TaskResult> results, Config cfg) {
        try {
            return IndexManifest.JSON.writeValueAsBytes(json(results, cfg));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Everything, per task and per query, as one JSON document (for {@code --out}), with what was run: per task the
     * exact query and document prompts, the vector dtype, the engine's precision, the dataset revision, the empty
     * documents skipped and the queries with an empty gold list (scored 0, averaged in).
     */
    public static ObjectNode json(List<TaskResult> results, Config cfg) {
        ObjectNode o = IndexManifest.JSON.createObjectNode();
        o.put("queries", cfg.queries()).put("separate_reasoning", cfg.separateReasoning())
                .put("long_documents", cfg.longDocuments()).put("top_k", TOP_K)
                .put("dataset_revision", results.isEmpty() ? null : revisions(results));
        ArrayNode tasks = o.putArray("tasks");
        for (TaskResult r : results) {
            IndexManifest m = r.index().manifest();
            ObjectNode t = tasks.addObject();
            t.put("task", r.task()).put("dataset_revision", r.revision()).put("queries", r.summary().queries())
                    .put("ndcg@10", r.summary().ndcg10()).put("recall@100", r.summary().recall100())
                    .put("mrr@10", r.summary().mrr10()).put("mrr", r.summary().mrr())
                    .put("query_prompt", r.queryPrompt()).put("document_prompt", m.settings().instruction())
                    .put("dtype", lower(m.settings().dtype())).put("backend", m.settings().backend())
                    .put("precision", m.settings().precision()).put("max_length", m.settings().maxLength())
                    .put("index", r.index().dir().toString()).put("documents", m.documents());
            ObjectNode empty = t.putObject("empty_documents_skipped");
            empty.put("count", m.empty().size());
            ArrayNode emptyIds = empty.putArray("ids");
            for (IndexManifest.EmptyDocument d : m.empty()) emptyIds.add(d.id());
            ObjectNode noGold = t.putObject("queries_without_gold");
            noGold.put("count", r.summary().noRelevant()).put("scored", "0, averaged in");
            ArrayNode noGoldIds = noGold.putArray("ids");
            for (Metrics.QueryScores s : r.perQuery()) if (s.relevant() == 0) noGoldIds.add(s.queryId());
            ArrayNode pq = t.putArray("per_query");
            for (Metrics.QueryScores s : r.perQuery()) {
                pq.addObject().put("query_id", s.queryId()).put("ndcg@10", s.ndcg10()).put("recall@100", s.recall100())
                        .put("mrr@10", s.mrr10()).put("mrr", s.mrr()).put("relevant", s.relevant())
                        .put("retrieved", s.retrieved());
            }
        }
        return o;
    }

    private static String lower(Dtype t) {
        return t.name().toLowerCase(Locale.ROOT);
    }

    private static String pct(double v) {
        return String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    private static String pad(String s, int w) {
        return s.length() >= w ? s : s + " ".repeat(w - s.length());
    }
}
