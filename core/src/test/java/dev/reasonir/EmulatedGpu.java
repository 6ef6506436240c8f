package dev.reasonir;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads the engine built over the CUDA-on-CPU emulator (native/emu) instead of the real one, when the JVM was started
 * with {@code -Dreasonir.emulatedLibrary=.../emu-lib/libreasonir.so} (core/pom.xml, Surefire execution
 * "emulated-gpu"). Then {@link CudaBackendTest} runs the Java API on device "cuda" in CI, against the emulator: the
 * same checks a GPU run makes, slower and without hardware. It must run before anything loads the native library:
 * JavaCPP's own loading is switched off and the two libraries are loaded here, the engine first, so that the JNI
 * glue's dependency on libreasonir.so resolves to it (same soname).
 */
final class EmulatedGpu {
    private static boolean loaded;

    private EmulatedGpu() {}

    /** True when the emulated engine is in use in this JVM. */
    static synchronized boolean loadIfRequested() {
        if (loaded) return true;
        String engine = System.getProperty("reasonir.emulatedLibrary");
        String jni = System.getProperty("reasonir.jniLibrary");
        if (engine == null || engine.isEmpty()) return false;
        if (!Files.isRegularFile(Path.of(engine)) || jni == null || !Files.isRegularFile(Path.of(jni))) {
            throw new IllegalStateException("emulated engine requested but not built: " + engine + ", " + jni);
        }
        System.setProperty("org.bytedeco.javacpp.loadlibraries", "false");
        System.load(engine);
        System.load(jni);
        loaded = true;
        return true;
    }
}
