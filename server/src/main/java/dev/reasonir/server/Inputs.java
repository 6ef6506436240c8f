package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Request-side input handling shared by the OpenAI and TEI routes: reading the {@code input}/{@code inputs} field
 * (a string, an array of strings, an array of token ids, or an array of token-id arrays), choosing the instruction
 * (prompt), and tokenizing on the request thread, so that every validation error is reported for its own request
 * before anything is queued for the engine.
 *
 * <p>Text is tokenized exactly as {@link ReasonIR#embed} does it ({@link ReasonIR#tokenize}: instruction + text, BOS
 * added, the instruction's tokens attended to but not pooled). Token-id inputs are used as given (no BOS added, no
 * instruction) and pooled from position 0.
 */
final class Inputs {
    /** One input: text or token ids (exactly one is non-null). */
    record Input(String text, int[] ids) {}

    /** Inputs as the engine takes them, how many tokens they are in all, and how many were truncated. */
    record Prepared(List<TokenizedInput> inputs, long tokens, int truncated) {}

    private final ReasonIR model;
    private final ServerConfig config;
    private final int vocab;

    Inputs(ReasonIR model, ServerConfig config) {
        this.model = model;
        this.config = config;
        this.vocab = model.vocabSize();
    }

    /** Reads the inputs in {@code node} (the value of field {@code field}); texts only when {@code textOnly}. */
    List<Input> parse(JsonNode node, String field, boolean textOnly) {
        if (node == null || node.isMissingNode() || node.isNull()) {
            throw ApiException.badRequest(field, "missing_input", "`" + field + "` is required");
        }
        List<Input> out = new ArrayList<>();
        if (node.isTextual()) {
            out.add(new Input(node.textValue(), null));
        } else if (node.isArray()) {
            if (node.isEmpty()) throw ApiException.empty(field, "`" + field + "` cannot be empty");
            if (!textOnly && node.get(0).isNumber()) {
                out.add(new Input(null, ids(node, field)));
            } else {
                for (int i = 0; i < node.size(); i++) {
                    JsonNode e = node.get(i);
                    if (e.isTextual()) {
                        out.add(new Input(e.textValue(), null));
                    } else if (!textOnly && e.isArray()) {
                        out.add(new Input(null, ids(e, field + "[" + i + "]")));
                    } else {
                        throw ApiException.badRequest(field, "invalid_type", "`" + field + "[" + i + "]` must be "
                                + (textOnly ? "a string" : "a string or an array of token ids") + ", got "
                                + typeName(e));
                    }
                }
            }
        } else {
            throw ApiException.badRequest(field, "invalid_type", "`" + field + "` must be "
                    + (textOnly ? "a string or an array of strings" : "a string, an array of strings, an array of "
                    + "token ids or an array of token-id arrays") + ", got " + typeName(node));
        }
        if (out.size() > config.maxClientBatchSize()) {
            throw ApiException.validation(field, "too_many_inputs", "batch size " + out.size()
                    + " > maximum allowed batch size " + config.maxClientBatchSize());
        }
        for (int i = 0; i < out.size(); i++) {
            Input in = out.get(i);
            if (in.text() != null && in.text().isEmpty()) {
                throw ApiException.empty(field, "`" + indexed(field, i, out.size()) + "` is an empty string");
            }
            if (in.ids() != null && in.ids().length == 0) {
                throw ApiException.empty(field, "`" + indexed(field, i, out.size()) + "` has no token ids");
            }
        }
        return out;
    }

