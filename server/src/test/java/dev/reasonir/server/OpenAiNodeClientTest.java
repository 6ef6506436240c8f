package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.reasonir.server.TestServer.assertSameVectors;
import static dev.reasonir.server.TestServer.floats;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenAI wire format checked by someone else's code: the official {@code openai} npm client (version pinned in
 * src/test/node/package.json) calls the in-process server from {@code openai_check.mjs}, with float, base64 and the
 * client's implicit base64 decoding, string and array input, the model names of {@code GET /v1/models} (the one a
 * plain client uses to embed queries included) and the {@code instruction}/{@code task} extensions as
 * extra body fields; the vectors it gets must be bit-identical to the Java API. The package is installed once into
 * target/node ({@code npm ci}, reused while the lock file is unchanged). Skipped, with the reason printed, where
 * {@code node} or {@code npm} is not on PATH.
 */
class OpenAiNodeClientTest {
    static final String SKY = "Why is the sky blue?";
    static final String RAYLEIGH = "Rayleigh scattering: shorter wavelengths scatter more strongly.";
    /** The server requires it: the client sends it as OpenAI's clients do (Authorization: Bearer). */
    static final String KEY = "sk-openai-node-test-5e4d3c2b";

    @TempDir
    Path tmp;

    @Test
    void theOfficialOpenAiClientGetsTheJavaApiVectors() throws Exception {
        String node = onPath("node");
        String npm = onPath("npm");
        if (node == null || npm == null) {
            String why = "OpenAiNodeClientTest skipped: " + (node == null ? "node" : "npm") + " is not on PATH "
                    + "(install Node.js 18+ with npm to check the wire format with the official openai client)";
            System.out.println(why);
            Assumptions.abort(why);
        }
        Path dir = install(npm);
        try (ReasonIR model = TestServer.open();
             EmbeddingServer server = EmbeddingServer.start(model, TestServer.config().apiKey(KEY).build())) {
            Path out = tmp.resolve("result.json");
            String log = run(dir, 120, node, dir.resolve("openai_check.mjs").toString(),
                    "http://127.0.0.1:" + server.port() + "/v1", out.toString(), KEY);
            System.out.println(log.strip());
            JsonNode result = TestServer.JSON.readTree(out.toFile());

            Map<String, float[][]> expected = new HashMap<>();
            float[][] pair = model.embed(List.of(SKY, RAYLEIGH), Instructions.DOCUMENT).vectors();
            expected.put("float_string", new float[][] {pair[0]});
            expected.put("default_array", pair);
            expected.put("base64_array", pair);
            expected.put("instruction", model.embed(List.of(SKY, RAYLEIGH), "Represent this: ").vectors());
            expected.put("task_query", model.embed(List.of(SKY), Instructions.bright("biology")).vectors());
            expected.put("model_name_query", expected.get("task_query"));
            assertEquals("h256_l4", result.get("models").get(0).textValue());
            assertEquals(expected.size(), result.get("cases").size());
            for (JsonNode c : result.get("cases")) {
                String name = c.get("name").textValue();
                assertEquals("h256_l4", c.get("model").textValue(), name);
                assertTrue(c.get("usage").get("prompt_tokens").intValue() > 0, name);
                List<float[]> rows = new ArrayList<>();
                for (JsonNode v : c.get("vectors")) rows.add(floats(v));
                assertSameVectors(expected.get(name), rows.toArray(new float[0][]));
            }
            JsonNode errors = result.get("errors");
            assertEquals(400, errors.get(0).get("status").intValue());
            assertEquals("dimensions_not_supported", errors.get(0).get("code").textValue());
            assertEquals("dimensions", errors.get(0).get("param").textValue());
            assertEquals("invalid_request_error", errors.get(0).get("type").textValue());
            assertTrue(errors.get(0).get("message").textValue().contains("Matryoshka"), errors.toString());
            assertEquals(400, errors.get(1).get("status").intValue());
            assertEquals("empty_input", errors.get(1).get("code").textValue());
            assertEquals(404, errors.get(2).get("status").intValue());
            assertEquals("model_not_found", errors.get(2).get("code").textValue());
            assertTrue(errors.get(2).get("message").textValue().contains("text-embedding-3-small"), errors.toString());
            // the wrong key: 401, the client's AuthenticationError, OpenAI's code
            assertEquals("wrong_key", errors.get(3).get("name").textValue());
            assertEquals(401, errors.get(3).get("status").intValue(), errors.toString());
            assertEquals("invalid_api_key", errors.get(3).get("code").textValue(), errors.toString());
            assertTrue(errors.get(3).get("authentication_error").booleanValue(), errors.toString());
        }
    }

    /** target/node with the pinned openai package and the script; npm ci only when the lock file changed. */
    private static Path install(String npm) throws Exception {
        Path src = Path.of(System.getProperty("reasonir.server.nodeSrc", "src/test/node"));
        Path dir = Path.of(System.getProperty("reasonir.server.nodeDir", "target/node"));
        Files.createDirectories(dir);
        byte[] lock = Files.readAllBytes(src.resolve("package-lock.json"));
        Path installedLock = dir.resolve("node_modules").resolve(".reasonir-lock.json");
        boolean upToDate = Files.isRegularFile(installedLock)
                && java.util.Arrays.equals(lock, Files.readAllBytes(installedLock))
                && Files.isRegularFile(dir.resolve("node_modules/openai/package.json"));
        for (String f : List.of("package.json", "package-lock.json", "openai_check.mjs")) {
            Files.copy(src.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        if (!upToDate) {
            System.out.println("installing the openai npm package into " + dir.toAbsolutePath());
            try {
                run(dir, 300, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error");
            } catch (AssertionError e) {
                // No registry here: an environment problem, not a server bug. Say so instead of failing.
                String why = "OpenAiNodeClientTest skipped: npm ci could not install the openai package: "
                        + e.getMessage();
                System.out.println(why);
                Assumptions.abort(why);
            }
            Files.write(installedLock, lock);
        }
        return dir;
    }

    private static String run(Path dir, int timeoutSeconds, String... command) throws Exception {
        Path log = Files.createTempFile("reasonir-node-", ".log");
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            boolean finished = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!finished) p.destroyForcibly();
            String output = Files.readString(log, StandardCharsets.UTF_8);
            assertTrue(finished, String.join(" ", command) + " did not finish in " + timeoutSeconds + " s:\n"
                    + output);
            assertEquals(0, p.exitValue(), () -> String.join(" ", command) + " failed:\n" + output);
            return output;
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** The executable's absolute path when it is on PATH, else null. */
    private static String onPath(String name) throws IOException {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String d : path.split(File.pathSeparator)) {
            Path f = Path.of(d, name);
            if (Files.isRegularFile(f) && Files.isExecutable(f)) return f.toString();
        }
        return null;
    }
}
