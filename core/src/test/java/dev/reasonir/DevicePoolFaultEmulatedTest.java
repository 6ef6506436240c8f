package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A device that dies under a pool, on the CUDA emulator with four devices and a sticky fault injected on cuda:2
 * (core/pom.xml's {@code emulated-gpu-fault} execution: {@code EMU_DEVICE_COUNT=4},
 * {@code EMU_FAULT=2:55:cudaErrorIllegalAddress}, i.e. on llama3_gqa (2 layers: 20 launches to open, 14 per batch)
 * cuda:2 opens, runs two batches, and fails inside its third). The pool must take cuda:2 out, retry its batch on
 * another device, and give exactly the vectors of one device, each input once; the other devices keep working.
 * Skipped outside that execution (no fault configured).
 */
class DevicePoolFaultEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();

    @Test
    void aFaultyDeviceIsTakenOutAndItsBatchRetriedElsewhere() {
        String fault = System.getenv("EMU_FAULT");
        assumeTrue(EMULATED && fault != null && fault.startsWith("2:"), "needs the emulator with a fault on cuda:2");
        assumeTrue(ReasonIR.cudaDeviceCount().count() == 4, "needs EMU_DEVICE_COUNT=4");
        Options one = Options.defaults().withDevice("cuda:0").withMaxLength(4096).withBatchTokens(64);
        try (ReasonIR reference = ReasonIR.open(Fixtures.checkpoint("llama3_gqa"), one);
             ReasonIR pool = ReasonIR.open(Fixtures.checkpoint("llama3_gqa"), one.withDevice("cuda:all"))) {
            List<TokenizedInput> in = CpuPoolTest.shapes(reference.vocabSize(), 24, 7);
            EmbeddingResult want = reference.embedTokens(in);
            // Batches go to whichever device is free, so cuda:2 reaches its third batch within a few calls.
            for (int call = 0; call < 6 && pool.devices().get(2).state() == DeviceInfo.State.HEALTHY; call++) {
                CpuPoolTest.assertSameBits(want, pool.embedTokens(in), "call " + call);
            }
            List<DeviceInfo> devices = pool.devices();
            DeviceInfo failed = devices.get(2);
            assertEquals(DeviceInfo.State.FAILED, failed.state(), devices.toString());
            assertEquals(1, failed.failures(), devices.toString());
            assertTrue(failed.lastFailure() != null && !failed.lastFailure().isEmpty(), devices.toString());
            for (int k : new int[] {0, 1, 3}) {
                assertEquals(DeviceInfo.State.HEALTHY, devices.get(k).state(), devices.toString());
            }
            // the three others go on, with the same bits
            long before = failed.batches();
            CpuPoolTest.assertSameBits(want, pool.embedTokens(in), "after the fault");
            assertEquals(before, pool.devices().get(2).batches(), "the failed device got work again");
            for (int i = 0; i < in.size(); i++) {
                assertArrayEquals(want.vectors()[i], pool.embedTokens(List.of(in.get(i))).vectors()[0], "row " + i);
            }
        }
    }
}
