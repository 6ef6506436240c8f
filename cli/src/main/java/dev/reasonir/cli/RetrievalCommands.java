package dev.reasonir.cli;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.retrieval.BrightDataset;
import dev.reasonir.retrieval.BrightEval;
import dev.reasonir.retrieval.Corpus;
import dev.reasonir.retrieval.Dtype;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.Index;
import dev.reasonir.retrieval.IndexBuilder;
import dev.reasonir.retrieval.IndexManifest;
import dev.reasonir.retrieval.Search;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code index}, {@code search} and {@code eval}: thin layers over {@link IndexBuilder}, {@link Search} and
 * {@link BrightEval} that parse flags, draw progress and print summaries.
 */
final class RetrievalCommands {
    static final Set<String> INDEX_FLAGS = Set.of("corpus", "out", "instruction", "dtype", "on-empty",
            "commit-tokens", "commit-docs");
    static final Set<String> SEARCH_FLAGS = Set.of("index", "queries", "out", "jsonl", "task", "instruction", "top-k");
    static final Set<String> EVAL_FLAGS = Set.of("bright", "task", "queries", "long-documents", "cache", "out",
            "dtype");
    /** BRIGHT's official evaluation embeds with this max length (documents and queries). */
    static final int EVAL_MAX_LENGTH = 32768;

    private RetrievalCommands() {}

    static void index(Map<String, String> flags, PrintStream out, PrintStream err) throws IOException {
        Path corpus = Path.of(Main.required(flags, "corpus"));
        Path dir = Path.of(Main.required(flags, "out"));
        Options options = Main.options(flags, INDEX_FLAGS);
        IndexBuilder.Config cfg = indexConfig(flags);
        try (ReasonIR m = ReasonIR.open(Path.of(Main.required(flags, "model")), options)) {
            Main.printDevice(m, err);
            IndexBuilder.Result r;
            try (IndexProgress p = new IndexProgress(err, "index")) {
                r = IndexBuilder.build(m, corpus, dir, cfg, p);
            }
            printIndexSummary(r, err);
        }
    }

    static IndexBuilder.Config indexConfig(Map<String, String> flags) {
        IndexBuilder.Config cfg = IndexBuilder.Config.defaults();
        if (flags.containsKey("instruction")) cfg = cfg.withInstruction(flags.get("instruction"));
        if (flags.containsKey("dtype")) {
            try {
                cfg = cfg.withDtype(Dtype.parse(flags.get("dtype")));
            } catch (IllegalArgumentException e) {
                throw new CliException("--dtype: " + e.getMessage());
            }
        }
        if (flags.containsKey("on-empty")) {
            String v = flags.get("on-empty");
            if (!v.equals("skip") && !v.equals("fail")) {
                throw new CliException("--on-empty expects skip or fail, got '" + v + "'");
            }
            cfg = cfg.withFailOnEmpty(v.equals("fail"));
        }
        long tokens = Main.intFlag(flags, "commit-tokens", (int) cfg.commitTokens());
        int docs = Main.intFlag(flags, "commit-docs", cfg.commitDocuments());
        if (tokens < 1 || docs < 1) throw new CliException("--commit-tokens and --commit-docs must be >= 1");
        return cfg.withCommit(tokens, docs);
    }

