package dev.reasonir;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Device sets on CUDA: {@code cuda:all} and lists against one device, on a real GPU or on the CUDA emulator
 * (EmulatedGpu; core/pom.xml). Skipped, with the engine's reason, where no CUDA device is usable. With one device
 * (a one-GPU machine, or the emulator's default) it checks that {@code cuda:all} is {@code cuda:0} and that a device
 * listed twice is refused; with several (the emulator started with EMU_DEVICE_COUNT=4, or a multi-GPU node) that the
 * pool uses every device and gives the vectors of one device, bit for bit, for many batch shapes. The CPU pool's
 * checks (open failures, callers on several threads) are CpuPoolTest's.
 */
class DevicePoolEmulatedTest {
    static final boolean EMULATED = EmulatedGpu.loadIfRequested();
    static ReasonIR.CudaDeviceCount cuda;

    @BeforeAll
    static void probe() {
        cuda = ReasonIR.cudaDeviceCount();
    }

    static void assumeGpu() {
        assumeTrue(cuda.count() > 0, "no usable CUDA device: " + cuda.reason());
    }

    static Options on(String device, int budget) {
        return Options.defaults().withDevice(device).withMaxLength(4096).withBatchTokens(budget);
    }

    @Test
    void cudaAllGivesTheVectorsOfOneDevice() {
        assumeGpu();
        for (int budget : new int[] {64, 1000}) {
            try (ReasonIR one = ReasonIR.open(Fixtures.checkpoint("llama3_gqa"), on("cuda:0", budget));
                 ReasonIR all = ReasonIR.open(Fixtures.checkpoint("llama3_gqa"), on("cuda:all", budget))) {
                List<DeviceInfo> devices = all.devices();
                assertEquals(cuda.count(), devices.size(), devices.toString());
                for (int k = 0; k < devices.size(); k++) assertEquals("cuda:" + k, devices.get(k).name());
                if (cuda.count() == 1) {
                    // cuda:all with one GPU is cuda:0 (the device string also carries the load rate, which varies)
                    assertTrue(all.device().startsWith("cuda:0 (") && !all.device().contains("cuda:1"), all.device());
                }
                List<TokenizedInput> in = CpuPoolTest.shapes(one.vocabSize(), 30, budget);
                float[][] want = one.embedTokens(in).vectors();
                float[][] got = all.embedTokens(in).vectors();
                // Same batches, same kernels, same GPU model: bit-identical whichever device ran a batch.
                for (int i = 0; i < in.size(); i++) assertArrayEquals(want[i], got[i], "budget " + budget + ", row " + i);
                if (cuda.count() > 1 && budget == 64) {
                    long busy = all.devices().stream().filter(d -> d.batches() > 0).count();
                    assertTrue(busy >= 2, "the batches went to one device only: " + all.devices());
                }
            }
        }
    }

    @Test
    void aListUsesTheNamedDevicesInItsOrder() {
        assumeGpu();
        assumeTrue(cuda.count() > 1, "one CUDA device: lists of several need more");
        String list = "cuda:" + (cuda.count() - 1) + ",0";
        try (ReasonIR one = ReasonIR.open(Fixtures.checkpoint("plain_mha"), on("cuda:0", 128));
             ReasonIR two = ReasonIR.open(Fixtures.checkpoint("plain_mha"), on(list, 128))) {
            assertEquals(List.of("cuda:" + (cuda.count() - 1), "cuda:0"),
                    two.devices().stream().map(DeviceInfo::name).toList());
            List<TokenizedInput> in = CpuPoolTest.shapes(one.vocabSize(), 20, 3);
            float[][] want = one.embedTokens(in).vectors();
            float[][] got = two.embedTokens(in).vectors();
            for (int i = 0; i < in.size(); i++) assertArrayEquals(want[i], got[i], "row " + i);
        }
    }

    @Test
    void aDeviceListedTwiceOrMissingIsRefusedBeforeLoading() {
        assumeGpu();
        var twice = assertThrows(ReasonIRException.class, () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"),
                on("cuda:0,0", 128)));
        assertEquals(ReasonIRException.Kind.INVALID_ARGUMENT, twice.kind());
        var missing = assertThrows(ReasonIRException.class, () -> ReasonIR.open(Fixtures.checkpoint("plain_mha"),
                on("cuda:0," + cuda.count(), 128)));
        assertEquals(ReasonIRException.Kind.DEVICE, missing.kind());
        assertTrue(missing.getMessage().contains("cuda:" + cuda.count() + " does not exist"), missing.getMessage());
    }
}
