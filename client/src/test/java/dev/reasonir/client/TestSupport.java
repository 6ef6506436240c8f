package dev.reasonir.client;

import dev.reasonir.FixturesAccess;
import dev.reasonir.Options;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The small random-weight checkpoint (with the real Llama-3.1 tokenizer), texts and comparisons shared by the tests of
 * this module and, through its test-jar, of the adapters; {@link TestKit} opens the checkpoint and the servers on it.
 */
public final class TestSupport {
    /** The CPU engine: the tests compare bits, so they pin the device instead of letting "auto" pick one. */
    public static final Options CPU = Options.defaults().withDevice("cpu");

    public static final List<String> DOCUMENTS = List.of(
            "Chlorophyll breaks down in autumn, so the yellow and orange carotenoids in the leaf become visible.",
            "Rayleigh scattering sends short blue wavelengths of sunlight in every direction across the sky.",
            "A binary search halves the sorted interval at each step, so it needs O(log n) comparisons.",
            "Mitochondria make ATP through oxidative phosphorylation across their inner membrane.",
            "Tides come mostly from the Moon's gravity pulling on the oceans, with a smaller part from the Sun.",
            "Sourdough rises because wild yeast and lactic acid bacteria ferment the sugars in the flour.");

    public static final List<String> QUERIES = List.of(
            "Why do leaves turn yellow and red before they fall?",
            "How do cells produce energy?");

    private TestSupport() {}

    /** A checkpoint folder (links to the h256_l4 fixture plus tokenizer files) under {@code tmp}. */
    public static Path modelDir(Path tmp, String name) throws IOException {
        return FixturesAccess.withTokenizer("h256_l4", tmp.resolve(name));
    }

    /**
     * A loopback port nothing listens on, for the "unreachable server" cases: the port of a socket just closed (the
     * system does not hand it out again at once).
     */
    public static int freeLoopbackPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Bit-for-bit equality: a backend or adapter must hand over the engine's floats untouched. */
    public static void assertSameVectors(float[][] expected, List<float[]> actual) {
        assertEquals(expected.length, actual.size(), "number of embeddings");
        for (int i = 0; i < expected.length; i++) {
            float[] a = actual.get(i);
            assertEquals(expected[i].length, a.length, "dimension of embedding " + i);
            for (int k = 0; k < a.length; k++) {
                if (Float.floatToRawIntBits(expected[i][k]) != Float.floatToRawIntBits(a[k])) {
                    throw new AssertionError("embedding " + i + " differs at component " + k + ": expected "
                            + expected[i][k] + ", got " + a[k]);
                }
            }
        }
    }

    /** {@link #assertSameVectors(float[][], List)} of an array of vectors. */
    public static void assertSameVectors(float[][] expected, float[][] actual) {
        assertSameVectors(expected, List.of(actual));
    }
}
