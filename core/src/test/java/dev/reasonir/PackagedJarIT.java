package dev.reasonir;

import dev.reasonir.internal.ReasonIRNative;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs (Failsafe, after `package`) with the packaged jar in place of target/classes: the native engine must load from
 * the jar alone, extracted by JavaCPP into its cache, not from the CMake build folder the JNI glue was linked against.
 */
class PackagedJarIT {
    @Test
    void engineLoadsFromThePackagedJar() throws Exception {
        Path jar = Path.of(System.getProperty("reasonir.packagedJar"));
        try (JarFile j = new JarFile(jar.toFile())) {
            assertNotNull(j.getEntry("dev/reasonir/internal/linux-x86_64/libreasonir.so"), "jar lacks libreasonir.so");
            assertNotNull(j.getEntry("dev/reasonir/internal/linux-x86_64/libjniReasonIRNative.so"), "jar lacks JNI glue");
        }
        String where = ReasonIR.class.getProtectionDomain().getCodeSource().getLocation().getPath();
        assertTrue(where.endsWith(".jar"), "classes should come from the jar, came from " + where);

        try (ReasonIR m = ReasonIR.open(Fixtures.checkpoint("plain_mha"), Options.defaults().withDevice("cpu"))) {
            float[][] pooled = m.embedTokens(Fixtures.inputs("plain_mha"), false).vectors();
            float[][] expected = Fixtures.expected("plain_mha", "fp32");
            for (int i = 0; i < expected.length; i++) assertTrue(Fixtures.maxAbsDiff(expected[i], pooled[i]) <= 1e-4);
        }
        // Which libreasonir.so did the process map? It must be the one extracted from the jar.
        String cache = Path.of(System.getProperty("org.bytedeco.javacpp.cachedir")).toRealPath().toString();
        String nativeBuild = Path.of(System.getProperty("reasonir.nativeBuildDir")).toRealPath().toString();
        List<String> mapped = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.endsWith("libreasonir.so")).map(l -> l.substring(l.indexOf('/'))).distinct().toList();
        assertEquals(1, mapped.size(), "libreasonir.so mapped from: " + mapped);
        assertTrue(mapped.get(0).startsWith(cache), "loaded " + mapped.get(0) + ", not from the cache " + cache);
        assertFalse(mapped.get(0).startsWith(nativeBuild));
        assertTrue(ReasonIRNative.load().startsWith(cache));
    }
}
