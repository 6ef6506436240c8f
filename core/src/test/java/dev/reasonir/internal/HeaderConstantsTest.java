package dev.reasonir.internal;

import dev.reasonir.CheckpointException;
import dev.reasonir.InvalidInputException;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIRException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The C header is the one source of the engine's numbers: every {@code RIR_*} constant of
 * {@code native/include/reasonir.h} (statuses, precisions, dtypes, flags, API version) has its field in
 * {@link ReasonIRNative} with the header's value (read through the JNI glue, not retyped) and Java has none the header
 * lacks; every status and precision of the header maps to the Java type of the same name. (The Python ctypes binding
 * is checked against the same header by benchmarks/reasonir_bench/tests/test_header_constants.py.)
 */
class HeaderConstantsTest {
    /** {@code #define RIR_X 1} / {@code 1u}, and enumerators {@code RIR_X = 1}. */
    private static final Pattern DEFINE = Pattern.compile("(?m)^\\s*#define\\s+(RIR_\\w+)\\s+(-?\\d+)[uU]?\\b");
    private static final Pattern ENUMERATOR = Pattern.compile("\\b(RIR_\\w+)\\s*=\\s*(-?\\d+)\\s*[,}/\\n]");

    /** The header, found from the repository root: the parent of weights-tools, where reasonir.fixtures points. */
    static Path header() {
        String fixtures = System.getProperty("reasonir.fixtures");
        if (fixtures == null) {
            throw new IllegalStateException("system property reasonir.fixtures not set (run through Maven)");
        }
        Path h = Path.of(fixtures).getParent().getParent().resolve("native/include/reasonir.h");
        assertTrue(Files.isRegularFile(h), h + " missing");
        return h;
    }

    /** Every integer RIR_* constant the header defines, by name. */
    static Map<String, Integer> headerConstants() throws IOException {
        String text = Files.readString(header());
        Map<String, Integer> out = new TreeMap<>();
        for (Pattern p : new Pattern[] {DEFINE, ENUMERATOR}) {
            Matcher m = p.matcher(text);
            while (m.find()) {
                Integer old = out.put(m.group(1), Integer.valueOf(m.group(2)));
                assertTrue(old == null, m.group(1) + " defined twice in the header");
            }
        }
        // A parser that silently finds nothing would make every check below vacuous.
        assertTrue(out.keySet().containsAll(Set.of("RIR_OK", "RIR_ERR_INTERNAL", "RIR_PRECISION_BF16", "RIR_DTYPE_F32",
                "RIR_EMBED_NO_NORMALIZE", "RIR_OPEN_COPY_WEIGHTS", "RIR_API_VERSION")), out.toString());
        return out;
    }

    static Map<String, Integer> withPrefix(Map<String, Integer> constants, String prefix) {
        Map<String, Integer> out = new TreeMap<>();
        constants.forEach((k, v) -> {
            if (k.startsWith(prefix)) out.put(k, v);
        });
        return out;
    }

    @Test
    void everyHeaderConstantHasItsJavaFieldWithTheHeadersValue() throws Exception {
        Map<String, Integer> java = new TreeMap<>();
        for (Field f : ReasonIRNative.class.getDeclaredFields()) {
            int mod = f.getModifiers();
            if (f.getName().startsWith("RIR_") && Modifier.isStatic(mod) && f.getType() == int.class) {
                assertTrue(Modifier.isPublic(mod) && Modifier.isFinal(mod), f.getName() + " must be public final");
                java.put(f.getName(), f.getInt(null));
            }
        }
        // Equal maps: same names (none missing on either side) and same values.
        assertEquals(headerConstants(), java);
    }

