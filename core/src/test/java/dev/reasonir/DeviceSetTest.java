package dev.reasonir;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device strings: single devices pass through to the engine, sets are parsed and checked here. */
class DeviceSetTest {
    static List<String> members(String device, int gpus) {
        return DeviceSet.parse(device).members(gpus, "no CUDA driver");
    }

    @Test
    void singleDevicesPassThroughUnchanged() {
        for (String d : new String[] {"auto", "cpu", "cuda", "cuda:0", "cuda:7", "tpu"}) {
            DeviceSet s = DeviceSet.parse(d);
            assertFalse(s.isSet(), d);
            // No CUDA count is asked for a single device: the engine resolves and validates it, as before.
            assertEquals(List.of(d), s.members(() -> {
                throw new AssertionError("asked the GPU count for " + d);
            }));
        }
    }

    @Test
    void cudaAllIsEveryUsableGpuAndCuda0WithOne() {
        assertEquals(List.of("cuda:0", "cuda:1", "cuda:2", "cuda:3"), members("cuda:all", 4));
        assertEquals(List.of("cuda:0"), members("cuda:all", 1));
        assertTrue(DeviceSet.parse("cuda:all").isSet());
        var none = assertThrows(ReasonIRException.class, () -> members("cuda:all", 0));
        assertEquals(ReasonIRException.Kind.DEVICE, none.kind());
        assertEquals("device 'cuda:all' requested, but no CUDA driver", none.getMessage());
    }

    @Test
    void listsKeepTheirOrderAndRefuseDuplicatesAndMissingGpus() {
        assertEquals(List.of("cuda:3", "cuda:0", "cuda:2"), members("cuda:3,0,2", 4));
        var twice = assertThrows(ReasonIRException.class, () -> DeviceSet.parse("cuda:0,2,0"));
        assertEquals(ReasonIRException.Kind.INVALID_ARGUMENT, twice.kind());
        assertTrue(twice.getMessage().startsWith("device 'cuda:0,2,0': cuda:0 is listed twice"), twice.getMessage());
        var missing = assertThrows(ReasonIRException.class, () -> members("cuda:0,5", 4));
        assertEquals(ReasonIRException.Kind.DEVICE, missing.kind());
        assertEquals("device 'cuda:0,5': cuda:5 does not exist: there are 4 usable CUDA devices (cuda:0 .. cuda:3)",
                missing.getMessage());
        assertEquals("device 'cuda:0,1': cuda:1 does not exist: there is 1 usable CUDA device (cuda:0)",
                assertThrows(ReasonIRException.class, () -> members("cuda:0,1", 1)).getMessage());
    }

    @Test
    void cpuEngines() {
        assertEquals(List.of("cpu", "cpu", "cpu"), members("cpu*3", 0));
        assertTrue(DeviceSet.parse("cpu*3").isSet());
        assertEquals(List.of("cpu"), members("cpu*1", 0));
        assertFalse(DeviceSet.parse("cpu*1").isSet(), "one CPU engine is plain cpu");
        assertEquals(4, DeviceSet.threadsPerEngine(0, 2, () -> 8));
        assertEquals(1, DeviceSet.threadsPerEngine(0, 3, () -> 2), "at least one thread per engine");
        assertEquals(3, DeviceSet.threadsPerEngine(6, 2, () -> 64));
        assertEquals(0, DeviceSet.threadsPerEngine(0, 1, () -> 8), "one engine keeps the option");
    }

    @Test
    void malformedSetsAreRefusedNamingTheString() {
        for (String d : new String[] {"cuda:0,", "cuda:,1", "cuda:0,,1", "cuda:a,1", "cpu*", "cpu*0", "cpu*x",
                "cpu*999", "cuda*2", "cpu,cuda", "cpu:all", "cuda:1,-2"}) {
            var e = assertThrows(ReasonIRException.class, () -> DeviceSet.parse(d), d);
            assertEquals(ReasonIRException.Kind.INVALID_ARGUMENT, e.kind(), d);
            assertTrue(e.getMessage().startsWith("device '" + d + "': "), e.getMessage());
        }
    }
}
