package dev.reasonir;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code reasonir index --device cuda:all} when a device dies under it: on the CUDA emulator with four devices and a
 * sticky fault on cuda:3 inside its first batch (cli/pom.xml, execution {@code emulated-gpu-fault}:
 * {@code EMU_FAULT=3:50:cudaErrorIllegalAddress}; h256_l4 opens with 38 launches and runs a batch in 24). The pool
 * takes cuda:3 out with a warning, runs its batch on another device, and the index completes with exactly the bytes
 * of the one-device index. One test method: launches are counted per device from the start of the process, and
 * nothing else in this JVM may use cuda:3 first. Skipped elsewhere.
 */
class CliDeviceFaultEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();

    @TempDir
    Path tmp;

    @Test
    void indexOnCudaAllCompletesWithoutTheFaultyDevice() throws Exception {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && fault != null && fault.startsWith("3:50:"),
                "needs the emulator with a fault in cuda:3's first batch");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
        Path model = EmulatedCli.model();
        Path corpus = EmulatedCli.corpus(tmp.resolve("docs.jsonl"), 16);
        // The reference on cuda:0 alone first (cuda:3 untouched), then the pool.
        EmulatedCli.Run one = EmulatedCli.run("index", "--model", model.toString(), "--corpus", corpus.toString(),
                "--out", tmp.resolve("one").toString(), "--device", "cuda:0", "--max-length", "64",
                "--batch-tokens", "32");
        assertEquals(0, one.status(), one.err());
        try (EmulatedCli.EngineLog log = new EmulatedCli.EngineLog()) {
            EmulatedCli.Run all = EmulatedCli.run("index", "--model", model.toString(), "--corpus",
                    corpus.toString(), "--out", tmp.resolve("all").toString(), "--device", "cuda:all",
                    "--max-length", "64", "--batch-tokens", "32");
            assertEquals(0, all.status(), all.err());
            assertTrue(all.err().contains("indexed 16 documents"), all.err());
            // cuda:3 took a batch (16 documents of one or two a batch, dealt to four devices), failed in it, and
            // was taken out; its batch ran on another device.
            assertTrue(log.lines().stream().anyMatch(l -> l.startsWith("WARNING device cuda:3 taken out of the pool")
                    && l.contains("3 of 4 devices left; its batch is retried on another")), log.lines().toString());
            assertEquals(1, log.lines().stream().filter(l -> l.contains("taken out of the pool")).count(),
                    log.lines().toString());
        }
        EmulatedCli.assertSameIndex(tmp.resolve("one"), tmp.resolve("all"));
    }
}
