package dev.reasonir;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/** Test helper: read a safetensors file's header and data, edit them, write a file (test fixtures only). */
final class SafetensorsEdit {
    final ObjectNode header;
    final byte[] data;

    private SafetensorsEdit(ObjectNode header, byte[] data) {
        this.header = header;
        this.data = data;
    }

    static SafetensorsEdit read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode h = (ObjectNode) Fixtures.JSON.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        byte[] data = java.util.Arrays.copyOfRange(all, 8 + (int) n, all.length);
        return new SafetensorsEdit(h, data);
    }

    ObjectNode tensor(String name) {
        return (ObjectNode) header.get(name);
    }

    /** Tensor name -> raw bytes, in header order (skipping __metadata__). */
    Map<String, byte[]> tensors() {
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (Iterator<String> it = header.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.equals("__metadata__")) continue;
            var off = header.get(name).get("data_offsets");
            out.put(name, java.util.Arrays.copyOfRange(data, (int) off.get(0).asLong(), (int) off.get(1).asLong()));
        }
        return out;
    }

    void write(Path file) throws IOException {
        writeRaw(file, Fixtures.JSON.writeValueAsString(header), data);
    }

    static void writeRaw(Path file, String headerJson, byte[] data) throws IOException {
        StringBuilder h = new StringBuilder(headerJson);
        while (h.length() % 8 != 0) h.append(' ');
        byte[] hb = h.toString().getBytes(StandardCharsets.UTF_8);
        try (OutputStream o = Files.newOutputStream(file)) {
            o.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.length).array());
            o.write(hb);
            o.write(data);
        }
    }

    /** Writes tensors (name -> [dtype, shape, bytes]) as one safetensors file laid out back to back. */
    static void writeTensors(Path file, Map<String, Object[]> tensors) throws IOException {
        ObjectNode h = Fixtures.JSON.createObjectNode();
        h.putObject("__metadata__").put("format", "pt");
        var data = new java.io.ByteArrayOutputStream();
        for (var e : tensors.entrySet()) {
            Object[] t = e.getValue();
            byte[] bytes = (byte[]) t[2];
            ObjectNode n = h.putObject(e.getKey());
            n.put("dtype", (String) t[0]);
            var shape = n.putArray("shape");
            for (long d : (long[]) t[1]) shape.add(d);
            n.putArray("data_offsets").add(data.size()).add(data.size() + bytes.length);
            data.write(bytes);
        }
        writeRaw(file, Fixtures.JSON.writeValueAsString(h), data.toByteArray());
    }
}
