package dev.reasonir;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.internal.NativeModel;
import dev.reasonir.internal.ReasonIRNative;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every way {@link ReasonIR#open} can fail gives a clean message: the native error buffer is read up to its NUL (not
 * the whole 4 KiB buffer with whatever memory follows the message), and the message names what it should.
 */
class ErrorMessagesTest {
    /** No NUL, no control character but newline, short, and names every needle. */
    static void assertClean(String what, String message, String... needles) {
        assertTrue(message.length() < 1000, what + ": message of " + message.length() + " chars: "
                + printable(message));
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (c != '\n' && (Character.isISOControl(c) || c == '\uFFFD')) {
                fail(what + ": control character U+" + String.format("%04X", (int) c) + " at " + i + " in: "
                        + printable(message));
            }
        }
        for (String n : needles) {
            assertTrue(message.contains(n), what + ": '" + message + "' lacks '" + n + "'");
        }
    }

    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.substring(0, Math.min(300, s.length())).toCharArray()) {
            b.append(Character.isISOControl(c) && c != '\n' ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return b.toString();
    }

    record Case(String name, Supplier<Path> dir, Options options, ReasonIRException.Kind kind, String[] needles) {}

    static Case c(String name, Supplier<Path> dir, Options options, ReasonIRException.Kind kind, String... needles) {
        return new Case(name, dir, options, kind, needles);
    }

    static Path copy(Path tmp, String fixture, String name) {
        try {
            return Fixtures.copyCheckpoint(fixture, tmp.resolve(name));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static Path edit(Path dir, String file, String content) {
        try {
            Files.writeString(dir.resolve(file), content, StandardCharsets.UTF_8);
            return dir;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The open failures, each from a fresh broken copy of a fixture checkpoint. */
    static List<Case> cases(Path tmp) {
        Options cpu = Options.defaults().withDevice("cpu");
        boolean gpu = ReasonIR.cudaDeviceCount().count() > 0;
        List<Case> cases = new ArrayList<>(List.of(
                c("missing folder", () -> tmp.resolve("nope"), cpu, ReasonIRException.Kind.IO, "nope", "not exist"),
                c("missing config.json", () -> {
                    Path d = copy(tmp, "plain_mha", "noconfig");
                    try {
                        Files.delete(d.resolve("config.json"));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    return d;
                }, cpu, ReasonIRException.Kind.IO, "config.json"),
                c("bad JSON", () -> edit(copy(tmp, "plain_mha", "badjson"), "config.json", "{\"hidden_size\": 96,,"),
                        cpu, ReasonIRException.Kind.FORMAT, "config.json"),
                c("control byte in config.json", () -> edit(copy(tmp, "plain_mha", "ctrl"), "config.json",
                        "{\"hidden_size\": \u0001\u0007\u001b[31m}"), cpu, ReasonIRException.Kind.FORMAT, "config.json"),
                c("config missing field", () -> {
                    Path d = copy(tmp, "plain_mha", "nofield");
                    ObjectNode cfg = (ObjectNode) Fixtures.readJson(d.resolve("config.json"));
                    cfg.remove("vocab_size");
                    return edit(d, "config.json", cfg.toString());
                }, cpu, ReasonIRException.Kind.CONFIG, "vocab_size"),
                c("bad shard", () -> {
                    Path d = copy(tmp, "plain_mha", "badshard");
                    try (RandomAccessFile r = new RandomAccessFile(d.resolve("model.safetensors").toFile(), "rw")) {
                        r.setLength(r.length() - 1000);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    return d;
                }, cpu, ReasonIRException.Kind.FORMAT, "model.safetensors"),
                c("bad index JSON", () -> edit(copy(tmp, "llama3_gqa", "badindex"), "model.safetensors.index.json",
                        "{\"weight_map\": [}"), cpu, ReasonIRException.Kind.FORMAT, "model.safetensors.index.json"),
                c("unknown device", () -> Fixtures.checkpoint("plain_mha"), cpu.withDevice("tpu"),
                        ReasonIRException.Kind.INVALID_ARGUMENT, "tpu")));
        if (!gpu) {
            // On a machine without a usable GPU every CUDA request fails and must say why.
            cases.add(c("device cuda without a GPU", () -> Fixtures.checkpoint("plain_mha"), cpu.withDevice("cuda"),
                    ReasonIRException.Kind.DEVICE, "cuda"));
            cases.add(c("device cuda:99 without a GPU", () -> Fixtures.checkpoint("plain_mha"),
                    cpu.withDevice("cuda:99"), ReasonIRException.Kind.DEVICE, "cuda:99"));
        } else {
            cases.add(c("device cuda:99", () -> Fixtures.checkpoint("plain_mha"), cpu.withDevice("cuda:99"),
                    ReasonIRException.Kind.DEVICE, "cuda:99"));
            cases.add(c("cuda with FP32", () -> Fixtures.checkpoint("plain_mha"),
                    cpu.withDevice("cuda").withPrecision(Precision.FP32), null, "FP32"));
        }
        return cases;
    }

    @Test
    void everyOpenErrorIsCleanAndNamesItsCause(@TempDir Path tmp) {
        for (Case k : cases(tmp)) {
            Path dir = k.dir().get();
            var e = assertThrows(ReasonIRException.class, () -> ReasonIR.open(dir, k.options()).close(), k.name());
            if (k.kind() != null) assertEquals(k.kind(), e.kind(), k.name() + ": " + printable(e.getMessage()));
            assertClean(k.name(), e.getMessage(), k.needles());
        }
    }

    /**
     * The binding level, for what the Java API cannot send (an unknown precision): the buffer is filled with junk
     * first, as stray memory would be; only the message up to its NUL may come back.
     */
    @Test
    void errorBufferIsReadUpToTheNul() throws Exception {
        ReasonIRNative.load();
        int cap = 4096;
        try (var o = new ReasonIRNative.OpenOptions();
             var dirStr = new BytePointer(Fixtures.checkpoint("plain_mha").toString(), "UTF-8");
             var devStr = new BytePointer("cpu", "UTF-8");
             PointerPointer<ReasonIRNative.Model> out = new PointerPointer<>(1);
             BytePointer err = new BytePointer(cap)) {
            err.fill('#');
            ReasonIRNative.rir_open_options_init(o);
            o.model_dir(dirStr).device(devStr).precision(7);
            int st = ReasonIRNative.rir_open(o, out, err, cap);
            assertEquals(ReasonIRNative.RIR_ERR_INVALID_ARGUMENT, st);
            String message = NativeModel.cString(err, cap);
            assertClean("bad precision", message, "precision", "7");
            assertTrue(!message.contains("#"), message);
            var handle = out.get(ReasonIRNative.Model.class, 0);
            assertTrue(handle == null || handle.isNull(), "no handle on failure");
        }
        // No NUL within the capacity (cannot happen with rir_open, which always terminates): the whole buffer.
        try (BytePointer full = new BytePointer(8)) {
            full.fill('a');
            assertEquals("aaaaaaaa", NativeModel.cString(full, 8));
        }
    }

    @Test
    void cudaDeviceCountGivesAReasonWhenZero() {
        var c = ReasonIR.cudaDeviceCount();
        assertTrue(c.count() >= 0);
        if (c.count() == 0) {
            assertNotEquals("", c.reason());
            assertClean("cuda device count", c.reason());
        } else {
            assertEquals("", c.reason());
        }
    }
}
