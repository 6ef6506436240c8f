package dev.reasonir.springai.examples;

import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.vectorstore.SearchRequest;
import org.springframework.ai.vectorstore.SimpleVectorStore;
import org.springframework.ai.vectorstore.VectorStore;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

import java.util.List;
import java.util.Locale;

/**
 * The README's Spring AI example: with {@code reasonir-spring-ai} on the class path and
 * <pre>
 * reasonir.model-dir=/models/ReasonIR-8B
 * reasonir.bright-task=biology
 * </pre>
 * the auto-configured {@link EmbeddingModel} embeds what a vector store adds ({@link Document}s) with the document
 * prefix and what it searches for (strings) with the query instruction. {@code SpringAiExampleTest} starts it on the
 * test checkpoint, so it stays compiling and working.
 */
@SpringBootApplication
public class SpringAiExample {

    public static void main(String[] args) {
        try (var context = SpringApplication.run(SpringAiExample.class, args)) {
            context.getBean(Search.class).topTwo("Why do leaves change colour in autumn?").forEach(System.out::println);
        }
    }

    @Bean
    VectorStore vectorStore(EmbeddingModel embeddingModel) {
        return SimpleVectorStore.builder(embeddingModel).build();
    }

    @Bean
    Search search(VectorStore vectorStore) {
        return new Search(vectorStore);
    }

    /** Indexes three documents, then answers questions against them. */
    public static class Search {
        private final VectorStore store;

        Search(VectorStore store) {
            this.store = store;
            store.add(List.of(   // Documents: embedded with "<|embed|>\n"
                    new Document("Chlorophyll breaks down in autumn, revealing yellow carotenoids."),
                    new Document("Rayleigh scattering makes the sky blue."),
                    new Document("Anthocyanins give some autumn leaves their red colour.")));
        }

        /** The two best documents for {@code question} (a string: embedded with the query instruction). */
        public List<String> topTwo(String question) {
            return store.similaritySearch(SearchRequest.builder().query(question).topK(2).build()).stream()
                    .map(d -> String.format(Locale.ROOT, "%.4f  %s", d.getScore(), d.getText()))
                    .toList();
        }
    }
}
