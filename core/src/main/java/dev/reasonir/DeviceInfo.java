package dev.reasonir;

/**
 * One engine of an open model ({@link ReasonIR#devices()}): which device, whether it is still in use, what it has
 * done. A snapshot: the counters keep moving while the model works.
 *
 * @param name        the device as opened: "cuda:2", "cpu" (a member of the device set of {@link Options#device()})
 * @param device      the engine's human-readable device, e.g. "cuda:2 (NVIDIA H100 80GB HBM3)"
 * @param state       {@link State#HEALTHY} or, after a device fault, {@link State#FAILED}
 * @param batches     packed batches this engine embedded
 * @param tokens      tokens of those batches
 * @param failures    device faults ({@link ReasonIRException.Kind#DEVICE}) this engine reported
 * @param lastFailure the message of the last device fault; "" when none
 * @param loadNanos   time the engine took to open (read and place the weights)
 * @param loadGBps    checkpoint bytes (the safetensors files) per second of {@code loadNanos}, in GB (1e9 bytes)
 */
public record DeviceInfo(String name, String device, State state, long batches, long tokens, int failures,
                         String lastFailure, long loadNanos, double loadGBps) {
    /** Whether the pool still gives the engine work. */
    public enum State {
        HEALTHY,
        /**
         * A device fault took the engine out of a pool of several, for good (its in-flight batch was retried on
         * another). A model of one engine keeps using it, since there is no other: the state then says that its last
         * batch failed with a device fault, until one succeeds.
         */
        FAILED
    }
}
