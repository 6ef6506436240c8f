package dev.reasonir.internal;

import dev.reasonir.CheckpointException;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link NativeModel} on its own, on the CPU: the facts of a handle, one packed batch scattered to the caller's
 * indices, a native failure naming the caller's input, and the handle's life (no leak on a failed open, idempotent
 * close, no call after it). The facade's behaviour on top of it is covered by the dev.reasonir tests.
 */
class NativeModelTest {
    static Path checkpoint(String name) {
        String generated = System.getProperty("reasonir.generated");
        if (generated == null) throw new IllegalStateException("system property reasonir.generated not set");
        Path p = Path.of(generated, name);
        assertTrue(Files.isRegularFile(p.resolve("config.json")), p + " missing: run materialize_fixtures.py");
        return p;
    }

    static Options cpu() {
        return Options.defaults().withDevice("cpu");
    }

    static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    @Test
    void factsOfAnOpenHandle() {
        try (NativeModel m = NativeModel.open(checkpoint("plain_mha"), cpu())) {
            assertTrue(m.hidden() > 0 && m.vocab() > 0 && m.maxPosition() > 0, m.hidden() + " " + m.vocab());
            assertEquals("cpu", m.backend());
            assertTrue(m.device().startsWith("cpu"), m.device());
            assertEquals("", m.deviceNote(), "device named explicitly: no note");
            assertEquals(Precision.FP32, m.precision(), "DEFAULT resolves to FP32 on the CPU");
        }
        try (NativeModel m = NativeModel.open(checkpoint("plain_mha"), cpu().withPrecision(Precision.BF16))) {
            assertEquals(Precision.BF16, m.precision());
        }
    }

    @Test
    void aBatchIsScatteredToTheCallersIndices() {
        try (NativeModel m = NativeModel.open(checkpoint("plain_mha"), cpu())) {
            TokenizedInput[] inputs = {
                    TokenizedInput.of(new int[] {1, 2, 3}, 0),
                    TokenizedInput.of(new int[] {4, 5}, 1),
                    TokenizedInput.of(new int[] {6, 7, 8, 9}, 0)};
            float[][] vectors = new float[4][];
            // Packing order 2, 0 (input 1 is not in this batch): the rows land at 2 and 0, nothing else is written.
            m.embedBatch(inputs, new int[] {2, 0}, 7, true, vectors);
            assertNull(vectors[1]);
            assertNull(vectors[3]);
            for (int i : new int[] {0, 2}) {
                assertEquals(m.hidden(), vectors[i].length);
                assertEquals(1.0, norm(vectors[i]), 1e-4, "row " + i);
            }
            // The same inputs one at a time, unnormalized: the same directions.
            float[][] alone = new float[3][];
            m.embedBatch(inputs, new int[] {0}, 3, false, alone);
            m.embedBatch(inputs, new int[] {2}, 4, false, alone);
            for (int i : new int[] {0, 2}) {
                double n = norm(alone[i]);
                assertTrue(Math.abs(n - 1.0) > 1e-3, "unnormalized row " + i + " has norm " + n);
                for (int d = 0; d < m.hidden(); d++) assertEquals(vectors[i][d], alone[i][d] / n, 1e-4);
            }
        }
    }

    @Test
    void aNativeFailureNamesTheCallersInput() {
        try (NativeModel m = NativeModel.open(checkpoint("plain_mha"), cpu())) {
            // The Java side normally refuses this id first; here the engine's own check answers.
            TokenizedInput[] inputs = {
                    TokenizedInput.of(new int[] {1, 2}, 0),
                    TokenizedInput.of(new int[] {3, m.vocab() + 5}, 0),
                    TokenizedInput.of(new int[] {4, 5, 6}, 0)};
            var e = assertThrows(InvalidInputException.class,
                    () -> m.embedBatch(inputs, new int[] {2, 1, 0}, 7, true, new float[3][]));
            assertEquals(1, e.inputIndex(), e.getMessage());
            assertEquals(ReasonIRException.Kind.INPUT, e.kind());
            // The handle is still usable after a failed call.
            float[][] ok = new float[3][];
            m.embedBatch(inputs, new int[] {0}, 2, true, ok);
            assertNotNull(ok[0]);
        }
    }

    @Test
    void handlesAreFreedOnCloseAndOnAFailedOpen(@TempDir Path tmp) {
        int before = NativeModel.liveHandles();
        var e = assertThrows(CheckpointException.class, () -> NativeModel.open(tmp, cpu()));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
        assertEquals(before, NativeModel.liveHandles(), "a failed open holds no handle");
        NativeModel m = NativeModel.open(checkpoint("plain_mha"), cpu());
        assertEquals(before + 1, NativeModel.liveHandles());
        m.close();
        m.close();
        assertEquals(before, NativeModel.liveHandles());
        var closed = assertThrows(IllegalStateException.class, () -> m.embedBatch(
                new TokenizedInput[] {TokenizedInput.of(new int[] {1}, 0)}, new int[] {0}, 1, true, new float[1][]));
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
        // The facts stay readable: they are plain values, not native reads.
        assertTrue(m.hidden() > 0);
    }

    @Test
    void versionAndDeviceCount() {
        assertTrue(NativeModel.version().matches("\\d+\\.\\d+\\.\\d+.*"), NativeModel.version());
        var c = NativeModel.cudaDeviceCount();
        assertTrue(c.count() >= 0);
        assertEquals(c.count() == 0, !c.reason().isEmpty(), c.toString());
    }
}
