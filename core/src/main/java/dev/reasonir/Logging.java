package dev.reasonir;

import java.lang.reflect.Field;
import java.util.ServiceLoader;

/**
 * Keeps the library quiet by default. The engine logs through {@code System.Logger} (java.util.logging unless the
 * application routes it elsewhere) and says little: one INFO line when {@code auto} picks a device, DEBUG timings.
 * DJL, used for tokenization, logs through SLF4J; an application without an SLF4J provider would get SLF4J's own
 * "No SLF4J providers were found" warning on stderr, and a missing GPU reported by DJL's probe reads like a broken
 * install. So:
 * <ul>
 * <li>when no provider is on the class path, SLF4J is pointed at its built-in no-op provider (the
 * {@code slf4j.provider} system property, SLF4J 2.0.9+, with SLF4J's own INFO report of that choice silenced through
 * {@code slf4j.internal.verbosity}). This is settled on the first touch of the core API ({@link ReasonIR},
 * {@link Options}, {@link Instructions}, {@link TextTokenizer}), before SLF4J starts for another library such as
 * LangChain4j: SLF4J reads the property once, when it first binds. An application with a provider keeps it and its
 * own configuration; to see DJL's messages, add one (e.g. slf4j-jdk14) and set the level of the {@code ai.djl}
 * loggers.</li>
 * <li>DJL's tokenizer native library is loaded with DJL's CUDA probe report switched off. Loading it runs
 * {@code Platform.detectPlatform}, which asks the CUDA runtime for a GPU count only to choose a native build; on a
 * machine with a CUDA runtime but no usable GPU it logs "Failed to detect GPU count: CUDA driver version is
 * insufficient" at WARN, once per platform file, whatever the {@code ai.djl} level advice says about INFO lines.
 * The engine runs DJL offline, where DJL always takes its CPU tokenizer build, so the answer changes nothing here.
 * The probe's own logging switch ({@code CudaUtils.logging}, which DJL turns off in its forked probe) is off only
 * while that library loads, then restored: other DJL users in the same JVM keep their reports.</li>
 * </ul>
 */
final class Logging {
    static final String NOP_PROVIDER = "org.slf4j.helpers.NOP_FallbackServiceProvider";
    static final String DJL_CUDA_UTILS = "ai.djl.util.cuda.CudaUtils";
    static final String DJL_TOKENIZER_LIB = "ai.djl.huggingface.tokenizers.jni.LibUtils";

    private static boolean settled;
    private static boolean tokenizerLibraryLoaded;

    private Logging() {}

    /** Called from the static initializers of the public entry points; cheap after the first call. */
    static synchronized void settle() {
        if (settled) return;
        settled = true;
        quietSlf4jWithoutProvider();
    }

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

    /**
     * Initializes DJL's tokenizer native loader with the CUDA probe's report off (see the class comment). A failure to
     * load is not reported here: DJL keeps it and throws it when the tokenizer is built, as before.
     */
    static synchronized void loadTokenizerLibraryQuietly() {
        if (tokenizerLibraryLoaded) return;
        tokenizerLibraryLoaded = true;
        ClassLoader loader = Logging.class.getClassLoader();
        Field logging = null;
        boolean was = true;
        try {
            Class<?> cuda = Class.forName(DJL_CUDA_UTILS, true, loader);  // its initializer logs at DEBUG at most
            logging = cuda.getDeclaredField("logging");
            logging.setAccessible(true);
            was = logging.getBoolean(null);
            logging.setBoolean(null, false);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            logging = null;  // another DJL version or a module boundary: load as DJL does, reports included
        }
        try {
            Class.forName(DJL_TOKENIZER_LIB, true, loader);  // its static initializer loads the native library
        } catch (ClassNotFoundException | LinkageError e) {
            // surfaces again, with DJL's message, when the tokenizer is built
        } finally {
            if (logging != null) {
                try {
                    logging.setBoolean(null, was);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    // leave it off
                }
            }
        }
    }
}
