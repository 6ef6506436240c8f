package dev.reasonir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Access to the committed golden fixtures (weights-tools/fixtures/NAME: inputs.json, expected_*.npy) and their
 * generated checkpoints (build/generated/NAME, made by weights-tools/materialize_fixtures.py in the Maven build).
 */
final class Fixtures {
    static final List<String> CONFIGS = List.of("llama3_gqa", "plain_mha", "h256_l4");
    static final ObjectMapper JSON = new ObjectMapper();

    private Fixtures() {}

    static Path dir(String property) {
        String v = System.getProperty(property);
        if (v == null) throw new IllegalStateException("system property " + property + " not set (run through Maven)");
        return Path.of(v);
    }

    static Path fixture(String name) {
        return dir("reasonir.fixtures").resolve(name);
    }

    /** The generated random-weight checkpoint of a fixture. */
    static Path checkpoint(String name) {
        Path p = dir("reasonir.generated").resolve(name);
        if (!Files.isRegularFile(p.resolve("config.json"))) {
            throw new IllegalStateException(p + " missing: run weights-tools/materialize_fixtures.py");
        }
        return p;
    }

    /** The Llama-3.1 tokenizer folder fetched by weights-tools/fetch_tokenizer.sh. */
    static Path tokenizerDir() {
        return dir("reasonir.tokenizer");
    }

    /** A folder in {@code dst} holding links to a fixture checkpoint's files plus the Llama-3.1 tokenizer files. */
    static Path withTokenizer(String name, Path dst) throws IOException {
        Files.createDirectories(dst);
        for (Path dir : List.of(checkpoint(name), tokenizerDir())) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.createSymbolicLink(dst.resolve(f.getFileName()), f.toAbsolutePath());
            }
        }
        return dst;
    }

    static List<TokenizedInput> inputs(String name) {
        JsonNode root = readJson(fixture(name).resolve("inputs.json"));
        List<TokenizedInput> out = new ArrayList<>();
        for (JsonNode s : root.get("sequences")) {
            int[] ids = new int[s.get("ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = s.get("ids").get(i).intValue();
            out.add(TokenizedInput.of(ids, s.get("pool_start").intValue()));
        }
        return out;
    }

    static float[][] expected(String name, String mode) {
        try {
            return NpyWriter.read(fixture(name).resolve("expected_" + mode + ".npy"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode readJson(Path p) {
        try {
            return JSON.readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fresh copy of a fixture checkpoint in {@code dst} (files copied, so tests may corrupt them). */
    static Path copyCheckpoint(String name, Path dst) throws IOException {
        Path src = checkpoint(name);
        Files.createDirectories(dst);
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (Files.isRegularFile(f)) Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        return dst;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }

    static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }
}
