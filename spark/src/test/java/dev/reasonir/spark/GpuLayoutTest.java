package dev.reasonir.spark;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which engine a GPU task gets (ExecutorModels.deviceFor): one GPU per task, or the executor's GPUs as one pool. */
class GpuLayoutTest {
    @Test
    void oneGpuPerTaskIsThatDevice() {
        assertEquals("cuda:3", ExecutorModels.deviceFor(new String[] {"3"}, "8"));
        assertEquals("cuda:0", ExecutorModels.deviceFor(new String[] {" 0 "}, null));
    }

    @Test
    void allOfTheExecutorsGpusAreOnePoolInOrdinalOrder() {
        // every task of the executor gets the same pool, whatever order Spark lists the addresses in
        assertEquals("cuda:0,1,2,3", ExecutorModels.deviceFor(new String[] {"2", "0", "3", "1"}, "4"));
        assertEquals("cuda:4,5", ExecutorModels.deviceFor(new String[] {"5", "4"}, "2.0"));
        assertEquals("cuda:1,2", ExecutorModels.deviceFor(new String[] {"2", "1"}, null));
    }

    @Test
    void someButNotAllOfTheExecutorsGpusIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ExecutorModels.deviceFor(new String[] {"0", "1"}, "4"));
        assertTrue(e.getMessage().contains("spark.task.resource.gpu.amount to 1"), e.getMessage());
        IllegalStateException bad = assertThrows(IllegalStateException.class,
                () -> ExecutorModels.deviceFor(new String[] {"GPU-0a1b"}, "1"));
        assertTrue(bad.getMessage().contains("CUDA device ordinals"), bad.getMessage());
    }
}