    private int[] ids(JsonNode array, String field) {
        int[] ids = new int[array.size()];
        for (int j = 0; j < ids.length; j++) {
            JsonNode e = array.get(j);
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw ApiException.badRequest(field, "invalid_type", "`" + field + "[" + j + "]` must be an integer "
                        + "token id, got " + (e.isNumber() ? e.asText() : typeName(e)));
            }
            int id = e.intValue();
            if (id < 0 || id >= vocab) {
                throw ApiException.validation(field, "invalid_token_id", "`" + field + "[" + j + "]` is token id "
                        + id + ", outside the vocabulary [0, " + vocab + ")");
            }
            ids[j] = id;
        }
        return ids;
    }

    /**
     * The instruction of an OpenAI request: {@code instruction} (used verbatim, may be ""), or {@code task} +
     * {@code role} ("query", the default when {@code task} is given: the BRIGHT prompt of the task; "document":
     * {@link Instructions#DOCUMENT}), or {@code prompt_name}, or a {@code model} that names a prompt
     * ({@link ServerConfig#servedModelNames()}); at most one of the four; none: the default prompt. A {@code model}
     * this server does not serve is a 404 naming it.
     */
    String openAiInstruction(JsonNode root) {
        String modelPrompt = modelPrompt(root);
        boolean instruction = present(root, "instruction");
        boolean taskRole = present(root, "task") || present(root, "role");
        boolean promptName = present(root, "prompt_name");
        List<String> given = new ArrayList<>();
        if (!modelPrompt.isEmpty()) given.add("`model` \"" + string(root, "model") + "\" (prompt " + modelPrompt + ")");
        if (instruction) given.add("`instruction`");
        if (taskRole) given.add(present(root, "task") && present(root, "role") ? "`task`/`role`"
                : present(root, "task") ? "`task`" : "`role`");
        if (promptName) given.add("`prompt_name`");
        if (given.size() > 1) {
            throw ApiException.badRequest(promptName ? "prompt_name" : "task", "conflicting_prompt",
                    "conflicting prompt fields: " + String.join(" and ", given) + " were given together; use only "
                            + "one of `instruction`, `task` + `role`, `prompt_name`, a `model` that names a prompt");
        }
        if (!modelPrompt.isEmpty()) return prompt(modelPrompt);
        if (instruction) return string(root, "instruction");
        if (promptName) return prompt(string(root, "prompt_name"));
        if (taskRole) {
            String role = present(root, "role") ? string(root, "role") : "query";
            switch (role) {
                case "document":
                    return Instructions.DOCUMENT;
                case "query":
                    if (!present(root, "task")) {
                        throw ApiException.badRequest("task", "missing_task", "`role` \"query\" needs `task`, one of "
                                + Instructions.BRIGHT_TASKS);
                    }
                    String task = string(root, "task");
                    if (!Instructions.BRIGHT_TASKS.contains(task)) {
                        throw ApiException.badRequest("task", "unknown_task", "unknown `task` \"" + task
                                + "\"; known BRIGHT tasks: " + Instructions.BRIGHT_TASKS
                                + " (for another task send `instruction`)");
                    }
                    return Instructions.bright(task);
                default:
                    throw ApiException.badRequest("role", "unknown_role", "`role` must be \"query\" or \"document\", "
                            + "got \"" + role + "\"");
            }
        }
        return prompt(config.defaultPromptName());
    }

    /**
     * The prompt name the request's {@code model} chooses ("" when it chooses none: absent, or the plain model name).
     * Plain OpenAI clients send nothing but {@code model} and {@code input}, so the model name is their only way to ask
     * for a query prompt. An unknown name is refused rather than served with the default prompt: a query embedded
     * with the document prompt is still a unit vector, only a worse one, and nothing would say so.
     */
    private String modelPrompt(JsonNode root) {
        if (!present(root, "model")) return "";
        String name = string(root, "model");
        Map<String, String> served = config.servedModelNames();
        String prompt = served.get(name);
        if (prompt == null) {
            throw ApiException.modelNotFound("unknown `model` \"" + name + "\"; this server serves "
                    + served.keySet() + " (GET /v1/models): \"" + config.modelName() + "\" embeds with the default "
                    + "prompt \"" + config.defaultPromptName() + "\", \"" + config.modelName()
                    + ServerConfig.MODEL_PROMPT_SEPARATOR + "PROMPT\" with the prompt of that name");
        }
        return prompt;
    }

    /** The instruction of a TEI request: {@code prompt_name}, or the default prompt. */
    String teiInstruction(JsonNode root) {
        return prompt(present(root, "prompt_name") ? string(root, "prompt_name") : config.defaultPromptName());
    }

    private String prompt(String name) {
        String p = config.prompts().get(name);
        if (p == null) {
            throw ApiException.badRequest("prompt_name", "unknown_prompt", "unknown `prompt_name` \"" + name
                    + "\"; this server has " + config.prompts().keySet());
        }
        return p;
    }

    /**
     * The request's {@code truncate}, else the server's {@link ServerConfig#autoTruncate()}: one policy for both
     * routes, as TEI has it (a request flag over a server default).
     */
    boolean truncate(JsonNode root) {
        return bool(root, "truncate", config.autoTruncate());
    }

    /**
     * Tokenizes and checks every input. Inputs longer than {@code maxInputLength} tokens (instruction and BOS
     * included) are a 422 unless {@code truncate}, which keeps the first {@code maxInputLength} tokens as the Java
     * API's truncation does and counts them in {@link Prepared#truncated()}.
     */
    Prepared prepare(List<Input> inputs, String instruction, boolean truncate, String field) {
        int max = config.maxInputLength();
        List<TokenizedInput> out = new ArrayList<>(inputs.size());
        long tokens = 0;
        int truncated = 0;
        for (int i = 0; i < inputs.size(); i++) {
            Input in = inputs.get(i);
            TokenizedInput t = in.text() != null ? tokenize(instruction, in.text())
                    : TokenizedInput.of(in.ids(), 0);
            int original = t.originalLength();
            if (original > max) {
                if (!truncate) {
                    throw ApiException.validation(field, "input_too_long", where(i, inputs.size()) + "`" + field
                            + "` must have less than " + max + " tokens. Given: " + original
                            + (in.text() != null && !instruction.isEmpty() ? " (instruction included)" : "")
                            + "; send \"truncate\": true to keep the first " + max);
                }
                truncated++;
            }
            if (t.length() > max) t = new TokenizedInput(Arrays.copyOf(t.ids(), max), t.poolStart(), original);
            if (t.poolStart() >= t.length()) {
                throw ApiException.validation(field, "nothing_to_pool", where(i, inputs.size()) + "nothing left to "
                        + "pool: the instruction covers " + t.poolStart() + " of the " + t.length() + " tokens");
            }
            out.add(t);
            tokens += t.length();
        }
        return new Prepared(out, tokens, truncated);
    }

    private TokenizedInput tokenize(String instruction, String text) {
        try {
            return model.tokenize(instruction, text);
        } catch (ReasonIRException e) {
            if (e.kind() == ReasonIRException.Kind.TOKENIZER) {
                throw ApiException.tokenizer("Tokenizer error: " + e.getMessage());
            }
            throw ApiException.backend("Backend error: tokenizing failed: " + e.getMessage());
        } catch (IllegalStateException e) {
            throw ApiException.backend("Backend error: " + e.getMessage());
        }
    }

    /** A boolean field, or {@code dflt} when absent or null. */
    static boolean bool(JsonNode root, String field, boolean dflt) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) return dflt;
        if (!n.isBoolean()) {
            throw ApiException.badRequest(field, "invalid_type", "`" + field + "` must be a boolean, got "
                    + typeName(n));
        }
        return n.booleanValue();
    }

    /** A string field that is present (checked with {@link #present}). */
    static String string(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (!n.isTextual()) {
            throw ApiException.badRequest(field, "invalid_type", "`" + field + "` must be a string, got "
                    + typeName(n));
        }
        return n.textValue();
    }

    /** Present and not JSON null (clients often send null for "not set"). */
    static boolean present(JsonNode root, String field) {
        JsonNode n = root.get(field);
        return n != null && !n.isNull();
    }

    static String typeName(JsonNode n) {
        if (n == null || n.isMissingNode()) return "nothing";
        return n.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    private static String indexed(String field, int i, int n) {
        return n == 1 ? field : field + "[" + i + "]";
    }

    private static String where(int i, int n) {
        return n == 1 ? "" : "input " + i + ": ";
    }
}
