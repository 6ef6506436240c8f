package dev.reasonir.cli;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.retrieval.BrightDataset;
import dev.reasonir.retrieval.BrightEval;
import dev.reasonir.retrieval.Corpus;
import dev.reasonir.retrieval.Dtype;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.Index;
import dev.reasonir.retrieval.IndexBuilder;
import dev.reasonir.retrieval.IndexManifest;
import dev.reasonir.retrieval.Search;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code index}, {@code search} and {@code eval}: thin layers over {@link IndexBuilder}, {@link Search} and
 * {@link BrightEval} that parse flags, draw progress and print summaries.
 */
final class RetrievalCommands {
    /** BRIGHT's official evaluation embeds with this max length (documents and queries). */
    static final int EVAL_MAX_LENGTH = 32768;

    private RetrievalCommands() {}

    @Command(name = "index", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Embeds a corpus of JSON lines {\"id\": \"...\", \"content\": \"...\"} into an index "
                    + "folder (manifest.json, embeddings.npy, ids.jsonl). Resumable: after any interruption, run the "
                    + "same command again. A finished index with the same settings is left as is."})
    static final class IndexCmd implements Callable<Integer> {
        @Mixin
        EngineOptions engine;
        @Mixin
        EngineOptions.BatchTokens batch;
        @Option(names = "--corpus", required = true, paramLabel = "DOCS.jsonl", description = "the documents")
        Path corpus;
        @Option(names = "--out", required = true, paramLabel = "INDEX_DIR", description = "the index folder")
        Path out;
        @Option(names = "--instruction", paramLabel = "TEXT",
                description = "document prefix (default \"<|embed|>\\n\")")
        String instruction;
        @Option(names = "--dtype", paramLabel = "T", defaultValue = "f16",
                description = "stored vectors: f16 or f32 (default: ${DEFAULT-VALUE})")
        String dtype;
        @Option(names = "--on-empty", paramLabel = "MODE", defaultValue = "skip",
                description = "empty documents are skipped and listed in the manifest (skip), or fail the run "
                        + "(default: ${DEFAULT-VALUE})")
        OnEmpty onEmpty;
        @Option(names = "--commit-tokens", paramLabel = "N", defaultValue = "262144",
                description = "commit a chunk every N tokens ... (default: ${DEFAULT-VALUE})")
        long commitTokens;
        @Option(names = "--commit-docs", paramLabel = "N", defaultValue = "4096",
                description = "... or every N documents (default: ${DEFAULT-VALUE})")
        int commitDocs;

        enum OnEmpty { skip, fail }

        @Override
        public Integer call() throws IOException {
            PrintStream err = Streams.err();
            IndexBuilder.Config cfg = indexConfig(instruction, dtype, onEmpty == OnEmpty.fail, commitTokens,
                    commitDocs);
            try (ReasonIR m = ReasonIR.open(engine.model(), engine.options(batch))) {
                Main.printDevice(m, err);
                IndexBuilder.Result r;
                try (IndexProgress p = new IndexProgress(err, "index")) {
                    r = IndexBuilder.build(m, corpus, out, cfg, p);
                } catch (ReasonIRException e) {
                    throw onDevice(e, m, out);
                }
                printIndexSummary(r, err);
            }
            return 0;
        }
    }

    /**
     * A device failure during {@code index}, in the CLI's terms: which device (with one engine the engine's own
     * message says only "cuda"), and that what was committed is kept, so that rerunning resumes, on any device of the
     * same model (the progress file records the backend and precision, which must match).
     */
    static ReasonIRException onDevice(ReasonIRException e, ReasonIR m, Path out) {
        if (e.kind() != ReasonIRException.Kind.DEVICE) return e;
        String devices = m.devices().stream().map(d -> d.name()).collect(java.util.stream.Collectors.joining(", "));
        return new ReasonIRException(e.kind(), "on " + devices + ": " + e.getMessage() + ". The documents committed"
                + " so far are kept in " + out + ": run the same command again (on this or another device) to resume",
                e);
    }

