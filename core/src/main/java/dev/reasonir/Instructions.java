package dev.reasonir;

import java.util.List;
import java.util.Map;

/**
 * The GritLM-style prompts ReasonIR was trained with, and the query instructions of the official BRIGHT evaluation
 * (spec: "BRIGHT query instructions"). Documents always use {@link #DOCUMENT}.
 */
public final class Instructions {
    static {
        Logging.settle();  // a first touch of the core API (see Logging)
    }

    private Instructions() {}

    /** Prefix of every document: {@code "<|embed|>\n"}. */
    public static final String DOCUMENT = "<|embed|>\n";

    /**
     * The prompt of a text embedded without a role or instruction, on every surface: {@link ReasonIR#embed(List)},
     * CLI {@code embed} lines without {@code role}/{@code instruction}, the server's default prompt, the adapters'
     * untyped calls and the Spark job. It is {@link #DOCUMENT}: the text a user embeds without saying which side it is
     * on is, in a retrieval system, nearly always the corpus (queries need a task instruction, which cannot be
     * guessed), and the document prefix is what ReasonIR was trained with for that side. Raw text without any prefix
     * (the official {@code encode(text)} default) is a format the model never saw in training; it stays available as
     * the explicit empty instruction {@code ""}.
     */
    public static final String DEFAULT_PROMPT = DOCUMENT;

    /** How user-facing summaries name a prompt: {@code document ("<|embed|>\n")}, a BRIGHT task or the text. */
    public static String describe(String instruction) {
        String quoted = '"' + instruction.replace("\n", "\\n") + '"';
        if (instruction.equals(DOCUMENT)) return "document (" + quoted + ")";
        if (instruction.isEmpty()) return "none (raw text, every token pooled)";
        return quoted;
    }

    /** The BRIGHT task keys, in the benchmark's order. */
    public static final List<String> BRIGHT_TASKS = List.of(
            "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow", "sustainable_living",
            "leetcode", "pony", "aops", "theoremqa_theorems", "theoremqa_questions");

    private static final String POST = "Given a %s post, retrieve relevant passages that help answer the post";
    private static final String MATH_EXAMPLES =
            "Given a Math problem, retrieve relevant examples that help answer the problem";
    private static final Map<String, String> BRIGHT = Map.ofEntries(
            Map.entry("biology", String.format(POST, "biology")),
            Map.entry("earth_science", String.format(POST, "earth_science")),
            Map.entry("economics", String.format(POST, "economics")),
            Map.entry("psychology", String.format(POST, "psychology")),
            Map.entry("robotics", String.format(POST, "robotics")),
            Map.entry("stackoverflow", String.format(POST, "stackoverflow")),
            Map.entry("sustainable_living", String.format(POST, "sustainable_living")),
            Map.entry("pony", "Given a pony question, retrieve relevant passages that help answer the question"),
            Map.entry("leetcode", "Given a coding problem, retrieve relevant examples that help answer the problem"),
            Map.entry("aops", MATH_EXAMPLES),
            Map.entry("theoremqa_questions", MATH_EXAMPLES),
            Map.entry("theoremqa_theorems",
                    "Given a Math problem, retrieve relevant theorems that help answer the problem"));

    /**
     * Query instructions of BRIGHT's long-document setting ({@code instructions_long} of the official configs, used
     * with {@code run.py --long_context}): "documents" where the short setting says "passages". Only the tasks that
     * have long documents have one.
     */
    private static final Map<String, String> BRIGHT_LONG = Map.ofEntries(
            Map.entry("biology", longPost("biology")),
            Map.entry("earth_science", longPost("earth_science")),
            Map.entry("economics", longPost("economics")),
            Map.entry("psychology", longPost("psychology")),
            Map.entry("robotics", longPost("robotics")),
            Map.entry("stackoverflow", longPost("stackoverflow")),
            Map.entry("sustainable_living", longPost("sustainable_living")),
            Map.entry("pony", "Given a pony question, retrieve relevant documents that help answer the question"));

    // The official code fills {task} with the raw task key (str.format(task=task)), underscores and all.
    private static String longPost(String task) {
        return "Given a " + task + " post, retrieve relevant documents that help answer the post";
    }

    /** The query prompt for a free-form task description: {@code "<|user|>\n" + task + "\n<|embed|>\n"}. */
    public static String query(String taskInstruction) {
        if (taskInstruction == null || taskInstruction.isEmpty()) {
            throw new IllegalArgumentException("task instruction must not be empty");
        }
        return "<|user|>\n" + taskInstruction + "\n<|embed|>\n";
    }

    /** The official BRIGHT query prompt of a task key such as {@code "biology"} or {@code "theoremqa_theorems"}. */
    public static String bright(String task) {
        String t = BRIGHT.get(task);
        if (t == null) {
            throw new IllegalArgumentException("unknown BRIGHT task '" + task + "'; known: " + BRIGHT_TASKS);
        }
        return query(t);
    }

    /**
     * The official BRIGHT query prompt of a task in the long-document setting ({@code run.py --long_context}).
     *
     * @throws IllegalArgumentException for an unknown task or one without long documents (leetcode, aops,
     *                                  theoremqa_questions, theoremqa_theorems)
     */
    public static String brightLong(String task) {
        String t = BRIGHT_LONG.get(task);
        if (t == null) {
            bright(task); // an unknown task gets that message
            throw new IllegalArgumentException("BRIGHT task '" + task + "' has no long-document setting; tasks with "
                    + "long documents: " + BRIGHT_TASKS.stream().filter(BRIGHT_LONG::containsKey).toList());
        }
        return query(t);
    }
}
