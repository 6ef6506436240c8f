package dev.reasonir.cli;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A JSON-lines input file read line by line with its line numbers: UTF-8 only (invalid bytes are reported with the
 * line they are on, as an input error), a byte-order mark at the start skipped, a missing file reported in the CLI's
 * words. Lines are split on bytes and decoded one at a time (a {@code BufferedReader} decodes whole blocks ahead, so
 * its decoding errors cannot name the line); "\n" and "\r\n" both end a line.
 */
final class InputFile implements Closeable {
    private final Path path;
    private final InputStream in;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    private final byte[] buf = new byte[1 << 16];  // read-ahead, scanned for line ends by hand (no per-byte calls)
    private int pos, end;
    private long lineNo;

    InputFile(Path path) throws IOException {
        this.path = path;
        if (Files.isDirectory(path)) throw new CliException(path + " is a folder, not an input file");
        try {
            this.in = Files.newInputStream(path);
        } catch (NoSuchFileException e) {
            throw new CliException("input file " + path + " does not exist");
        }
    }

    /** The next line (without its line break), or null at the end. */
    String next() throws IOException {
        line.reset();
        boolean eol = false;
        while (!eol) {
            if (pos == end) {
                end = in.read(buf, 0, buf.length);
                pos = 0;
                if (end <= 0) {
                    end = 0;
                    if (line.size() == 0) return null;
                    break;
                }
            }
            int start = pos;
            while (pos < end && buf[pos] != '\n') pos++;
            line.write(buf, start, pos - start);
            if (pos < end) {
                pos++;  // the '\n'
                eol = true;
            }
        }
        lineNo++;
        byte[] bytes = line.toByteArray();
        int len = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        String text;
        try {
            text = utf8.decode(ByteBuffer.wrap(bytes, 0, len)).toString();
        } catch (CharacterCodingException e) {
            throw new CliException(path + " line " + lineNo + ": not valid UTF-8");
        }
        if (lineNo == 1 && text.startsWith("\uFEFF")) text = text.substring(1);
        return text;
    }

    /** The number of the line last returned by {@link #next()}. */
    long lineNo() {
        return lineNo;
    }

    Path path() {
        return path;
    }

    /** Non-blank lines of a file: the total of the progress display (reading is fast next to embedding). */
    static long countNonBlank(Path path) throws IOException {
        long n = 0;
        try (InputFile f = new InputFile(path)) {
            for (String l = f.next(); l != null; l = f.next()) {
                if (!l.isBlank()) n++;
            }
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
