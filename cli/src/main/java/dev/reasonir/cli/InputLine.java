package dev.reasonir.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Instructions;

import java.util.Iterator;
import java.util.Set;

/**
 * One line of a CLI input file: either text ({@code {"text", "instruction"?}} or {@code {"text", "task", "role"}} or
 * {@code {"text", "role": "document"}}) or pre-tokenized ({@code {"ids": [...], "pool_start": k}}). Read strictly,
 * because a loosely read line loses inputs or instructions without a word: exactly one JSON object per line, no
 * trailing text, no duplicate or unknown keys, no conflicting fields. Errors name the file and line.
 *
 * @param text        the text, or null for pre-tokenized input
 * @param instruction the instruction prefix: {@link Instructions#DEFAULT_PROMPT} for a text line without
 *                    {@code instruction}/{@code role}, "" only when the line says {@code "instruction": ""}
 * @param ids         pre-tokenized ids, or null for text input
 * @param poolStart   pre-tokenized pool_start
 */
record InputLine(String text, String instruction, int[] ids, int poolStart) {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Set<String> KEYS = Set.of("text", "instruction", "task", "role", "ids", "pool_start");

    boolean pretokenized() {
        return ids != null;
    }

    static InputLine parse(String line, String where) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (com.fasterxml.jackson.databind.exc.MismatchedInputException e) {
            if (e.getOriginalMessage().startsWith("Trailing token")) {
                throw new CliException(where + ": not valid JSON: text after the object (one object per line)");
            }
            throw new CliException(where + ": not valid JSON: " + e.getOriginalMessage());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CliException(where + ": not valid JSON (one object per line): " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw new CliException(where + ": expected a JSON object");
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) {
                throw new CliException(where + ": unknown key \"" + k + "\" (known: text, instruction, task, role, "
                        + "ids, pool_start)");
            }
        }
        if (n.has("ids")) return pretokenized(n, where);
        if (n.has("pool_start")) throw new CliException(where + ": \"pool_start\" goes with \"ids\", not \"text\"");
        JsonNode t = n.get("text");
        if (t == null || !t.isTextual()) throw new CliException(where + ": needs a string \"text\" (or \"ids\")");
        return new InputLine(t.textValue(), instruction(n, where), null, 0);
    }

    /**
     * The instruction of a text line. The rule: "instruction" alone (any text, "" = none), or "role": "document"
     * alone (the document prefix), or "role": "query" with "task" (a BRIGHT task's prompt), or neither (the default
     * prompt, the document prefix); nothing else mixes.
     */
    private static String instruction(JsonNode n, String where) {
        boolean instr = n.has("instruction"), task = n.has("task"), role = n.has("role");
        if (instr && (task || role)) {
            throw new CliException(where + ": give either \"instruction\" or \"task\"/\"role\", not both");
        }
        if (instr) {
            if (!n.get("instruction").isTextual()) throw new CliException(where + ": \"instruction\" must be a string");
            return n.get("instruction").textValue();
        }
        if (task && !role) {
            throw new CliException(where + ": \"task\" needs \"role\": \"query\" (documents use \"role\": "
                    + "\"document\" and no task)");
        }
        // No role and no instruction: the default prompt of every surface (Instructions.DEFAULT_PROMPT, the document
        // prefix), so that this line gets the vector the server, the adapters and Spark give the same text.
        if (!role) return Instructions.DEFAULT_PROMPT;
        String r = n.get("role").asText();
        if (r.equals("document")) {
            if (task) throw new CliException(where + ": \"role\": \"document\" takes no \"task\"");
            return Instructions.DOCUMENT;
        }
        if (!r.equals("query")) {
            throw new CliException(where + ": \"role\" must be \"query\" or \"document\", got \"" + r + "\"");
        }
        if (!task) throw new CliException(where + ": role \"query\" needs a \"task\" (BRIGHT key)");
        try {
            return Instructions.bright(n.get("task").asText());
        } catch (IllegalArgumentException e) {
            throw new CliException(where + ": " + e.getMessage());
        }
    }

    private static InputLine pretokenized(JsonNode n, String where) {
        if (n.has("text") || n.has("instruction") || n.has("task") || n.has("role")) {
            throw new CliException(where + ": give either \"text\" (with its instruction) or \"ids\", not both");
        }
        JsonNode ids = n.get("ids");
        if (!ids.isArray() || ids.isEmpty()) throw new CliException(where + ": \"ids\" must be a non-empty array");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = ids.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new CliException(where + ": ids[" + i + "] is not a 32-bit integer: " + v);
            }
            out[i] = v.intValue();
        }
        int poolStart = 0;
        if (n.has("pool_start")) {
            JsonNode p = n.get("pool_start");
            if (!p.isIntegralNumber() || !p.canConvertToInt()) {
                throw new CliException(where + ": \"pool_start\" must be an integer, got " + p);
            }
            poolStart = p.intValue();
        }
        return new InputLine(null, "", out, poolStart);
    }
}
