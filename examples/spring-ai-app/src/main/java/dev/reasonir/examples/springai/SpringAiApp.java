package dev.reasonir.examples.springai;

// README:begin java
import dev.reasonir.springai.ReasonIREmbeddingOptions;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.vectorstore.SearchRequest;
import org.springframework.ai.vectorstore.SimpleVectorStore;
import org.springframework.ai.vectorstore.VectorStore;
import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

import java.util.List;
import java.util.Locale;

/** Indexes three documents, then prints the two that best answer a question, with their scores. */
@SpringBootApplication
public class SpringAiApp {
    public static void main(String[] args) {
        SpringApplication.run(SpringAiApp.class, args).close();  // a one-shot job: closing the context closes the model
    }

    @Bean
    VectorStore vectorStore(EmbeddingModel embeddingModel) {   // the auto-configured ReasonIR model
        return SimpleVectorStore.builder(embeddingModel).build();
    }

    @Bean
    CommandLineRunner search(VectorStore vectorStore, EmbeddingModel embeddingModel) {
        return args -> {
            // Documents are embedded as documents, the query string with reasonir.bright-task's instruction.
            vectorStore.add(List.of(new Document("Chlorophyll breaks down in autumn, revealing yellow carotenoids."),
                                    new Document("Rayleigh scattering makes the sky blue."),
                                    new Document("Anthocyanins give some autumn leaves their red colour.")));
            List<Document> hits = vectorStore.similaritySearch(
                    SearchRequest.builder().query("Why do leaves change colour in autumn?").topK(2).build());
            hits.forEach(d -> System.out.printf(Locale.ROOT, "%.4f  %s%n", d.getScore(), d.getText()));
            // Another instruction for one request:
            float[] twoSum = embeddingModel.call(new EmbeddingRequest(List.of("two sum in O(n)"),
                    ReasonIREmbeddingOptions.builder().brightTask("leetcode").build())).getResult().getOutput();
            System.out.println("a leetcode query: " + twoSum.length + " dimensions");
        };
    }
}
// README:end
