package dev.reasonir.langchain4j.examples;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.store.embedding.EmbeddingMatch;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.EmbeddingStoreIngestor;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.langchain4j.ReasonIREmbeddingModel;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The README's LangChain4j example: index documents with the document instance, search with a query instance.
 * Run with a model folder: {@code LangChain4jExample /models/ReasonIR-8B [device]}. {@code LangChain4jExampleTest}
 * runs it on the test checkpoint, so it stays compiling and working.
 */
public final class LangChain4jExample {
    private LangChain4jExample() {}

    public static void main(String[] args) {
        Path modelDir = Path.of(args[0]);
        String device = args.length > 1 ? args[1] : "auto";
        search(modelDir, device, "Why do leaves change colour in autumn?").forEach(System.out::println);
    }

    /** The top two documents for {@code question}, as "score  text" lines. */
    public static List<String> search(Path modelDir, String device, String question) {
        try (ReasonIR reasonir = ReasonIR.open(modelDir, Options.defaults().withDevice(device))) {
            // Two views of one loaded model: documents get "<|embed|>\n", queries the task's prompt.
            EmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(reasonir);
            EmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(reasonir, "biology");

            InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
            EmbeddingStoreIngestor.builder().embeddingModel(documents).embeddingStore(store).build().ingest(
                    Document.from("Chlorophyll breaks down in autumn, revealing yellow carotenoids."),
                    Document.from("Rayleigh scattering makes the sky blue."),
                    Document.from("Anthocyanins give some autumn leaves their red colour."));

            Embedding query = queries.embed(question).content();
            List<EmbeddingMatch<TextSegment>> matches = store.search(EmbeddingSearchRequest.builder()
                    .queryEmbedding(query).maxResults(2).build()).matches();
            return matches.stream()
                    .map(m -> String.format(Locale.ROOT, "%.4f  %s", m.score(), m.embedded().text()))
                    .toList();
        }
    }
}
