package dev.reasonir.examples.langchain4j;

// README:begin java
import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.EmbeddingStoreIngestor;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.langchain4j.ReasonIREmbeddingModel;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** Indexes three documents, then prints the two that best answer a question, with their scores. */
public final class LangChain4jApp {
    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: LangChain4jApp MODEL_FOLDER [DEVICE]  |  LangChain4jApp http://HOST:PORT");
            System.exit(2);
        }
        String question = "Why do leaves change colour in autumn?";
        if (args[0].startsWith("http://") || args[0].startsWith("https://")) {
            // Against a ReasonIR server (same vectors; the instruction travels with each request):
            try (ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.builder().baseUrl(args[0]).build()) {
                ReasonIREmbeddingModel queries = documents.withInstruction(Instructions.bright("biology"));
                search(documents, queries, question).forEach(System.out::println);
            }
        } else {
            String device = args.length > 1 ? args[1] : "auto";
            try (ReasonIR reasonir = ReasonIR.open(Path.of(args[0]), Options.defaults().withDevice(device))) {
                // One loaded model, one adapter instance per side: documents get the document prefix, queries the
                // BRIGHT biology instruction.
                EmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(reasonir);
                EmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(reasonir, "biology");
                search(documents, queries, question).forEach(System.out::println);
            }
        }
    }

    /** Indexes three documents with {@code documents}; the two best for {@code question}, as "score  text" lines. */
    static List<String> search(EmbeddingModel documents, EmbeddingModel queries, String question) {
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        EmbeddingStoreIngestor.builder().embeddingModel(documents).embeddingStore(store).build().ingest(
                Document.from("Chlorophyll breaks down in autumn, revealing yellow carotenoids."),
                Document.from("Rayleigh scattering makes the sky blue."),
                Document.from("Anthocyanins give some autumn leaves their red colour."));
        Embedding q = queries.embed(question).content();
        return store.search(EmbeddingSearchRequest.builder().queryEmbedding(q).maxResults(2).build()).matches()
                .stream().map(m -> String.format(Locale.ROOT, "%.4f  %s", m.score(), m.embedded().text()))
                .toList();
    }
}
// README:end
