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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code reasonir serve} in a child JVM: it serves, answers like the Java API, and stops cleanly on SIGTERM. */
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
}