    static void printIndexSummary(IndexBuilder.Result r, PrintStream err) {
        IndexManifest m = r.manifest();
        if (r.status() == IndexBuilder.Status.UP_TO_DATE) {
            err.printf(Locale.ROOT, "reasonir: %s is up to date (%d documents); nothing to do%n", r.dir(),
                    m.documents());
            return;
        }
        double s = r.nanos() / 1e9;
        err.printf(Locale.ROOT, "reasonir: %s %d documents, %d tokens in %.1f s (%.1f docs/s, %.0f tokens/s)%s "
                        + "-> %s%n", r.status() == IndexBuilder.Status.RESUMED ? "resumed and indexed" : "indexed",
                r.documentsThisRun(), r.tokensThisRun(), s, r.documentsThisRun() / s, r.tokensThisRun() / s,
                r.status() == IndexBuilder.Status.RESUMED ? " this run" : "", r.dir());
        err.printf(Locale.ROOT, "reasonir: engine %.1f s, waiting for the tokenizer %.2f s; index holds %d documents"
                + " (%s)%n", r.engineNanos() / 1e9, r.tokenizerWaitNanos() / 1e9, m.documents(),
                m.settings().dtype().name().toLowerCase(Locale.ROOT));
        if (!m.empty().isEmpty()) {
            err.printf(Locale.ROOT, "reasonir: %d empty documents skipped (listed in the manifest), first: line %d "
                    + "id %s%n", m.empty().size(), m.empty().get(0).line(), m.empty().get(0).id());
        }
        if (!m.truncated().isEmpty()) {
            err.printf(Locale.ROOT, "reasonir: %d documents truncated to the max length %d (listed in the "
                    + "manifest), first: line %d id %s (%d tokens)%n", m.truncated().size(), m.settings().maxLength(),
                    m.truncated().get(0).line(), m.truncated().get(0).id(), m.truncated().get(0).tokens());
        }
    }

    static void search(Map<String, String> flags, PrintStream out, PrintStream err) throws IOException {
        Path indexDir = Path.of(Main.required(flags, "index"));
        Path queriesFile = Path.of(Main.required(flags, "queries"));
        Path trec = Path.of(Main.required(flags, "out"));
        Path jsonl = flags.containsKey("jsonl") ? Path.of(flags.get("jsonl"))
                : trec.resolveSibling(trec.getFileName().toString().replaceFirst("\\.trec$", "") + ".jsonl");
        String instruction;
        if (flags.containsKey("task") == flags.containsKey("instruction")) {
            throw new CliException("give the queries' instruction: --task NAME (a BRIGHT task's official prompt) or "
                    + "--instruction TEXT (\"\" for none), not both");
        }
        if (flags.containsKey("task")) {
            try {
                instruction = Instructions.bright(flags.get("task"));
            } catch (IllegalArgumentException e) {
                throw new CliException(e.getMessage());
            }
        } else {
            instruction = flags.get("instruction");
        }
        int k = Main.intFlag(flags, "top-k", 100);
        if (k < 1) throw new CliException("--top-k must be >= 1");
        Options options = Main.options(flags, SEARCH_FLAGS);
        List<Search.Query> queries = Search.readQueries(queriesFile);
        try (ReasonIR m = ReasonIR.open(Path.of(Main.required(flags, "model")), options);
             Index index = Index.open(indexDir)) {
            Main.printDevice(m, err);
            long t0 = System.nanoTime();
            List<List<Hit>> hits = Search.run(m, index, queries, instruction, k, options.threads());
            double s = (System.nanoTime() - t0) / 1e9;
            Search.writeTrec(trec, queries, hits);
            Search.writeJsonl(jsonl, queries, hits);
            err.printf(Locale.ROOT, "reasonir: %d queries against %d documents in %.2f s (%.1f queries/s) -> %s, %s%n",
                    queries.size(), index.size(), s, queries.size() / s, trec, jsonl);
        }
    }

