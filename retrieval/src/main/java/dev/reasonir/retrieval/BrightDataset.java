package dev.reasonir.retrieval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Instructions;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A local copy of the BRIGHT benchmark, laid out as {@code tools/bright/export_bright.py} writes it: one folder per
 * task, named by its BRIGHT key ({@code biology}, {@code leetcode}, ...), holding
 * <ul>
 *   <li>{@code documents.jsonl}: lines {@code {"id": "...", "content": "..."}} (read by {@link Corpus});</li>
 *   <li>{@code long_documents.jsonl} (optional, same layout): BRIGHT's long-document setting, which does not exist
 *       for leetcode, aops, theoremqa_questions and theoremqa_theorems;</li>
 *   <li>{@code examples.jsonl}: lines with {@code id}, {@code query}, {@code gold_ids}, {@code gold_ids_long},
 *       {@code excluded_ids}, and per exported reasoning-query config (e.g. {@code gpt4_reason}) two extra fields:
 *       {@code gpt4_reason}, the query as rewritten by that model, and {@code gpt4_reason_ids}, the object
 *       {@code {"gold_ids", "gold_ids_long", "excluded_ids"}} of that config's row. The official {@code run.py
 *       --reasoning} takes the query <em>and</em> these ids from the reasoning config, so they are used with it;</li>
 *   <li>{@code source.json} (optional): {@code {"dataset": "xlangai/BRIGHT", "revision": "..."}}, the dataset
 *       revision the export was made from ({@link #revision}).</li>
 * </ul>
 * A folder counts as a task when it holds {@code examples.jsonl}; the exporter writes that file last, so an export
 * cut short does not show up as a task with missing pieces.
 *
 * <p>Ids may be JSON strings or integers (some exports of BRIGHT-like data write numeric ids); an integer is taken as
 * its decimal text, so it matches the same id written as a string in the corpus. Errors about the folder's content
 * are {@link BrightFormatException}s naming the file and line; errors in the caller's arguments (an unknown task, an
 * impossible query field) are {@link IllegalArgumentException}s.
 */
public final class BrightDataset {
    /** The {@code queries} value that selects the original BRIGHT queries (field {@code query}). */
    public static final String ORIGINAL = "original";

    /** The BRIGHT tasks that have no long-document setting. */
    private static final Set<String> NO_LONG_DOCUMENTS =
            Set.of("leetcode", "aops", "theoremqa_questions", "theoremqa_theorems");
    /** Fields of examples.jsonl that hold something other than a query (BRIGHT's "reasoning" is the gold rationale). */
    private static final Set<String> NOT_QUERY_FIELDS =
            Set.of("id", "gold_ids", "gold_ids_long", "excluded_ids", "reasoning");
    /** Suffix of the field holding a reasoning config's own ids (gpt4_reason_ids for gpt4_reason). */
    public static final String IDS_SUFFIX = "_ids";
    /** What {@code run.py --separate_reasoning} puts between the original query and the reasoning. */
    public static final String REASON_SEPARATOR = "\n<REASON>\n";
    /** BRIGHT's placeholder in excluded_ids for "nothing to exclude". */
    private static final String NOT_APPLICABLE = "N/A";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One query of a task.
     *
     * @param id          the example id (the query id in runs and qrels)
     * @param query       the query text: the original query or the chosen reasoning rewrite
     * @param goldIds     the relevant document ids, without duplicates, in file order; may be empty, and may name
     *                    documents that are not in the corpus (they still count in the ideal ranking)
     * @param excludedIds ids to drop from this query's ranking before scoring, as the official evaluation does
     *                    (BRIGHT's "N/A" placeholder removed)
     */
    public record Example(String id, String query, List<String> goldIds, List<String> excludedIds) {
        public Example {
            if (id == null || query == null) throw new IllegalArgumentException("id and query must not be null");
            goldIds = List.copyOf(goldIds);
            excludedIds = List.copyOf(excludedIds);
        }
    }

    private final Path root;
    private final List<String> tasks;

    private BrightDataset(Path root, List<String> tasks) {
        this.root = root;
        this.tasks = tasks;
    }

    /**
     * Opens a BRIGHT-format folder and finds its tasks; nothing else is read until asked for.
     *
     * @throws BrightFormatException if {@code root} is not a directory or holds no task folder
     */
    public static BrightDataset open(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new BrightFormatException(root, "BRIGHT folder " + root + " is not a directory");
        }
        Set<String> found = new TreeSet<>();
        try (Stream<Path> children = Files.list(root)) {
            for (Path p : (Iterable<Path>) children::iterator) {
                if (Files.isDirectory(p) && Files.isRegularFile(p.resolve("examples.jsonl"))) {
                    found.add(p.getFileName().toString());
                }
            }
        }
        if (found.isEmpty()) {
            throw new BrightFormatException(root, "BRIGHT folder " + root + " holds no task folder (a subfolder such"
                    + " as biology/ with an examples.jsonl); export one with tools/bright/export_bright.py");
        }
        List<String> ordered = new ArrayList<>();
        for (String t : Instructions.BRIGHT_TASKS) {
            if (found.remove(t)) ordered.add(t);
        }
        ordered.addAll(found); // the rest, alphabetically
        return new BrightDataset(root, List.copyOf(ordered));
    }

    /** The folder this dataset was opened from. */
    public Path root() {
        return root;
    }

    /** The task folders found: BRIGHT's tasks in the benchmark's order, then any other folders alphabetically. */
    public List<String> tasks() {
        return tasks;
    }

    /**
     * The corpus file of a task.
     *
     * @param longDocuments {@code long_documents.jsonl} instead of {@code documents.jsonl}
     * @throws IllegalArgumentException if the task was not found
     * @throws BrightFormatException    if the file is missing
     */
    public Path documents(String task, boolean longDocuments) {
        Path dir = taskDir(task);
        Path file = dir.resolve(longDocuments ? "long_documents.jsonl" : "documents.jsonl");
        if (Files.isRegularFile(file)) return file;
        if (!longDocuments) {
            throw new BrightFormatException(file, "task " + task + " has no documents: " + file + " is missing");
        }
        if (NO_LONG_DOCUMENTS.contains(task)) {
            throw new BrightFormatException(file, "BRIGHT has no long documents for task " + task + " (only for "
                    + longDocumentTasks() + "); use its documents.jsonl");
        }
        throw new BrightFormatException(file, "task " + task + " has no long documents: " + file + " is missing"
                + " (the export left them out)");
    }

    /** Whether the task folder holds {@code long_documents.jsonl}. */
    public boolean hasLongDocuments(String task) {
        return Files.isRegularFile(taskDir(task).resolve("long_documents.jsonl"));
    }

    /**
     * Reads a task's queries and their gold and excluded ids.
     *
     * @param queries       {@value #ORIGINAL} for BRIGHT's queries, or the name of a reasoning-query field such as
     *                      {@code gpt4_reason}
     * @param longDocuments gold ids from {@code gold_ids_long} (ids of {@code long_documents.jsonl}) instead of
     *                      {@code gold_ids}; requires the task to have long documents
     * @return the examples in file order
     * @throws IllegalArgumentException if the task was not found or {@code queries} names no query field
     * @throws BrightFormatException    naming file and line: bad JSON or UTF-8, a missing or ill-typed field, a
     *                                  missing reasoning query, a duplicate example id, an id both gold and excluded,
     *                                  or no example at all
     */
    public List<Example> examples(String task, String queries, boolean longDocuments) throws IOException {
        return examples(task, queries, longDocuments, false);
    }

    /**
     * Reads a task's queries like {@link #examples(String, String, boolean)}, choosing between the two ways the
     * official {@code run.py} uses a reasoning config:
     * <ul>
     *   <li>{@code separateReasoning} false ({@code --reasoning R}): the reasoning config's query, and its gold and
     *       excluded ids (field {@code R_ids});</li>
     *   <li>{@code separateReasoning} true ({@code --reasoning R --separate_reasoning}): the original query, then
     *       {@value #REASON_SEPARATOR} (a newline, {@code <REASON>}, a newline), then the reasoning config's query;
     *       the ids of the examples config.</li>
     * </ul>
     *
     * @throws IllegalArgumentException if {@code separateReasoning} is asked with the original queries
     * @throws BrightFormatException    also when a reasoning query's ids are missing (an export made before they were
     *                                  exported)
     */
    public List<Example> examples(String task, String queries, boolean longDocuments, boolean separateReasoning)
            throws IOException {
        String queryField = queryField(queries);
        if (separateReasoning && queryField.equals("query")) {
            throw new IllegalArgumentException("separate reasoning needs a reasoning-query field such as gpt4_reason,"
                    + " not the original queries");
        }
        Path dir = taskDir(task);
        if (longDocuments) documents(task, true); // refuse early, with the same message
        Path file = dir.resolve("examples.jsonl");
        String goldField = longDocuments ? "gold_ids_long" : "gold_ids";

        List<Example> out = new ArrayList<>();
        Map<String, Long> seen = new HashMap<>();
        List<String> lines = readLines(file);
        for (int i = 0; i < lines.size(); i++) {
            long lineNo = i + 1;
            String line = lines.get(i);
            if (line.isBlank()) continue;
            Example ex = parseExample(file, lineNo, line, queryField, goldField, separateReasoning, out.isEmpty());
            Long before = seen.putIfAbsent(ex.id(), lineNo);
            if (before != null) {
                throw new BrightFormatException(file, lineNo, "duplicate example id \"" + ex.id()
                        + "\" (also on line " + before + ")");
            }
            out.add(ex);
        }
        if (out.isEmpty()) throw new BrightFormatException(file, file + " holds no examples");
        return List.copyOf(out);
    }

    /**
     * The dataset revision recorded by the exporter in {@code TASK/source.json}, or {@code null} when the export has
     * no such file (made before revisions were recorded) or does not say.
     *
     * @throws BrightFormatException if the file is there but is not a JSON object with a string "revision"
     */
    public String revision(String task) throws IOException {
        Path file = taskDir(task).resolve("source.json");
        if (!Files.isRegularFile(file)) return null;
        JsonNode n;
        try {
            n = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (JsonProcessingException | CharacterCodingException e) {
            throw new BrightFormatException(file, file + " is not valid JSON: " + e.getMessage());
        }
        JsonNode r = n == null || !n.isObject() ? null : n.get("revision");
        if (r == null || !(r.isTextual() || r.isNull())) {
            throw new BrightFormatException(file, file + " must be a JSON object with a string \"revision\"");
        }
        return r.isNull() || r.textValue().isBlank() ? null : r.textValue();
    }

    // ---- internals ----

    private Path taskDir(String task) {
        if (task == null || !tasks.contains(task)) {
            throw new IllegalArgumentException("unknown task \"" + task + "\" in " + root + "; tasks found: "
                    + tasks);
        }
        return root.resolve(task);
    }

    /**
     * The file's lines, split at {@code \n} (a {@code \r} before it dropped, a leading byte-order mark ignored), each
     * decoded strictly so that invalid UTF-8 is reported with its line number instead of becoming U+FFFD in a query.
     * Example files are small (BRIGHT has at most a few hundred queries per task), so reading them whole is fine.
     */
    private static List<String> readLines(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        List<String> lines = new ArrayList<>();
        int start = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB
                && (bytes[2] & 0xff) == 0xBF ? 3 : 0;
        while (start < bytes.length) {
            int end = start;
            while (end < bytes.length && bytes[end] != '\n') end++;
            int stop = end > start && bytes[end - 1] == '\r' ? end - 1 : end;
            try {
                lines.add(utf8.decode(ByteBuffer.wrap(bytes, start, stop - start)).toString());
            } catch (CharacterCodingException e) {
                throw new BrightFormatException(file, lines.size() + 1, "not valid UTF-8");
            }
            start = end + 1;
        }
        return lines;
    }

    private static String queryField(String queries) {
        if (queries == null || queries.isBlank()) {
            throw new IllegalArgumentException("queries must be \"" + ORIGINAL + "\" or a reasoning-query field name"
                    + " such as gpt4_reason");
        }
        if (queries.equals(ORIGINAL)) return "query";
        if (queries.equals("query")) {
            throw new IllegalArgumentException("give \"" + ORIGINAL + "\" for BRIGHT's original queries");
        }
        if (NOT_QUERY_FIELDS.contains(queries)) {
            throw new IllegalArgumentException("\"" + queries + "\" is not a query field; give \"" + ORIGINAL
                    + "\" or a reasoning-query field such as gpt4_reason");
        }
        return queries;
    }

    private static Example parseExample(Path file, long lineNo, String line, String queryField, String goldField,
                                        boolean separateReasoning, boolean first) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new BrightFormatException(file, lineNo, "not valid JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw new BrightFormatException(file, lineNo, "expected a JSON object");
        String id = id(n.get("id"), file, lineNo, "\"id\"");

        JsonNode q = n.get(queryField);
        if (q == null || q.isNull()) {
            if (queryField.equals("query")) throw new BrightFormatException(file, lineNo, "missing \"query\"");
            throw new BrightFormatException(file, lineNo, "no field \"" + queryField + "\": " + (first
                    ? "this export has no " + queryField + " queries"
                    : "example \"" + id + "\" lacks it although the examples before it have it"));
        }
        if (!q.isTextual()) {
            throw new BrightFormatException(file, lineNo, "\"" + queryField + "\" must be a string, got "
                    + describe(q));
        }
        if (q.textValue().isBlank()) {
            throw new BrightFormatException(file, lineNo, "\"" + queryField + "\" of example \"" + id + "\" is empty");
        }

        String query = q.textValue();
        // Where the ids come from: the examples row, or with a reasoning query (not separate) that config's own row.
        JsonNode idSource = n;
        String where = "";
        if (!queryField.equals("query") && !separateReasoning) {
            String idsField = queryField + IDS_SUFFIX;
            idSource = n.get(idsField);
            if (idSource == null || !idSource.isObject()) {
                throw new BrightFormatException(file, lineNo, "no object \"" + idsField + "\" for example \"" + id
                        + "\": the official evaluation takes the gold and excluded ids of " + queryField + " queries"
                        + " from the " + queryField + " config; export them again with tools/bright/export_bright.py");
            }
            where = idsField + ".";
        } else if (separateReasoning) {
            JsonNode original = n.get("query");
            if (original == null || !original.isTextual()) {
                throw new BrightFormatException(file, lineNo, "missing \"query\" (a string)");
            }
            query = original.textValue() + REASON_SEPARATOR + query;
        }
        JsonNode g = idSource.get(goldField);
        if (g == null || g.isNull()) {
            throw new BrightFormatException(file, lineNo, "missing \"" + where + goldField + "\"");
        }
        List<String> gold = ids(g, file, lineNo, where + goldField, false);

        JsonNode x = idSource.get("excluded_ids"); // optional: absent means nothing to exclude
        List<String> excluded = x == null || x.isNull() ? List.of()
                : ids(x, file, lineNo, where + "excluded_ids", true);
        for (String e : excluded) {
            if (gold.contains(e)) {
                throw new BrightFormatException(file, lineNo, "document \"" + e + "\" of example \"" + id
                        + "\" is both in " + where + goldField + " and in " + where + "excluded_ids");
            }
        }
        return new Example(id, query, gold, excluded);
    }

    /** An id array: strings or integers, duplicates collapsed; BRIGHT's "N/A" placeholder dropped where allowed. */
    private static List<String> ids(JsonNode array, Path file, long lineNo, String field, boolean dropNotApplicable) {
        if (!array.isArray()) {
            throw new BrightFormatException(file, lineNo, "\"" + field + "\" must be an array of ids, got "
                    + describe(array));
        }
        Set<String> out = new LinkedHashSet<>();
        for (int i = 0; i < array.size(); i++) {
            String id = id(array.get(i), file, lineNo, field + "[" + i + "]");
            if (!(dropNotApplicable && id.equals(NOT_APPLICABLE))) out.add(id);
        }
        return List.copyOf(out);
    }

    /** A string id, or an integer one as its decimal text; anything else is refused. */
    private static String id(JsonNode v, Path file, long lineNo, String what) {
        if (v == null || v.isNull()) throw new BrightFormatException(file, lineNo, "missing " + what);
        if (v.isTextual()) {
            if (v.textValue().isEmpty()) throw new BrightFormatException(file, lineNo, what + " is empty");
            return v.textValue();
        }
        if (v.isIntegralNumber()) return v.bigIntegerValue().toString();
        throw new BrightFormatException(file, lineNo, what + " must be a string or an integer, got " + describe(v));
    }

    private static String describe(JsonNode v) {
        return v.isContainerNode() ? "an " + v.getNodeType().name().toLowerCase() : v.toString();
    }

    private static List<String> longDocumentTasks() {
        return Instructions.BRIGHT_TASKS.stream().filter(t -> !NO_LONG_DOCUMENTS.contains(t)).toList();
    }
}
