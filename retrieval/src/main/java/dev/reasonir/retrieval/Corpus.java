package dev.reasonir.retrieval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * A corpus file: JSON lines {@code {"id": "...", "content": "..."}} (BRIGHT's documents layout). Blank lines are
 * skipped but counted, so line numbers in messages are the file's. A document is <em>empty</em> when its content has
 * no non-whitespace character: it is never given a vector.
 */
public final class Corpus {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One document of the corpus and the 1-based line it is on. */
    public record Document(long line, String id, String content) {
        public boolean empty() {
            return content.isBlank();
        }
    }

    /**
     * The result of {@link #scan}: the file's SHA-256 and size, its line count, and how many documents (empty ones
     * included) it holds, with their total content length in chars (the unit of the progress ETA).
     */
    public record Scan(Path file, String sha256, long bytes, long lines, long documents, long emptyDocuments,
                       long contentChars) {}

    private Corpus() {}

    /**
     * Reads the whole file once before any embedding work, so that a malformed line, a duplicate id or (with
     * {@code failOnEmpty}) an empty document is reported in seconds, not after hours of embedding.
     *
     * @throws RetrievalException (INPUT) naming the line, or both lines of a duplicate id
     */
    public static Scan scan(Path file, boolean failOnEmpty) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, "corpus " + file + " does not exist");
        }
        MessageDigest md = ModelIdentity.digest();
        Map<String, Long> seen = new HashMap<>();
        long lines = 0, docs = 0, empty = 0, chars = 0;
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md);
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16)) {
            String line;
            while ((line = r.readLine()) != null) {
                lines++;
                if (line.isBlank()) continue;
                Document d = parse(file, lines, line);
                Long before = seen.putIfAbsent(d.id(), lines);
                if (before != null) {
                    throw new RetrievalException(RetrievalException.Kind.INPUT, file + ": duplicate document id \""
                            + d.id() + "\" on line " + before + " and line " + lines);
                }
                if (d.empty()) {
                    if (failOnEmpty) {
                        throw new RetrievalException(RetrievalException.Kind.INPUT, file + " line " + lines
                                + ": document \"" + d.id() + "\" is empty (--on-empty fail)");
                    }
                    empty++;
                }
                docs++;
                chars += d.content().length();
            }
        }
        if (docs == 0) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, "corpus " + file + " holds no documents");
        }
        if (empty == docs) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, "corpus " + file + ": all " + docs
                    + " documents are empty");
        }
        return new Scan(file, HexFormat.of().formatHex(md.digest()), Files.size(file), lines, docs, empty, chars);
    }

    /** Parses one non-blank line; errors name the file and line. */
    public static Document parse(Path file, long lineNo, String line) {
        String where = file + " line " + lineNo;
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": expected a JSON object");
        }
        return new Document(lineNo, id(n.get("id"), where), text(n.get("content"), where, "content"));
    }

    /** A document or query id: a string, or an integer taken as its decimal text. */
    static String id(JsonNode v, String where) {
        if (v == null || v.isNull()) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": missing \"id\"");
        }
        if (v.isTextual()) {
            if (v.textValue().isEmpty()) {
                throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": \"id\" is empty");
            }
            return v.textValue();
        }
        if (v.isIntegralNumber()) return v.bigIntegerValue().toString();
        throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": \"id\" must be a string, got " + v);
    }

    static String text(JsonNode v, String where, String field) {
        if (v == null || v.isNull()) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": missing \"" + field + "\"");
        }
        if (!v.isTextual()) {
            throw new RetrievalException(RetrievalException.Kind.INPUT, where + ": \"" + field
                    + "\" must be a string, got " + (v.isContainerNode() ? v.getNodeType().name().toLowerCase(java.util.Locale.ROOT) : v));
        }
        return v.textValue();
    }
}
