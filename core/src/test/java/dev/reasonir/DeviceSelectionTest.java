package dev.reasonir;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which device open() chose and why, as the API and the log report it; the copy-weights option. */
class DeviceSelectionTest {
    /** INFO records of the ReasonIR logger while {@code r} runs. */
    static List<String> infoLines(Runnable r) {
        return LogCapture.messages(ReasonIR.class.getName(), l -> l.intValue() == Level.INFO.intValue(), r);
    }

    @Test
    void autoLogsOneLineSayingWhichDeviceAndWhy() {
        String[] note = new String[1];
        String[] device = new String[1];
        List<String> lines = infoLines(() -> {
            try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"))) {
                note[0] = m.deviceNote();
                device[0] = m.device();
            }
        });
        // For "auto" the engine always says why it used CUDA or not.
        assertTrue(!note[0].isEmpty(), "device auto gave no note");
        assertEquals(List.of("device auto -> " + device[0] + ": " + note[0]), lines);
        if (ReasonIR.cudaDeviceCount().count() == 0) {
            assertTrue(device[0].startsWith("cpu"), device[0]);
        }
    }

    @Test
    void namedDeviceLogsNothing() {
        List<String> lines = infoLines(() -> {
            try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu"))) {
                assertEquals("", m.deviceNote());
            }
        });
        assertEquals(List.of(), lines);
    }

    /** Without a usable GPU, device "cuda" fails with DEVICE and says why (no driver, no device, no cuBLASLt...). */
    @Test
    void cudaWithoutAGpuSaysWhy() {
        var count = ReasonIR.cudaDeviceCount();
        org.junit.jupiter.api.Assumptions.assumeTrue(count.count() == 0, "this machine has a GPU");
        var e = org.junit.jupiter.api.Assertions.assertThrows(ReasonIRException.class,
                () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cuda")));
        assertEquals(ReasonIRException.Kind.DEVICE, e.kind(), e.getMessage());
        String m = e.getMessage().toLowerCase(java.util.Locale.ROOT);
        assertTrue(m.contains("cuda"), e.getMessage());
        assertTrue(m.matches("(?s).*(driver|device|cublaslt|backend|gpu).*") && m.length() > 30, e.getMessage());
    }

    /**
     * With copyWeights nothing stays mapped: the same vectors as the mapped checkpoint, and truncating the shard
     * while the model is open harms nothing (with a mapping, the next read of the lost pages would kill the process
     * with SIGBUS, which is why that case is not run).
     */
    @Test
    void copiedWeightsSurviveTheFileBeingTruncated(@TempDir Path tmp) throws IOException {
        List<TokenizedInput> inputs = Fixtures.inputs("plain_mha");
        float[][] mapped;
        try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu")
                .withMaxLength(4096))) {
            mapped = m.embedTokens(inputs).vectors();
        }
        Path dir = Fixtures.copyCheckpoint("plain_mha", tmp.resolve("m"));
        try (ReasonIR m = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withMaxLength(4096)
                .withCopyWeights(true))) {
            assertTrue(m.options().copyWeights());
            try (RandomAccessFile r = new RandomAccessFile(dir.resolve("model.safetensors").toFile(), "rw")) {
                r.setLength(0);
            }
            float[][] copied = m.embedTokens(inputs).vectors();
            for (int i = 0; i < mapped.length; i++) assertArrayEquals(mapped[i], copied[i], "row " + i);
        }
        assertTrue(!Options.defaults().copyWeights());
    }
}
