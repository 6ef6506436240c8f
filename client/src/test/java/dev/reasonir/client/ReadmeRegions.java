package dev.reasonir.client;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads what the README shows of an example project (the consumer projects under examples/, whose tests get it
 * through this test-jar): the fenced code blocks of one README section, and the regions of the sources marked
 * {@code README:begin NAME} ... {@code README:end} (in any comment syntax). Both are compared whitespace-exact after
 * removing each piece's common indentation, so the README cannot drift from code that compiles.
 */
public final class ReadmeRegions {
    private static final Pattern BEGIN = Pattern.compile("README:begin (\\S+)");
    private static final Pattern END = Pattern.compile("README:end\\b");

    /** A fenced block: its language tag and its text (no trailing newline). */
    public record Block(String language, String text) {}

    private ReadmeRegions() {}

    /** The repository root, as the pom passes it to the tests. */
    public static Path root() {
        String root = System.getProperty("reasonir.root");
        if (root == null) throw new IllegalStateException("system property reasonir.root not set (run through Maven)");
        return Path.of(root).toAbsolutePath().normalize();
    }

    /**
     * The fenced blocks of the README section whose heading line is {@code heading}, up to the next heading of the
     * same or a higher level (lines starting with '#' inside a block are code, not headings).
     */
    public static List<Block> sectionBlocks(Path readme, String heading) throws IOException {
        List<String> lines = Files.readAllLines(readme);
        int start = lines.indexOf(heading);
        if (start < 0) throw new AssertionError("no line '" + heading + "' in " + readme);
        int level = heading.indexOf(' ');
        List<Block> blocks = new ArrayList<>();
        String language = null;
        List<String> body = new ArrayList<>();
        for (String line : lines.subList(start + 1, lines.size())) {
            if (language == null) {
                if (line.startsWith("```")) {
                    language = line.substring(3).strip();
                    body.clear();
                } else if (line.startsWith("#") && line.indexOf(' ') > 0 && line.indexOf(' ') <= level
                        && line.substring(0, line.indexOf(' ')).chars().allMatch(c -> c == '#')) {
                    break;
                }
            } else if (line.startsWith("```")) {
                blocks.add(new Block(language, String.join("\n", dedent(body))));
                language = null;
            } else {
                body.add(line);
            }
        }
        if (language != null) throw new AssertionError("unclosed ``` block under '" + heading + "' in " + readme);
        return blocks;
    }

    /**
     * The region {@code name} of {@code source} as a README block of {@code language}, less its common indentation. A
     * name marked more than once gives its pieces one after the other (so a block can skip lines of the source, e.g.
     * a pom's test dependencies between its {@code <dependencies>} element's first dependencies and its end tag).
     */
    public static Block region(Path source, String name, String language) throws IOException {
        List<String> lines = new ArrayList<>();
        boolean inside = false;
        boolean found = false;
        for (String line : Files.readAllLines(source)) {
            Matcher begin = BEGIN.matcher(line);
            if (!inside) {
                if (begin.find() && begin.group(1).equals(name)) inside = found = true;
            } else if (END.matcher(line).find()) {
                inside = false;
            } else if (begin.find()) {
                throw new AssertionError("README:begin inside region " + name + " of " + source);
            } else {
                lines.add(line);
            }
        }
        if (inside) throw new AssertionError("region " + name + " of " + source + " has no README:end");
        if (!found) throw new AssertionError("no region " + name + " in " + source);
        return new Block(language, String.join("\n", dedent(lines)));
    }

    /** The lines less the indentation common to their non-blank lines; blank lines become empty. */
    public static List<String> dedent(List<String> lines) {
        int common = lines.stream().filter(l -> !l.isBlank())
                .mapToInt(l -> l.length() - l.stripLeading().length()).min().orElse(0);
        return lines.stream().map(l -> l.isBlank() ? "" : l.substring(common)).toList();
    }
}
