package dev.reasonir;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code reasonir index} on one device that dies in the middle: on the CUDA emulator with four devices and a sticky
 * fault on cuda:3 inside its third batch (cli/pom.xml, execution {@code emulated-gpu-fault-resume}:
 * {@code EMU_FAULT=3:98:cudaErrorIllegalAddress}; h256_l4 opens with 38 launches and runs a batch in 24). With one
 * document a chunk, two chunks are committed before the fault. The command fails cleanly (status 1, the device line
 * and one line for the failure, no stack trace) and leaves an unfinished index; the same command on cuda:0 (the
 * manifest records the backend and precision, not the device) resumes it and ends with exactly the bytes of an
 * uninterrupted one-device index: nothing lost, nothing twice. One test method: launches are counted per device from
 * the start of the process. Skipped elsewhere.
 */
class CliIndexResumeAfterFaultEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();

    @TempDir
    Path tmp;

    @Test
    void aDeviceFaultFailsTheIndexCleanlyAndARerunElsewhereResumes() throws Exception {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && fault != null && fault.startsWith("3:98:"),
                "needs the emulator with a fault in cuda:3's third batch");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
        Path model = EmulatedCli.model();
        Path corpus = EmulatedCli.corpus(tmp.resolve("docs.jsonl"), 6);
        Path index = tmp.resolve("index");
        // --commit-docs 1: a chunk (one engine call) per document, committed before the next one runs
        String[] flags = {"--model", model.toString(), "--corpus", corpus.toString(), "--max-length", "64",
                "--batch-tokens", "64", "--commit-docs", "1"};

        EmulatedCli.Run failed = EmulatedCli.run(concat(flags, "index", "--out", index.toString(), "--device",
                "cuda:3"));
        assertEquals(1, failed.status(), failed.err());
        // Two lines: the device the run uses, then the failure, of kind DEVICE, naming the device and how to resume.
        List<String> lines = failed.err().lines().toList();
        assertEquals(2, lines.size(), failed.err());
        assertTrue(lines.get(0).startsWith("reasonir: device cuda:3 ("), failed.err());
        assertTrue(lines.get(1).startsWith("reasonir: DEVICE: on cuda:3: ")
                && lines.get(1).contains("cudaErrorIllegalAddress"), failed.err());
        assertTrue(lines.get(1).contains("run the same command again (on this or another device) to resume"),
                failed.err());
        assertFalse(failed.err().contains("\tat ") || failed.err().contains("Exception"), failed.err());
        // the two committed chunks are kept for the rerun
        assertFalse(Files.exists(index.resolve("manifest.json")));
        assertTrue(Files.exists(index.resolve("progress.json")), "no unfinished index left");

        EmulatedCli.Run resumed = EmulatedCli.run(concat(flags, "index", "--out", index.toString(), "--device",
                "cuda:0"));
        assertEquals(0, resumed.status(), resumed.err());
        assertTrue(resumed.err().contains("resumed and indexed 4 documents"), resumed.err());

        // The uninterrupted one-device index, on a device that has not failed.
        EmulatedCli.Run reference = EmulatedCli.run(concat(flags, "index", "--out", tmp.resolve("one").toString(),
                "--device", "cuda:1"));
        assertEquals(0, reference.status(), reference.err());
        EmulatedCli.assertSameIndex(tmp.resolve("one"), index);
    }

    private static String[] concat(String[] flags, String... head) {
        String[] all = new String[head.length + flags.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(flags, 0, all, head.length, flags.length);
        return all;
    }
}
