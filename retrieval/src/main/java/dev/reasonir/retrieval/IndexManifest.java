package dev.reasonir.retrieval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code manifest.json} of an index folder: what was embedded, how, with which model, and what was left out. Written
 * last, so its presence marks a complete index. The layout is documented in the README ("Index format").
 *
 * @param settings         model identity, instruction, max length, dtype, engine backend and precision
 * @param corpus           the corpus file as given on the first run, its SHA-256, size and line count
 * @param documents        rows of the matrix (documents embedded)
 * @param tokens           tokens embedded (after truncation)
 * @param empty            empty documents, skipped (no row)
 * @param truncated        documents cut to the max length
 * @param embeddingsSha256 SHA-256 of {@code embeddings.npy}
 * @param idsSha256        SHA-256 of {@code ids.jsonl}
 * @param created          when the build started (UTC, ISO-8601); {@code SOURCE_DATE_EPOCH} overrides it
 */
public record IndexManifest(IndexSettings settings, CorpusInfo corpus, long documents, long tokens,
                            List<EmptyDocument> empty, List<TruncatedDocument> truncated, String embeddingsSha256,
                            String idsSha256, String created) {
    public static final String FORMAT = "reasonir-index";
    public static final int VERSION = 1;
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The corpus an index was built from. */
    public record CorpusInfo(String file, String sha256, long bytes, long lines) {}

    /** An empty document: skipped, never given a vector. */
    public record EmptyDocument(long line, String id) {}

    /** A document longer than the max length: its first {@code kept} of {@code tokens} tokens were embedded. */
    public record TruncatedDocument(long line, String id, int tokens, int kept) {}

    public byte[] toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("format_version", VERSION);
        settings.writeTo(o);
        ObjectNode c = o.putObject("corpus");
        c.put("file", corpus.file()).put("sha256", corpus.sha256()).put("bytes", corpus.bytes())
                .put("lines", corpus.lines());
        ObjectNode n = o.putObject("counts");
        n.put("documents", documents).put("empty_skipped", empty.size()).put("truncated", truncated.size())
                .put("tokens", tokens);
        ObjectNode f = o.putObject("files");
        f.put("embeddings", Index.EMBEDDINGS).put("embeddings_sha256", embeddingsSha256)
                .put("ids", Index.IDS).put("ids_sha256", idsSha256);
        ArrayNode e = o.putArray("empty");
        for (EmptyDocument d : empty) e.addObject().put("line", d.line()).put("id", d.id());
        ArrayNode t = o.putArray("truncated");
        for (TruncatedDocument d : truncated) {
            t.addObject().put("line", d.line()).put("id", d.id()).put("tokens", d.tokens()).put("kept", d.kept());
        }
        o.put("created", created);
        try {
            return (JSON.writeValueAsString(o) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** Parses a manifest; {@code where} names the file in errors. */
    static IndexManifest parse(byte[] json, String where) {
        JsonNode o;
        try {
            o = JSON.readTree(json);
        } catch (java.io.IOException ex) {
            throw new RetrievalException(RetrievalException.Kind.CORRUPT, where + ": not valid JSON ("
                    + ex.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (o == null || !o.isObject() || !FORMAT.equals(o.path("format").asText(null))) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, where + ": not a ReasonIR index manifest "
                    + "(no \"format\": \"" + FORMAT + "\")");
        }
        int version = o.path("format_version").asInt(-1);
        if (version != VERSION) {
            throw new RetrievalException(RetrievalException.Kind.FOREIGN, where + ": index format version " + version
                    + ", this engine reads version " + VERSION);
        }
        Fields r = new Fields(o, where);
        JsonNode c = r.object("corpus");
        Fields cr = new Fields(c, where + " corpus");
        List<EmptyDocument> empty = new ArrayList<>();
        for (JsonNode d : r.array("empty")) {
            Fields dr = new Fields(d, where + " empty");
            empty.add(new EmptyDocument(dr.longField("line"), dr.string("id")));
        }
        List<TruncatedDocument> truncated = new ArrayList<>();
        for (JsonNode d : r.array("truncated")) {
            Fields dr = new Fields(d, where + " truncated");
            truncated.add(new TruncatedDocument(dr.longField("line"), dr.string("id"), (int) dr.longField("tokens"),
                    (int) dr.longField("kept")));
        }
        Fields counts = new Fields(r.object("counts"), where + " counts");
        Fields files = new Fields(r.object("files"), where + " files");
        return new IndexManifest(IndexSettings.readFrom(o, where),
                new CorpusInfo(cr.string("file"), cr.string("sha256"), cr.longField("bytes"), cr.longField("lines")),
                counts.longField("documents"), counts.longField("tokens"), List.copyOf(empty),
                List.copyOf(truncated), files.string("embeddings_sha256"), files.string("ids_sha256"),
                r.string("created"));
    }

    /** Typed field access with errors that name the manifest and the field. */
    record Fields(JsonNode node, String where) {
        JsonNode get(String name) {
            JsonNode v = node == null ? null : node.get(name);
            if (v == null || v.isNull()) {
                throw new RetrievalException(RetrievalException.Kind.CORRUPT, where + ": missing \"" + name + "\"");
            }
            return v;
        }

        String string(String name) {
            JsonNode v = get(name);
            if (!v.isTextual()) throw bad(name, "a string");
            return v.textValue();
        }

        long longField(String name) {
            JsonNode v = get(name);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) throw bad(name, "an integer");
            return v.longValue();
        }

        JsonNode object(String name) {
            JsonNode v = get(name);
            if (!v.isObject()) throw bad(name, "an object");
            return v;
        }

        JsonNode array(String name) {
            JsonNode v = get(name);
            if (!v.isArray()) throw bad(name, "an array");
            return v;
        }

        private RetrievalException bad(String name, String what) {
            return new RetrievalException(RetrievalException.Kind.CORRUPT, where + ": \"" + name + "\" is not "
                    + what);
        }
    }
}