    @Test
    void everyStatusMapsToTheKindOfItsName() throws Exception {
        Map<String, Integer> errors = withPrefix(headerConstants(), "RIR_ERR_");
        Set<ReasonIRException.Kind> named = EnumSet.noneOf(ReasonIRException.Kind.class);
        for (var e : errors.entrySet()) {
            ReasonIRException.Kind kind = ReasonIRException.Kind.valueOf(e.getKey().substring("RIR_ERR_".length()));
            named.add(kind);
            ReasonIRException x = NativeModel.fromStatus(e.getValue(), "native text", -1, null);
            assertEquals(kind, x.kind(), e.getKey());
            assertEquals("native text", x.getMessage(), e.getKey());
            assertEquals(-1, x.inputIndex(), e.getKey());
            Class<?> type = switch (kind) {
                case INPUT -> InvalidInputException.class;
                case IO, FORMAT, CHECKPOINT, CONFIG -> CheckpointException.class;
                default -> ReasonIRException.class;
            };
            assertSame(type, x.getClass(), e.getKey());
        }
        // Kind mirrors rir_status plus the Java-side cases: only those have no status.
        Set<ReasonIRException.Kind> javaOnly = EnumSet.complementOf(EnumSet.copyOf(named));
        assertEquals(EnumSet.of(ReasonIRException.Kind.TOKENIZER), javaOnly);
        // A status this build does not know (a newer library): INTERNAL, message kept.
        int unknown = new TreeSet<>(errors.values()).last() + 1;
        ReasonIRException x = NativeModel.fromStatus(unknown, "from the future", -1, null);
        assertEquals(ReasonIRException.Kind.INTERNAL, x.kind());
        assertEquals("from the future", x.getMessage());
    }

    @Test
    void statusMapsTheBatchSequenceToTheCallersInput() throws Exception {
        int input = headerConstants().get("RIR_ERR_INPUT");
        int checkpoint = headerConstants().get("RIR_ERR_CHECKPOINT");
        var e = NativeModel.fromStatus(input, "bad token", 2, new int[] {5, 8, 3});
        assertEquals(3, e.inputIndex());
        assertEquals("input 3: bad token", e.getMessage());
        var c = NativeModel.fromStatus(checkpoint, "sequence 0 produced a non-finite embedding", 0, new int[] {9});
        assertEquals(9, c.inputIndex());
        assertSame(CheckpointException.class, c.getClass());
        // No batch, or an index outside it: no input named.
        assertEquals(-1, NativeModel.fromStatus(input, "x", 0, null).inputIndex());
        assertEquals(-1, NativeModel.fromStatus(input, "x", 3, new int[] {1, 2, 3}).inputIndex());
    }

    @Test
    void everyAttentionAndGraphsChoiceIsTheHeadersValueOfItsName() throws Exception {
        Map<String, Integer> attention = withPrefix(headerConstants(), "RIR_ATTENTION_");
        Map<String, Integer> mapped = new TreeMap<>();
        for (Options.Attention a : Options.Attention.values()) {
            mapped.put("RIR_ATTENTION_" + a.name(), NativeModel.nativeAttention(a));
        }
        assertEquals(attention, mapped);  // one Java choice per header value, same names, same values
        Map<String, Integer> graphs = withPrefix(headerConstants(), "RIR_CUDA_GRAPHS_");
        Map<String, Integer> mappedGraphs = new TreeMap<>();
        for (Options.CudaGraphs g : Options.CudaGraphs.values()) {
            mappedGraphs.put("RIR_CUDA_GRAPHS_" + g.name(), NativeModel.nativeCudaGraphs(g));
        }
        assertEquals(graphs, mappedGraphs);
        assertEquals(4, attention.size());
        assertEquals(4, graphs.size());
    }

    @Test
    void everyPrecisionMapsBothWays() throws Exception {
        Map<String, Integer> precisions = withPrefix(headerConstants(), "RIR_PRECISION_");
        Set<Precision> seen = EnumSet.noneOf(Precision.class);
        for (var e : precisions.entrySet()) {
            Precision p = Precision.valueOf(e.getKey().substring("RIR_PRECISION_".length()));
            seen.add(p);
            assertEquals(e.getValue(), NativeModel.nativePrecision(p), e.getKey());
            assertSame(p, NativeModel.precisionOf(e.getValue()), e.getKey());
        }
        assertEquals(EnumSet.allOf(Precision.class), seen, "a Precision without an rir_precision");
    }
}
