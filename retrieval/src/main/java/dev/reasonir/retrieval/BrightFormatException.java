package dev.reasonir.retrieval;

import java.nio.file.Path;

/**
 * A BRIGHT-format folder that cannot be used as it is: a missing file or task folder, a line that is not valid JSON,
 * a field that is missing or of the wrong type, a duplicate example id. The message names the file and, where there
 * is one, the line (1-based, blank lines counted), so the export can be fixed without guessing.
 */
public class BrightFormatException extends RuntimeException {
    private final Path file;
    private final long line;

    /** A problem with a whole file or folder ({@link #line()} is 0). */
    public BrightFormatException(Path file, String message) {
        this(file, 0, message);
    }

    /** A problem on one line of a file; the message is prefixed with "FILE line N: ". */
    public BrightFormatException(Path file, long line, String message) {
        super(line > 0 ? file + " line " + line + ": " + message : message);
        this.file = file;
        this.line = line;
    }

    /** The file or folder at fault. */
    public Path file() {
        return file;
    }

    /** The 1-based line at fault, or 0 when the problem is not on one line. */
    public long line() {
        return line;
    }
}
