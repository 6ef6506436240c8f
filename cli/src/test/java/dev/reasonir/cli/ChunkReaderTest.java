package dev.reasonir.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The read-ahead of {@code embed}: chunks in order, line numbers across chunks and blank lines, errors in order. */
class ChunkReaderTest {
    @TempDir
    Path tmp;

    private static String ids(int... v) {
        StringBuilder sb = new StringBuilder("{\"ids\": [");
        for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ", ").append(v[i]);
        return sb.append("], \"pool_start\": 0}").toString();
    }

    @Test
    void chunksKeepOrderAndLineNumbers() throws Exception {
        String text = String.join("\n", ids(1), "", ids(2, 3), ids(4), "   ", ids(5), ids(6), ids(7)) + "\n";
        List<Long> lines = new ArrayList<>();
        List<Integer> first = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        // Pre-tokenized lines need no model: Main.prepare never touches it for them.
        try (ChunkReader r = new ChunkReader(new BufferedReader(new StringReader(text)), null, tmp.resolve("in.jsonl"), 2)) {
            for (ChunkReader.Chunk c = r.next(); !c.inputs().isEmpty(); c = r.next()) {
                sizes.add(c.inputs().size());
                lines.addAll(c.lineNumbers());
                c.inputs().forEach(in -> first.add(in.ids()[0]));
            }
        }
        assertEquals(List.of(2, 2, 2), sizes);
        assertEquals(List.of(1L, 3L, 4L, 6L, 7L, 8L), lines);
        assertEquals(List.of(1, 2, 4, 5, 6, 7), first);
    }

    @Test
    void theFirstBadLineInFileOrderIsReported() {
        // Two bad lines in one chunk, tokenized in parallel: the earlier one must be the one reported.
        String text = String.join("\n", ids(1), "{\"text\": \"\"}", ids(2), "{\"text\": \"\", \"instruction\": \"x\"}");
        CliException e = assertThrows(CliException.class, () -> {
            try (ChunkReader r = new ChunkReader(new BufferedReader(new StringReader(text)), null,
                    Path.of("in.jsonl"), 10)) {
                r.next();
            }
        });
        assertTrue(e.getMessage().startsWith("in.jsonl line 2: "), e.getMessage());
    }

    @Test
    void aMalformedLineInALaterChunkKeepsItsNumber() throws Exception {
        String text = String.join("\n", ids(1), ids(2), ids(3), "{not json");
        try (ChunkReader r = new ChunkReader(new BufferedReader(new StringReader(text)), null, Path.of("in.jsonl"), 3)) {
            assertArrayEquals(new int[] {1}, r.next().inputs().get(0).ids());
            CliException e = assertThrows(CliException.class, r::next);
            assertTrue(e.getMessage().startsWith("in.jsonl line 4"), e.getMessage());
        }
    }
}
