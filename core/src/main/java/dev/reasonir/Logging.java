package dev.reasonir;

import java.util.ServiceLoader;

/**
 * Keeps the library quiet by default. The engine logs through {@code System.Logger} (java.util.logging unless the
 * application routes it elsewhere) and says little: one INFO line when {@code auto} picks a device, DEBUG timings.
 * DJL, used for tokenization, logs through SLF4J; an application without an SLF4J provider would get SLF4J's own
 * "No SLF4J providers were found" warning on stderr, and a missing GPU reported by DJL's probe reads like a broken
 * install. So when no provider is on the class path, SLF4J is pointed at its built-in no-op provider (the
 * {@code slf4j.provider} system property, SLF4J 2.0.9+, with SLF4J's own INFO report of that choice silenced through
 * {@code slf4j.internal.verbosity}). An application with a provider keeps it and its own
 * configuration; to see DJL's messages, add one (e.g. slf4j-jdk14) and set the level of the {@code ai.djl} loggers.
 */
final class Logging {
    static final String NOP_PROVIDER = "org.slf4j.helpers.NOP_FallbackServiceProvider";

    private Logging() {}

    static synchronized void quietSlf4jWithoutProvider() {
        if (System.getProperty("slf4j.provider") != null) return;  // the application decided
        try {
            Class<?> spi = Class.forName("org.slf4j.spi.SLF4JServiceProvider");
            if (!ServiceLoader.load(spi).iterator().hasNext()) {
                Class.forName(NOP_PROVIDER);  // present in every slf4j-api 2.0.x
                System.setProperty("slf4j.provider", NOP_PROVIDER);
                // SLF4J reports an explicitly named provider at INFO ("Attempting to load provider ...").
                if (System.getProperty("slf4j.internal.verbosity") == null) {
                    System.setProperty("slf4j.internal.verbosity", "WARN");
                }
            }
        } catch (ClassNotFoundException | LinkageError | java.util.ServiceConfigurationError e) {
            // No SLF4J 2 on the class path: nothing to quiet.
        }
    }
}
