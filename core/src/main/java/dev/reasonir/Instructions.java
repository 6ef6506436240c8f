package dev.reasonir;

import java.util.List;
import java.util.Map;

/**
 * The GritLM-style prompts ReasonIR was trained with, and the query instructions of the official BRIGHT evaluation
 * (spec: "BRIGHT query instructions"). Documents always use {@link #DOCUMENT}.
 */
public final class Instructions {
    private Instructions() {}

    /** Prefix of every document: {@code "<|embed|>\n"}. */
    public static final String DOCUMENT = "<|embed|>\n";

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
}
