package dev.reasonir.retrieval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What determines an index's vectors besides the corpus: the model, the document instruction, the max length, the
 * stored dtype, and the engine's backend and precision (CPU fp32, CPU bf16 and CUDA bf16 give slightly different
 * vectors, so a build is resumed only with the same ones).
 *
 * @param model       the model's identity
 * @param instruction the prefix of every document (its tokens are attended to, not pooled)
 * @param maxLength   tokens per document, BOS included; longer documents are truncated and listed
 * @param dtype       element type of the stored matrix
 * @param backend     "cpu" or "cuda"
 * @param precision   "fp32" or "bf16"
 */
public record IndexSettings(ModelIdentity model, String instruction, int maxLength, Dtype dtype, String backend,
                            String precision) {

    void writeTo(ObjectNode o) {
        ObjectNode m = o.putObject("model");
        m.put("name", model.name()).put("config_sha256", model.configSha256())
                .put("tokenizer_sha256", model.tokenizerSha256())
                .put("weights_fingerprint", model.weightsFingerprint()).put("dimension", model.dimension());
        o.put("instruction", instruction);
        o.put("max_length", maxLength);
        o.put("dtype", dtype.name().toLowerCase(Locale.ROOT));
        ObjectNode e = o.putObject("engine");
        e.put("backend", backend).put("precision", precision);
    }

    static IndexSettings readFrom(JsonNode o, String where) {
        IndexManifest.Fields r = new IndexManifest.Fields(o, where);
        IndexManifest.Fields m = new IndexManifest.Fields(r.object("model"), where + " model");
        IndexManifest.Fields e = new IndexManifest.Fields(r.object("engine"), where + " engine");
        Dtype dtype;
        try {
            dtype = Dtype.parse(r.string("dtype"));
        } catch (IllegalArgumentException ex) {
            throw new RetrievalException(RetrievalException.Kind.CORRUPT, where + ": " + ex.getMessage());
        }
        return new IndexSettings(new ModelIdentity(m.string("name"), m.string("config_sha256"),
                m.string("tokenizer_sha256"), m.string("weights_fingerprint"), (int) m.longField("dimension")),
                r.string("instruction"), (int) r.longField("max_length"), dtype, e.string("backend"),
                e.string("precision"));
    }

    /**
     * How {@code wanted} differs from these (recorded) settings, one phrase per field, e.g. "max length 512 (index)
     * vs 1024 (requested)"; empty when they agree. Backend and precision count only when {@code engineToo}.
     */
    List<String> differences(IndexSettings wanted, boolean engineToo) {
        List<String> d = new ArrayList<>();
        if (!model.sameModel(wanted.model)) {
            d.add("model (" + model.name() + " vs " + wanted.model.name() + ": " + model.differences(wanted.model)
                    + " differ)");
        }
        if (!instruction.equals(wanted.instruction)) {
            d.add("instruction (" + quote(instruction) + " vs " + quote(wanted.instruction) + ")");
        }
        if (maxLength != wanted.maxLength) d.add("max length (" + maxLength + " vs " + wanted.maxLength + ")");
        if (dtype != wanted.dtype) d.add("dtype (" + lower(dtype) + " vs " + lower(wanted.dtype) + ")");
        if (engineToo && !(backend.equals(wanted.backend) && precision.equals(wanted.precision))) {
            d.add("engine (" + backend + " " + precision + " vs " + wanted.backend + " " + wanted.precision + ")");
        }
        return d;
    }

    private static String lower(Dtype t) {
        return t.name().toLowerCase(Locale.ROOT);
    }

    /** A short JSON-style rendering of an instruction (they contain newlines). */
    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\"", "\\\"") + "\"";
    }
}
