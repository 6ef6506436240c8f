package dev.reasonir.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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

    /** A reader over {@code text} written to in.jsonl; pre-tokenized lines need no model. */
    private ChunkReader reader(String text, int chunkLines) throws IOException {
        Path f = Files.writeString(tmp.resolve("in.jsonl"), text, StandardCharsets.UTF_8);
        return new ChunkReader(new InputFile(f), null, chunkLines, EngineOptions.Overflow.truncate);
    }

    @Test
    void chunksKeepOrderAndLineNumbers() throws Exception {
        String text = String.join("\n", ids(1), "", ids(2, 3), ids(4), "   ", ids(5), ids(6), ids(7)) + "\n";
        List<Long> lines = new ArrayList<>();
        List<Integer> first = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        // Pre-tokenized lines need no model: Main.prepare never touches it for them.
        try (ChunkReader r = reader(text, 2)) {
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
    void theFirstBadLineInFileOrderIsReported() throws IOException {
        // Two bad lines in one chunk, tokenized in parallel: the earlier one must be the one reported.
        String text = String.join("\n", ids(1), "{\"text\": \"\"}", ids(2), "{\"text\": \"\", \"instruction\": \"x\"}");
        CliException e = assertThrows(CliException.class, () -> {
            try (ChunkReader r = reader(text, 10)) {
                r.next();
            }
        });
        assertTrue(e.getMessage().startsWith(tmp.resolve("in.jsonl") + " line 2: "), e.getMessage());
    }

    @Test
    void aMalformedLineInALaterChunkKeepsItsNumber() throws Exception {
        String text = String.join("\n", ids(1), ids(2), ids(3), "{not json");
        try (ChunkReader r = reader(text, 3)) {
            assertArrayEquals(new int[] {1}, r.next().inputs().get(0).ids());
            CliException e = assertThrows(CliException.class, r::next);
            assertTrue(e.getMessage().startsWith(tmp.resolve("in.jsonl") + " line 4"), e.getMessage());
        }
    }
}