    static IndexBuilder.Config indexConfig(String instruction, String dtype, boolean failOnEmpty, long commitTokens,
                                           int commitDocs) {
        IndexBuilder.Config cfg = IndexBuilder.Config.defaults();
        if (instruction != null) cfg = cfg.withInstruction(instruction);
        try {
            cfg = cfg.withDtype(Dtype.parse(dtype));
        } catch (IllegalArgumentException e) {
            throw new CliException("--dtype: " + e.getMessage());
        }
        if (commitTokens < 1 || commitDocs < 1) {
            throw new CliException("--commit-tokens and --commit-docs must be >= 1");
        }
        return cfg.withFailOnEmpty(failOnEmpty).withCommit(commitTokens, commitDocs);
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

    /** The queries' instruction: exactly one of --task and --instruction. */
    static final class QueryInstruction {
        @Option(names = "--task", required = true, paramLabel = "NAME",
                description = "a BRIGHT task: its official query prompt")
        String task;
        @Option(names = "--instruction", required = true, paramLabel = "TEXT",
                description = "your own query instruction (\"\" for none)")
        String instruction;

        String resolve() {
            if (task == null) return instruction;
            try {
                return Instructions.bright(task);
            } catch (IllegalArgumentException e) {
                throw new CliException(e.getMessage());
            }
        }
    }

    @Command(name = "search", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Embeds query lines {\"id\": \"...\", \"query\": \"...\", \"excluded_ids\": [...]} and "
                    + "ranks the whole index for each (exact cosine). Writes a TREC run file and JSON lines."})
    static final class SearchCmd implements Callable<Integer> {
        @Mixin
        EngineOptions engine;
        @Mixin
        EngineOptions.BatchTokens batch;
        @Option(names = "--index", required = true, paramLabel = "INDEX_DIR", description = "an index folder")
        Path indexDir;
        @Option(names = "--queries", required = true, paramLabel = "Q.jsonl", description = "the queries")
        Path queriesFile;
        @Option(names = "--out", required = true, paramLabel = "RUN.trec", description = "the TREC run file")
        Path trec;
        @Option(names = "--jsonl", paramLabel = "FILE", description = "JSON lines results (default: RUN.jsonl)")
        Path jsonl;
        @ArgGroup(exclusive = true, multiplicity = "1")
        QueryInstruction instruction;
        @Option(names = "--top-k", paramLabel = "K", defaultValue = "100",
                description = "hits per query (default: ${DEFAULT-VALUE})")
        int k;

        @Override
        public Integer call() throws IOException {
            PrintStream err = Streams.err();
            if (k < 1) throw new CliException("--top-k must be >= 1");
            Path jsonlOut = jsonl != null ? jsonl
                    : trec.resolveSibling(trec.getFileName().toString().replaceFirst("\\.trec$", "") + ".jsonl");
            String instr = instruction.resolve();
            List<Search.Query> queries = Search.readQueries(queriesFile);
            try (Index index = Index.open(indexDir);
                 ReasonIR m = ReasonIR.open(engine.model(), engine.options(batch))) {
                Main.printDevice(m, err);
                long t0 = System.nanoTime();
                Search.Ranking ranking = Search.rank(m, index, queries, instr, k, engine.threads);
                List<List<Hit>> hits = ranking.hits();
                double s = (System.nanoTime() - t0) / 1e9;
                Search.writeTrec(trec, queries, hits);
                Search.writeJsonl(jsonlOut, queries, hits);
                err.printf(Locale.ROOT, "reasonir: %d queries against %d documents in %.2f s (%.1f queries/s) -> %s, "
                        + "%s%n", queries.size(), index.size(), s, queries.size() / s, trec, jsonlOut);
                if (!ranking.truncations().isEmpty()) {
                    var first = ranking.truncations().get(0);
                    err.printf(Locale.ROOT, "reasonir: %d queries truncated to --max-length %d (first: query %s, %d "
                            + "tokens)%n", ranking.truncations().size(), m.maxLength(),
                            queries.get(first.index()).id(), first.originalTokens());
                }
            }
            return 0;
        }
    }

    @Command(name = "eval", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            description = {"Scores the model on a local BRIGHT-format folder (BRIGHT_DIR/TASK/{documents,"
                    + "long_documents,examples}.jsonl; tools/bright/export_bright.py makes it) as the official "
                    + "evaluation (ReasonIR's evaluation/bright/run.py) does: the task's official query prompt (the "
                    + "long-document one with --long-documents), fp32 document vectors, top 1000 per query, nDCG@10 "
                    + "(trec_eval's ndcg_cut_10), Recall@100, MRR (uncut, as official) and MRR@10, every query "
                    + "averaged, one with no gold document as 0. Prints the paper-style table; per-query JSON (with "
                    + "the prompts, dtype, precision and dataset revision used) and run files go to --out. "
                    + "--max-length defaults to 32768, BRIGHT's setting.",
                    "Official settings: bf16 arithmetic (the CUDA default; --precision bf16 on the CPU) and --dtype "
                    + "f32 (the default). Approximations: the CPU default fp32, --dtype f16. Empty documents are "
                    + "skipped and counted (official: NaN vectors, ranked in no defined order)."})
    static final class EvalCmd implements Callable<Integer> {
        @Mixin
        EngineOptions engine;
        @Mixin
        EngineOptions.BatchTokens batch;
        @Option(names = "--bright", required = true, paramLabel = "BRIGHT_DIR", description = "the BRIGHT folder")
        Path bright;
        @Option(names = "--task", paramLabel = "all|NAME,...", defaultValue = "all",
                description = "tasks to run (default: ${DEFAULT-VALUE})")
        String taskFlag;
        @Option(names = "--queries", paramLabel = "original|FIELD", defaultValue = "original",
                description = "original queries, or a reasoning-query config such as gpt4_reason: its queries and, "
                        + "as run.py --reasoning, its gold and excluded ids (default: ${DEFAULT-VALUE})")
        String queries;
        @Option(names = "--separate-reasoning",
                description = "with --queries FIELD, as run.py --separate_reasoning: the original query, "
                        + "\"\\n<REASON>\\n\", then the reasoning query; ids of the examples")
        boolean separateReasoning;
        @Option(names = "--long-documents",
                description = "long_documents.jsonl, gold_ids_long and the official long-document query prompts")
        boolean longDocs;
        @Option(names = "--cache", paramLabel = "DIR",
                description = "task indexes (default: ~/.cache/reasonir/bright-indexes)")
        Path cache;
        @Option(names = "--out", paramLabel = "DIR", defaultValue = "reasonir-eval",
                description = "results.json, TASK.trec, TASK.jsonl, table.txt (default: ./${DEFAULT-VALUE})")
        Path outDir;
        @Option(names = "--dtype", paramLabel = "T", defaultValue = "f32",
                description = "stored document vectors: f32, as the official evaluation (default), or f16: half "
                        + "the disk and memory for huge corpora, but near-tied documents can swap places, so scores "
                        + "can differ from the official ones in the last digits")
        String dtype;

        @Override
        public Integer call() throws IOException {
            PrintStream out = Streams.out(), err = Streams.err();
            if (separateReasoning && queries.equals(BrightDataset.ORIGINAL)) {
                throw new CliException("--separate-reasoning needs --queries FIELD (a reasoning-query config such as "
                        + "gpt4_reason)");
            }
            BrightDataset data = BrightDataset.open(bright);
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
                        throw new CliException("unknown task '" + t + "'; tasks in " + bright + ": "
                                + String.join(", ", data.tasks()));
                    }
                    tasks.add(t);
                }
            }
            for (String t : tasks) {
                try {
                    BrightEval.queryPrompt(t, longDocs);
                } catch (IllegalArgumentException e) {
                    throw new CliException("task folder '" + t + "': " + e.getMessage());
                }
            }
            Path cacheDir = cache != null ? cache : defaultCache();
            IndexBuilder.Config indexCfg = indexConfig(null, dtype, false, IndexBuilder.Config.defaults()
                    .commitTokens(), IndexBuilder.Config.defaults().commitDocuments());
            BrightEval.Config cfg = new BrightEval.Config(queries, longDocs, separateReasoning, cacheDir, indexCfg,
                    engine.threads);
            try (ReasonIR m = ReasonIR.open(engine.model(), engine.options(EVAL_MAX_LENGTH, batch.value))) {
                Main.printDevice(m, err);
                err.println("reasonir: " + tasks.size() + " tasks, queries " + queries
                        + (separateReasoning ? " (separate reasoning)" : "") + (longDocs ? ", long documents" : "")
                        + "; indexes cached in " + cacheDir);
                List<BrightEval.TaskResult> results = BrightEval.run(m, data, tasks, cfg, listener(err));
                Files.createDirectories(outDir);
                for (BrightEval.TaskResult r : results) {
                    Search.writeTrec(outDir.resolve(r.task() + ".trec"), r.queries(), r.hits());
                    Search.writeJsonl(outDir.resolve(r.task() + ".jsonl"), r.queries(), r.hits());
                }
                Files.write(outDir.resolve("results.json"), BrightEval.jsonBytes(results, cfg));
                String table = BrightEval.table(results, cfg);
                Files.writeString(outDir.resolve("table.txt"), table);
                out.print(table);
                err.println("reasonir: per-query results and run files in " + outDir);
            }
            return 0;
        }
    }

    /** Per-task progress and one summary line per task. */
    private static BrightEval.Listener listener(PrintStream err) {
        return new BrightEval.Listener() {
            IndexProgress current;

            @Override
            public IndexBuilder.Progress indexProgress(String task) {
                current = new IndexProgress(err, task);
                return current;
            }

            @Override
            public void done(BrightEval.TaskResult r) {
                if (current != null) current.close();
                int noGold = r.summary().noRelevant();
                int empty = r.index().manifest().empty().size();
                err.printf(Locale.ROOT, "reasonir: %-20s nDCG@10 %5.1f  Recall@100 %5.1f  MRR %5.1f  MRR@10 %5.1f  "
                                + "(%d queries%s, %d documents%s%s)%n", r.task(), 100 * r.summary().ndcg10(),
                        100 * r.summary().recall100(), 100 * r.summary().mrr(), 100 * r.summary().mrr10(),
                        r.summary().queries(), noGold == 0 ? "" : ", " + noGold + " without gold scored 0",
                        r.index().manifest().documents(), empty == 0 ? "" : ", " + empty + " empty skipped",
                        r.index().status() == IndexBuilder.Status.UP_TO_DATE ? ", cached index" : "");
            }
        };
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