    static void eval(Map<String, String> flags, PrintStream out, PrintStream err) throws IOException {
        BrightDataset data = BrightDataset.open(Path.of(Main.required(flags, "bright")));
        String taskFlag = flags.getOrDefault("task", "all");
        String queries = flags.getOrDefault("queries", "original");
        boolean longDocs = flags.containsKey("long-documents");
        List<String> tasks = new ArrayList<>();
        if (taskFlag.equals("all")) {
            for (String t : data.tasks()) {
                if (longDocs && !data.hasLongDocuments(t)) {
                    err.println("reasonir: skipping " + t + ": no long documents in BRIGHT for this task");
                } else {
                    tasks.add(t);
                }
            }
        } else {
            for (String t : taskFlag.split(",")) {
                if (!data.tasks().contains(t)) {
                    throw new CliException("unknown task '" + t + "'; tasks in " + Main.required(flags, "bright")
                            + ": " + String.join(", ", data.tasks()));
                }
                tasks.add(t);
            }
        }
        for (String t : tasks) {
            try {
                Instructions.bright(t);
            } catch (IllegalArgumentException e) {
                throw new CliException("task folder '" + t + "' has no official BRIGHT query instruction; known "
                        + "tasks: " + String.join(", ", Instructions.BRIGHT_TASKS));
            }
        }
        Map<String, String> withLength = new java.util.HashMap<>(flags);
        withLength.putIfAbsent("max-length", Integer.toString(EVAL_MAX_LENGTH));
        Options options = Main.options(withLength, EVAL_FLAGS);
        Path outDir = Path.of(flags.getOrDefault("out", "reasonir-eval"));
        Path cache = flags.containsKey("cache") ? Path.of(flags.get("cache")) : defaultCache();
        IndexBuilder.Config indexCfg = IndexBuilder.Config.defaults();
        if (flags.containsKey("dtype")) indexCfg = indexConfig(Map.of("dtype", flags.get("dtype")));
        BrightEval.Config cfg = new BrightEval.Config(queries, longDocs, cache, indexCfg, options.threads());
        try (ReasonIR m = ReasonIR.open(Path.of(Main.required(flags, "model")), options)) {
            Main.printDevice(m, err);
            err.println("reasonir: " + tasks.size() + " tasks, queries " + queries + (longDocs ? ", long documents"
                    : "") + "; indexes cached in " + cache);
            List<BrightEval.TaskResult> results = BrightEval.run(m, data, tasks, cfg, new BrightEval.Listener() {
                IndexProgress current;

                @Override
                public IndexBuilder.Progress indexProgress(String task) {
                    current = new IndexProgress(err, task);
                    return current;
                }

                @Override
                public void done(BrightEval.TaskResult r) {
                    if (current != null) current.close();
                    int skipped = r.summary().skippedNoRelevant();
                    err.printf(Locale.ROOT, "reasonir: %-20s nDCG@10 %5.1f  Recall@100 %5.1f  MRR@10 %5.1f  (%d "
                                    + "queries%s, %d documents%s)%n", r.task(), 100 * r.summary().ndcg10(),
                            100 * r.summary().recall100(), 100 * r.summary().mrr10(), r.summary().queries(),
                            skipped == 0 ? "" : " + " + skipped + " without relevant documents, not averaged",
                            r.index().manifest().documents(),
                            r.index().status() == IndexBuilder.Status.UP_TO_DATE ? ", cached index" : "");
                }
            });
            Files.createDirectories(outDir);
            for (BrightEval.TaskResult r : results) {
                Search.writeTrec(outDir.resolve(r.task() + ".trec"), r.queries(), r.hits());
                Search.writeJsonl(outDir.resolve(r.task() + ".jsonl"), r.queries(), r.hits());
            }
            Files.write(outDir.resolve("results.json"), BrightEval.jsonBytes(results, queries, longDocs));
            String table = BrightEval.table(results, queries, longDocs);
            Files.writeString(outDir.resolve("table.txt"), table);
            out.print(table);
            err.println("reasonir: per-query results and run files in " + outDir);
        }
    }

    static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("reasonir").resolve("bright-indexes");
    }

    /** Index progress on the CLI's display. */
    static final class IndexProgress implements IndexBuilder.Progress, AutoCloseable {
        private final PrintStream err;
        private final String task;
        private ProgressDisplay display;

        IndexProgress(PrintStream err, String task) {
            this.err = err;
            this.task = task;
        }

        @Override
        public void started(Corpus.Scan corpus, long documentsDone, long charsDone) {
            if (documentsDone > 0) {
                err.printf(Locale.ROOT, "reasonir: resuming %s: %d of %d documents were committed before%n", task,
                        documentsDone, corpus.documents());
            }
            display = ProgressDisplay.start(err, task, "docs", corpus.documents(), documentsDone);
        }

        @Override
        public void committed(long documentsDone, long charsDone, long tokensDone, long tokensThisRun) {
            display.update(documentsDone, tokensDone, tokensThisRun);
        }

        @Override
        public void close() {
            if (display != null) display.close();
            display = null;
        }
    }
}
