package dev.reasonir.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;

/** FLOPs per token of a Llama config (spec "Size of the work"); embedding gather, norms and softmax not counted. */
final class ModelFlops {
    private ModelFlops() {}

    static double perToken(Path modelDir, int seqLen) throws IOException {
        JsonNode c = new ObjectMapper().readTree(modelDir.resolve("config.json").toFile());
        double hidden = c.get("hidden_size").asDouble();
        double layers = c.get("num_hidden_layers").asDouble();
        double heads = c.get("num_attention_heads").asDouble();
        double inter = c.get("intermediate_size").asDouble();
        double kvHeads = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asDouble() : heads;
        double headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asDouble() : hidden / heads;
        double qd = heads * headDim, kvd = kvHeads * headDim;
        double linear = 2 * layers * (hidden * qd + 2 * hidden * kvd + qd * hidden + 3 * hidden * inter);
        double attention = 4 * layers * seqLen * qd;  // QK^T and PV over the sequence's own keys (non-causal)
        return linear + attention;
    }
}
