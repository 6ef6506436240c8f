package dev.reasonir.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Instructions;

/**
 * One line of a CLI input file: either text ({@code {"text", "instruction"?}} or {@code {"text", "task", "role"}}) or
 * pre-tokenized ({@code {"ids": [...], "pool_start": k}}). Errors name the file and line.
 *
 * @param text        the text, or null for pre-tokenized input
 * @param instruction the instruction prefix ("" = none)
 * @param ids         pre-tokenized ids, or null for text input
 * @param poolStart   pre-tokenized pool_start
 */
record InputLine(String text, String instruction, int[] ids, int poolStart) {
    private static final ObjectMapper JSON = new ObjectMapper();

    boolean pretokenized() {
        return ids != null;
    }

    static InputLine parse(String line, String where) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CliException(where + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw new CliException(where + ": expected a JSON object");
        if (n.has("ids")) {
            if (n.has("text")) throw new CliException(where + ": give either \"text\" or \"ids\", not both");
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
        JsonNode t = n.get("text");
        if (t == null || !t.isTextual()) throw new CliException(where + ": needs a string \"text\" (or \"ids\")");
        String instruction = "";
        if (n.has("instruction")) {
            if (n.has("task")) throw new CliException(where + ": give either \"instruction\" or \"task\", not both");
            if (!n.get("instruction").isTextual()) throw new CliException(where + ": \"instruction\" must be a string");
            instruction = n.get("instruction").textValue();
        } else if (n.has("task") || n.has("role")) {
            String role = n.has("role") ? n.get("role").asText() : "query";
            if (role.equals("document")) {
                instruction = Instructions.DOCUMENT;
            } else if (role.equals("query")) {
                if (!n.has("task")) throw new CliException(where + ": role \"query\" needs a \"task\" (BRIGHT key)");
                try {
                    instruction = Instructions.bright(n.get("task").asText());
                } catch (IllegalArgumentException e) {
                    throw new CliException(where + ": " + e.getMessage());
                }
            } else {
                throw new CliException(where + ": \"role\" must be \"query\" or \"document\", got \"" + role + "\"");
            }
        }
        return new InputLine(t.textValue(), instruction, null, 0);
    }
}
