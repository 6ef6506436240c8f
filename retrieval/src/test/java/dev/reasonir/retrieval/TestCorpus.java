package dev.reasonir.retrieval;

import dev.reasonir.FixturesAccess;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/** Deterministic made-up corpora and the h256_l4 test model (random weights, real Llama-3.1 tokenizer). */
final class TestCorpus {
    private static final String[] WORDS = ("the cell membrane protein enzyme photosynthesis river sediment erosion "
            + "market price inflation memory anxiety robot sensor array string graph theorem prime integral "
            + "pony saddle recycling compost energy water carbon climate neuron gene signal").split(" ");

    private TestCorpus() {}

    static Path model(Path tmp) throws IOException {
        return FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
    }

    /** A second, different model (other config and weights) for mismatch tests. */
    static Path otherModel(Path tmp) throws IOException {
        return FixturesAccess.withTokenizer("llama3_gqa", tmp.resolve("other-model"));
    }

    static String text(Random r, int words) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < words; i++) b.append(i == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
        return b.append('.').toString();
    }

    /**
     * {@code n} documents with ids "doc-000"..., lengths 3-60 words; document 7 (if present) is empty and 11 is
     * whitespace only; a blank line after document 4. Non-ASCII ids appear too.
     */
    static Path write(Path file, int n, long seed) throws IOException {
        Random r = new Random(seed);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String content = i == 7 ? "" : i == 11 ? "  \t " : text(r, 3 + r.nextInt(58));
            String id = i % 13 == 5 ? "dóc-" + i : String.format("doc-%03d", i);
            lines.add("{\"id\": \"" + id + "\", \"content\": \"" + content.replace("\t", "\\t") + "\"}");
            if (i == 4) lines.add("");
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
        return file;
    }

    static String sha256(Path f) throws IOException {
        return HexFormat.of().formatHex(ModelIdentity.digest().digest(Files.readAllBytes(f)));
    }

    /** Hashes of every file in an index folder, by name, to compare two folders byte for byte. */
    static java.util.Map<String, String> folderHashes(Path dir) throws IOException {
        java.util.Map<String, String> m = new java.util.TreeMap<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) m.put(p.getFileName().toString(), sha256(p));
        }
        return m;
    }
}
