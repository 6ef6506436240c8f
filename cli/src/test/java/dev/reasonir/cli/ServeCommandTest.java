package dev.reasonir.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code reasonir serve} in a child JVM: it serves, answers like the Java API, and stops cleanly on SIGTERM; with an
 * API key from the environment or a flag it guards every route but /health and /metrics; on every interface without a
 * key it warns.
 */
class ServeCommandTest {
    @TempDir
    Path tmp;

    @Test
    // A separate thread, so that a read blocked on the child's output fails the test instead of hanging it.
    @org.junit.jupiter.api.Timeout(value = 3, unit = TimeUnit.MINUTES,
            threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void servesAndStopsOnSigterm() throws Exception {
        Path model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), "-Dai.djl.offline=true", "dev.reasonir.cli.Main", "serve",
                "--model", model.toString(), "--device", "cpu", "--port", "0",
                "--prompt", "support=" + Instructions.query("Given a support ticket, retrieve relevant articles"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Pattern serving = Pattern.compile("serving .* on http://127\\.0\\.0\\.1:(\\d+) ");
            String port = null;
            StringBuilder log = new StringBuilder();
            // Read until the "serving" line, and not one line further: the server prints nothing more until it stops.
            while (port == null) {
                String line = out.readLine();
                if (line == null) break;
                log.append(line).append('\n');
                Matcher m = serving.matcher(line);
                if (m.find()) port = m.group(1);
            }
            assertNotNull(port, "no 'serving' line: " + log);
            HttpClient http = HttpClient.newHttpClient();
            URI base = URI.create("http://127.0.0.1:" + port);
            assertEquals(200, http.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/embeddings"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"input\": [\"printer offline\"], "
                            + "\"prompt_name\": \"support\"}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode v = new ObjectMapper().readTree(r.body()).get("data").get(0).get("embedding");
            try (ReasonIR m = ReasonIR.open(model, Options.defaults().withDevice("cpu"))) {
                float[] expected = m.embed(List.of("printer offline"),
                        Instructions.query("Given a support ticket, retrieve relevant articles")).vectors()[0];
                assertEquals(expected.length, v.size());
                for (int i = 0; i < expected.length; i++) assertEquals(expected[i], v.get(i).floatValue(), "dim " + i);
            }
            p.destroy();  // SIGTERM: the shutdown hook closes the server, then the model
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
            assertEquals(143, p.exitValue());  // the JVM's status after SIGTERM once its hooks have run
        } finally {
            p.destroyForcibly();
        }
    }

    static final String KEY = "sk-serve-test-9f8e7d6c";

    /** A running {@code serve} child: the process, its port, and its output up to the "serving" line. */
    record Child(Process process, int port, String log) {}

    /** Starts {@code serve} with {@code args} and {@code env} and reads its output up to the "serving" line. */
    private Child serve(List<String> args, Map<String, String> env) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-cp", System.getProperty("java.class.path"), "-Dai.djl.offline=true",
                "dev.reasonir.cli.Main", "serve", "--device", "cpu", "--port", "0"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().keySet().removeIf(k -> k.startsWith("REASONIR_"));
        pb.environment().putAll(env);
        Process p = pb.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        Pattern serving = Pattern.compile("serving .* on http://[0-9.]+:(\\d+) ");
        StringBuilder log = new StringBuilder();
        while (true) {
            String line = out.readLine();
            if (line == null) {
                p.destroyForcibly();
                throw new AssertionError("no 'serving' line: " + log);
            }
            log.append(line).append('\n');
            Matcher m = serving.matcher(line);
            if (m.find()) return new Child(p, Integer.parseInt(m.group(1)), log.toString());
        }
    }

    private static HttpResponse<String> call(int port, String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
        if (key != null) b.header("Authorization", "Bearer " + key);
        b = body == null ? b.GET() : b.POST(HttpRequest.BodyPublishers.ofString(body));
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The key from REASONIR_API_KEY (not in the process list): every route but /health and /metrics needs it; a
     * server on every interface with a key does not warn, and nothing prints the key.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 3, unit = TimeUnit.MINUTES,
            threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void anApiKeyFromTheEnvironmentGuardsTheServer() throws Exception {
        Path model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        Child c = serve(List.of("--model", model.toString(), "--host", "0.0.0.0"), Map.of("REASONIR_API_KEY", KEY));
        try {
            assertTrue(c.log().contains("API key required"), c.log());
            assertFalse(c.log().contains("without an API key"), c.log());
            assertFalse(c.log().contains(KEY), c.log());
            assertFalse(c.log().contains("note:"), c.log());
            assertEquals(200, call(c.port(), "/health", null, null).statusCode());
            assertEquals(200, call(c.port(), "/metrics", null, null).statusCode());
            String body = "{\"input\": [\"printer offline\"]}";
            HttpResponse<String> refused = call(c.port(), "/v1/embeddings", body, null);
            assertEquals(401, refused.statusCode(), refused.body());
            assertEquals("missing_api_key", new ObjectMapper().readTree(refused.body()).get("error").get("code")
                    .textValue());
            assertEquals(401, call(c.port(), "/v1/embeddings", body, "not-the-key").statusCode());
            assertEquals(401, call(c.port(), "/info", null, null).statusCode());
            HttpResponse<String> ok = call(c.port(), "/v1/embeddings", body, KEY);
            assertEquals(200, ok.statusCode(), ok.body());
            c.process().destroy();
            assertTrue(c.process().waitFor(60, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
            assertEquals(143, c.process().exitValue());
        } finally {
            c.process().destroyForcibly();
        }
    }

    /** Every interface without a key: a warning before the "serving" line. */
    @Test
    @org.junit.jupiter.api.Timeout(value = 3, unit = TimeUnit.MINUTES,
            threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void everyInterfaceWithoutAKeyWarns() throws Exception {
        Path model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        Child c = serve(List.of("--model", model.toString(), "--host", "0.0.0.0"), Map.of());
        try {
            assertTrue(c.log().contains("listening on 0.0.0.0, which is not loopback only, without an API key"),
                    c.log());
            assertEquals(200, call(c.port(), "/v1/embeddings", "{\"input\": \"x\"}", null).statusCode());
        } finally {
            c.process().destroyForcibly();
        }
    }

    /** A key given as a flag works, with a note that the process list shows it. */
    @Test
    @org.junit.jupiter.api.Timeout(value = 3, unit = TimeUnit.MINUTES,
            threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aKeyOnTheCommandLineWorksWithANote() throws Exception {
        Path model = dev.reasonir.FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        Child c = serve(List.of("--model", model.toString(), "--api-key", KEY), Map.of());
        try {
            assertTrue(c.log().contains("note: an API key given with --api-key is visible"), c.log());
            assertFalse(c.log().contains("without an API key"), c.log());
            assertEquals(401, call(c.port(), "/embed", "{\"inputs\": \"x\"}", null).statusCode());
            assertEquals(200, call(c.port(), "/embed", "{\"inputs\": \"x\"}", KEY).statusCode());
        } finally {
            c.process().destroyForcibly();
        }
    }
}
