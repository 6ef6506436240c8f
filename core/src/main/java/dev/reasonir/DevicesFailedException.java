package dev.reasonir;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every engine of a device pool has failed with a device fault, so nothing is left to run the call. The message
 * names each device and its cause; {@link #failures()} gives them one by one. {@link #kind()} is
 * {@link Kind#DEVICE}. The model stays open (close it; a new one can be opened once the devices are fixed).
 */
public class DevicesFailedException extends ReasonIRException {
    private final Map<String, String> failures;

    /** @param failures device ({@code "cuda:2"}) to the message of its fault, in pool order */
    public DevicesFailedException(Map<String, String> failures, Throwable cause) {
        super(Kind.DEVICE, message(failures), cause);
        this.failures = Collections.unmodifiableMap(new LinkedHashMap<>(failures));
    }

    /** Device to the message of the fault that took it out, in pool order. */
    public Map<String, String> failures() {
        return failures;
    }

    private static String message(Map<String, String> failures) {
        StringBuilder b = new StringBuilder("no device left in the pool: all " + failures.size()
                + " failed (");
        String sep = "";
        for (Map.Entry<String, String> e : failures.entrySet()) {
            b.append(sep).append(e.getKey()).append(": ").append(e.getValue());
            sep = "; ";
        }
        return b.append(')').toString();
    }
}
