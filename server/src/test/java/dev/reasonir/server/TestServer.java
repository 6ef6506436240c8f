package dev.reasonir.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.FixturesAccess;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Test helpers: the h256_l4 random-weight checkpoint with the real Llama-3.1 tokenizer, a server on a free loopback
 * port, and a JDK {@link HttpClient} to drive it.
 */
final class TestServer {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    private TestServer() {}

    /**
     * The test model folder: links to the checkpoint and the tokenizer, made once in target/ (links in a JUnit temp
     * folder make JUnit warn about each one when it deletes the folder). Named h256_l4: the server reports that name.
     */
    static synchronized Path modelDir() throws IOException {
        Path dir = Path.of("target", "test-models", "h256_l4").toAbsolutePath();
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) return dir;
        if (Files.isDirectory(dir)) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.delete(f);
            }
        }
        return FixturesAccess.withTokenizer("h256_l4", dir);
    }

    /** The test model on the CPU (batch-invariant, so results must be bit-identical to the Java API). */
    static ReasonIR open() throws IOException {
        return ReasonIR.open(modelDir(), Options.defaults().withDevice("cpu").withMaxLength(512));
    }

    static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0);
    }

    static URI uri(EmbeddingServer server, String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    static HttpResponse<String> post(EmbeddingServer server, String path, String body) {
        return send(HttpRequest.newBuilder(uri(server, path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    static HttpResponse<String> get(EmbeddingServer server, String path) {
        return send(HttpRequest.newBuilder(uri(server, path)).timeout(Duration.ofSeconds(60)).GET().build());
    }

    static HttpResponse<String> send(HttpRequest request) {
        return send(HTTP, request);
    }

    /** {@code request} on {@code client} (a test that needs its own connections), the body as a string. */
    static HttpResponse<String> send(HttpClient client, HttpRequest request) {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new AssertionError("not JSON (status " + r.statusCode() + "): " + r.body(), e);
        }
    }

    /** Asserts the status and returns the body as JSON. */
    static JsonNode expect(int status, HttpResponse<String> r) {
        assertEquals(status, r.statusCode(), () -> "body: " + r.body());
        return r.body().isEmpty() ? JSON.nullNode() : json(r);
    }

    static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The float rows of an OpenAI response's {@code data[].embedding} (float or base64). */
    static float[][] openAiVectors(JsonNode body) {
        JsonNode data = body.get("data");
        float[][] out = new float[data.size()][];
        for (int i = 0; i < out.length; i++) {
            assertEquals(i, data.get(i).get("index").intValue());
            JsonNode e = data.get(i).get("embedding");
            out[i] = e.isTextual() ? fromBase64(e.textValue()) : floats(e);
        }
        return out;
    }

    /** The rows of a TEI {@code /embed} response. */
    static float[][] teiVectors(JsonNode body) {
        float[][] out = new float[body.size()][];
        for (int i = 0; i < out.length; i++) out[i] = floats(body.get(i));
        return out;
    }

    static float[] floats(JsonNode array) {
        float[] v = new float[array.size()];
        for (int j = 0; j < v.length; j++) v[j] = (float) array.get(j).doubleValue();
        return v;
    }

    static float[] fromBase64(String s) {
        ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(s)).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[b.remaining() / 4];
        b.asFloatBuffer().get(v);
        return v;
    }

    /** Bit-exact equality of two sets of rows, with a message naming the first difference. */
    static void assertSameVectors(float[][] expected, float[][] actual) {
        assertEquals(expected.length, actual.length, "row count");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i].length, actual[i].length, "row " + i + " dimension");
            for (int j = 0; j < expected[i].length; j++) {
                if (Float.floatToIntBits(expected[i][j]) != Float.floatToIntBits(actual[i][j])) {
                    throw new AssertionError("row " + i + " differs at " + j + ": expected " + expected[i][j]
                            + ", got " + actual[i][j]);
                }
            }
        }
    }
}
