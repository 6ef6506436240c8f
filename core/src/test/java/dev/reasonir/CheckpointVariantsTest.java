package dev.reasonir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.internal.NativeModel;
import dev.reasonir.internal.ReasonIRNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every name/layout variant of a checkpoint gives the same embeddings; every kind of broken checkpoint gives a
 * {@link CheckpointException} naming the file and tensor. Base: llama3_gqa (3 shards + index, "model." prefix,
 * lm_head present) and plain_mha (single file, no prefix).
 */
class CheckpointVariantsTest {
    static float[][] reference;
    static List<TokenizedInput> inputs;

    @BeforeAll
    static void embedOriginal() {
        inputs = Fixtures.inputs("llama3_gqa").subList(0, 5);
        reference = embed(Fixtures.checkpoint("llama3_gqa"));
    }

    static float[][] embed(Path dir) {
        try (ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withMaxLength(4096))) {
            return m.embedTokens(inputs).vectors();
        }
    }

    /** All tensors of the sharded llama3_gqa checkpoint, names as stored. */
    static Map<String, Object[]> allTensors() throws IOException {
        Map<String, Object[]> out = new LinkedHashMap<>();
        try (var files = Files.list(Fixtures.checkpoint("llama3_gqa"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList()) {
                SafetensorsEdit s = SafetensorsEdit.read(f);
                for (var e : s.tensors().entrySet()) {
                    JsonNode t = s.tensor(e.getKey());
                    long[] shape = new long[t.get("shape").size()];
                    for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asLong();
                    out.put(e.getKey(), new Object[] {t.get("dtype").asText(), shape, e.getValue()});
                }
            }
        }
        return out;
    }

    static Path singleFileVariant(Path dir, boolean prefix, boolean lmHead) throws IOException {
        Files.createDirectories(dir);
        Files.copy(Fixtures.checkpoint("llama3_gqa").resolve("config.json"), dir.resolve("config.json"));
        Map<String, Object[]> renamed = new LinkedHashMap<>();
        for (var e : allTensors().entrySet()) {
            String bare = e.getKey().startsWith("model.") ? e.getKey().substring(6) : e.getKey();
            if (bare.equals("lm_head.weight") && !lmHead) continue;
            renamed.put(prefix && !bare.equals("lm_head.weight") ? "model." + bare : bare, e.getValue());
        }
        SafetensorsEdit.writeTensors(dir.resolve("model.safetensors"), renamed);
        return dir;
    }

    @Test
    void nameVariantsGiveIdenticalEmbeddings(@TempDir Path tmp) throws IOException {
        assertTrue(allTensors().containsKey("lm_head.weight"), "fixture should carry an lm_head to ignore");
        assertTrue(allTensors().keySet().stream().anyMatch(k -> k.startsWith("model.layers.")));
        for (boolean prefix : new boolean[] {true, false}) {
            for (boolean lmHead : new boolean[] {true, false}) {
                Path dir = singleFileVariant(tmp.resolve("v" + prefix + lmHead), prefix, lmHead);
                float[][] got = embed(dir);
                for (int i = 0; i < got.length; i++) {
                    assertArrayEquals(reference[i], got[i], "prefix=" + prefix + " lm_head=" + lmHead + " row " + i);
                }
            }
        }
    }

    // --- broken checkpoints ------------------------------------------------------------------------------------

    static CheckpointException openFails(Path dir) {
        return assertThrows(CheckpointException.class,
                () -> ReasonIR.open(dir, Options.defaults().withDevice("cpu")).close());
    }

    static void assertMentions(CheckpointException e, ReasonIRException.Kind kind, String... needles) {
        assertEquals(kind, e.kind(), e.getMessage());
        for (String n : needles) assertTrue(e.getMessage().contains(n), "'" + e.getMessage() + "' lacks '" + n + "'");
    }

    static Path firstShard(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.filter(p -> p.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
        }
    }

    @Test
    void truncatedShard(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(r.length() - 1000);
        }
        assertMentions(openFails(dir), ReasonIRException.Kind.FORMAT, "model.safetensors");
    }

    @Test
    void headerLengthPastEndOfFile(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            long len = r.length();
            r.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(len + 100).array());
        }
        assertMentions(openFails(dir), ReasonIRException.Kind.FORMAT, "model.safetensors");
    }

    @Test
    void garbageJsonHeader(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.seek(8);
            r.write("{\"x\": [1, 2,,".getBytes());
        }
        assertMentions(openFails(dir), ReasonIRException.Kind.FORMAT, "model.safetensors", "JSON");
    }

    /** Edits one tensor entry of plain_mha's header, keeping the data, and expects a failure naming it. */
    static CheckpointException withEditedTensor(Path tmp, String name, java.util.function.Consumer<ObjectNode> edit)
            throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        SafetensorsEdit s = SafetensorsEdit.read(f);
        edit.accept(s.tensor(name));
        s.write(f);
        return openFails(dir);
    }

    @Test
    void overlappingOffsets(@TempDir Path tmp) throws IOException {
        var e = withEditedTensor(tmp, "layers.0.self_attn.k_proj.weight", t -> {
            var off = t.withArray("data_offsets");
            long shift = 2;
            off.set(0, off.get(0).asLong() - shift);
            off.set(1, off.get(1).asLong() - shift);
        });
        assertMentions(e, ReasonIRException.Kind.FORMAT, "model.safetensors", "overlap");
    }

    @Test
    void outOfRangeOffsets(@TempDir Path tmp) throws IOException {
        var e = withEditedTensor(tmp, "norm.weight", t -> {
            var off = t.withArray("data_offsets");
            off.set(0, off.get(0).asLong() + 1_000_000);
            off.set(1, off.get(1).asLong() + 1_000_000);
        });
        assertMentions(e, ReasonIRException.Kind.FORMAT, "model.safetensors", "norm.weight");
    }

    @Test
    void wrongDtype(@TempDir Path tmp) throws IOException {
        var e = withEditedTensor(tmp, "layers.1.mlp.up_proj.weight", t -> t.put("dtype", "I16"));
        assertMentions(e, ReasonIRException.Kind.CHECKPOINT, "layers.1.mlp.up_proj.weight", "I16");
    }

    @Test
    void wrongShape(@TempDir Path tmp) throws IOException {
        var e = withEditedTensor(tmp, "layers.0.mlp.down_proj.weight", t -> {
            var shape = t.withArray("shape");
            long a = shape.get(0).asLong(), b = shape.get(1).asLong();
            shape.set(0, b);
            shape.set(1, a);
        });
        assertMentions(e, ReasonIRException.Kind.CHECKPOINT, "layers.0.mlp.down_proj.weight", "shape");
    }

    @Test
    void missingTensor(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        SafetensorsEdit s = SafetensorsEdit.read(f);
        s.header.remove("layers.2.self_attn.o_proj.weight");
        s.write(f);
        assertMentions(openFails(dir), ReasonIRException.Kind.CHECKPOINT, "layers.2.self_attn.o_proj.weight",
                "missing");
    }

    @Test
    void indexPointsToMissingShard(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("llama3_gqa", tmp.resolve("m"));
        Path index = dir.resolve("model.safetensors.index.json");
        ObjectNode idx = (ObjectNode) Fixtures.readJson(index);
        ObjectNode map = (ObjectNode) idx.get("weight_map");
        map.put("model.norm.weight", "model-00009-of-00009.safetensors");
        Fixtures.JSON.writeValue(index.toFile(), idx);
        assertMentions(openFails(dir), ReasonIRException.Kind.IO, "model-00009-of-00009.safetensors");
    }

    @Test
    void configMissingField(@TempDir Path tmp) throws IOException {
        for (String field : List.of("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size")) {
            Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve(field));
            ObjectNode cfg = (ObjectNode) Fixtures.readJson(dir.resolve("config.json"));
            cfg.remove(field);
            Fixtures.JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
            assertMentions(openFails(dir), ReasonIRException.Kind.CONFIG, "config.json", field);
        }
    }

    @Test
    void configOfAnotherShape(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        ObjectNode cfg = (ObjectNode) Fixtures.readJson(dir.resolve("config.json"));
        cfg.put("intermediate_size", cfg.get("intermediate_size").asInt() + 8);
        Fixtures.JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
        assertMentions(openFails(dir), ReasonIRException.Kind.CHECKPOINT, "mlp", "shape");
    }

    @Test
    void noWeightsAtAll(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Files.delete(dir.resolve("model.safetensors"));
        assertMentions(openFails(dir), ReasonIRException.Kind.IO, "model.safetensors");
    }

    @Test
    void shardListedForTensorItLacks(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("llama3_gqa", tmp.resolve("m"));
        Path index = dir.resolve("model.safetensors.index.json");
        ObjectNode idx = (ObjectNode) Fixtures.readJson(index);
        ObjectNode map = (ObjectNode) idx.get("weight_map");
        String embedShard = map.get("model.embed_tokens.weight").asText();
        // Point the embedding at a shard that does not hold it.
        for (Iterator<String> it = map.fieldNames(); it.hasNext(); ) {
            String shard = map.get(it.next()).asText();
            if (!shard.equals(embedShard)) {
                map.put("model.embed_tokens.weight", shard);
                break;
            }
        }
        Fixtures.JSON.writeValue(index.toFile(), idx);
        assertMentions(openFails(dir), ReasonIRException.Kind.CHECKPOINT, "embed_tokens.weight");
    }

    /** Sets element {@code i} of a bf16 tensor. */
    static void setBf16(SafetensorsEdit s, String tensor, long i, float value) {
        int at = (int) (s.tensor(tensor).get("data_offsets").get(0).asLong() + 2 * i);
        int bits = Float.floatToIntBits(value) >>> 16;  // the values used here are exact in bf16
        s.data[at] = (byte) bits;
        s.data[at + 1] = (byte) (bits >>> 8);
    }

    /**
     * plain_mha edited so that one token, {@code poison}, overflows the activations of exactly the sequences that
     * hold it (all weights stay finite, so the checkpoint opens): only that token's embedding has a column 0 (no
     * attention output writes column 0 either), and column 0 feeds layer 0's gate and up projections with weights
     * 2^66, so silu(gate) * up overflows to Inf at that position and NaN spreads through its sequence only.
     */
    static Path withOverflowToken(Path dir, int poison) throws IOException {
        Path f = dir.resolve("model.safetensors");
        SafetensorsEdit s = SafetensorsEdit.read(f);
        var cfg = Fixtures.readJson(dir.resolve("config.json"));
        int hidden = cfg.get("hidden_size").asInt(), inter = cfg.get("intermediate_size").asInt();
        int vocab = cfg.get("vocab_size").asInt();
        int qDim = cfg.get("num_attention_heads").asInt() * cfg.get("head_dim").asInt();
        for (int t = 0; t < vocab; t++) setBf16(s, "embed_tokens.weight", (long) t * hidden, 0f);
        for (int c = 0; c < hidden; c++) {
            setBf16(s, "embed_tokens.weight", (long) poison * hidden + c, c == 0 ? 0x1p30f : 0f);
        }
        for (int k = 0; k < qDim; k++) setBf16(s, "layers.0.self_attn.o_proj.weight", k, 0f);  // output row 0
        setBf16(s, "layers.0.post_attention_layernorm.weight", 0, 1f);
        for (int j = 0; j < inter; j++) {
            setBf16(s, "layers.0.mlp.gate_proj.weight", (long) j * hidden, 0x1p66f);
            setBf16(s, "layers.0.mlp.up_proj.weight", (long) j * hidden, 0x1p66f);
        }
        s.write(f);
        return dir;
    }

    /**
     * The native engine names the failing sequence of the packed batch (rir_last_error_sequence); the exception must
     * name the caller's input. Reached through a check Java cannot make in advance: a non-finite embedding, caused
     * by one token (see {@link #withOverflowToken}). Packing sorts by length, so batch order differs from input
     * order.
     */
    @Test
    void nativeFailureNamesTheCallersInput(@TempDir Path tmp) throws IOException {
        int poison = 77;
        Path dir = withOverflowToken(Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m")), poison);
        try (ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu"))) {
            // Control: inputs without the token embed fine.
            m.embedTokens(List.of(TokenizedInput.of(new int[] {1, 2, 3}, 0), TokenizedInput.of(new int[] {5}, 0)));
            // Lengths 2, 3, 5, 4: packed longest first as inputs 2, 3, 1, 0, so input 1 is sequence 2 of the batch.
            var e = assertThrows(CheckpointException.class, () -> m.embedTokens(List.of(
                    TokenizedInput.of(new int[] {1, 2}, 0), TokenizedInput.of(new int[] {3, poison, 4}, 0),
                    TokenizedInput.of(new int[] {5, 6, 7, 8, 9}, 0), TokenizedInput.of(new int[] {10, 11, 12, 13}, 0))));
            assertEquals(1, e.inputIndex(), e.getMessage());
            // The native text is kept as written (it names the batch's sequence); the prefix names the caller's input.
            assertTrue(e.getMessage().startsWith("input 1: sequence 2 produced a non-finite embedding"),
                    e.getMessage());
            // Second packing window: batch indices are window-relative, input indices are not.
            List<TokenizedInput> many = new ArrayList<>();
            for (int i = 0; i < Embedder.PACKING_WINDOW + 10; i++) {
                many.add(TokenizedInput.of(new int[] {1, 2 + i % 50}, 0));
            }
            int bad = Embedder.PACKING_WINDOW + 7;
            many.set(bad, TokenizedInput.of(new int[] {1, poison}, 0));
            var e2 = assertThrows(CheckpointException.class, () -> m.embedTokens(many));
            assertEquals(bad, e2.inputIndex(), e2.getMessage());
        }
    }

    /** The mapping itself, for a message that does not start with "sequence N" (the index is structured data). */
    @Test
    void failingSequenceMapsThroughTheBatchIndex() {
        var e = NativeModel.fromStatus(ReasonIRNative.RIR_ERR_INPUT, "token id 9 at position 3 is out of range", 1,
                new int[] {7, 4, 9});
        assertEquals(4, e.inputIndex());
        assertEquals("input 4: token id 9 at position 3 is out of range", e.getMessage());
        var device = NativeModel.fromStatus(ReasonIRNative.RIR_ERR_DEVICE, "sequence 0 is fine, the GPU is not", -1,
                new int[] {3});
        assertEquals(-1, device.inputIndex());
        assertEquals("sequence 0 is fine, the GPU is not", device.getMessage());
        assertEquals(-1, NativeModel.fromStatus(ReasonIRNative.RIR_ERR_INPUT, "x", 5, new int[] {1}).inputIndex());
    }

    /** A NaN weight is refused when the checkpoint is opened, naming the tensor and the element. */
    @Test
    void nanWeightsAreRefusedAtOpen(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        Path f = dir.resolve("model.safetensors");
        SafetensorsEdit s = SafetensorsEdit.read(f);
        int begin = (int) s.tensor("norm.weight").get("data_offsets").get(0).asLong();
        s.data[begin] = (byte) 0xC0;      // bf16 0x7FC0 (little endian): quiet NaN
        s.data[begin + 1] = (byte) 0x7F;
        s.write(f);
        assertMentions(openFails(dir), ReasonIRException.Kind.CHECKPOINT, "norm.weight", "NaN");
    }
}
