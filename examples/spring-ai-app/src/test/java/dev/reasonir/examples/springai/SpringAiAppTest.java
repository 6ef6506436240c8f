package dev.reasonir.examples.springai;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestSupport;
import dev.reasonir.springai.autoconfigure.ReasonIRConfigurationException;
import dev.reasonir.springai.autoconfigure.ReasonIRFailureAnalyzer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.vectorstore.SearchRequest;
import org.springframework.ai.vectorstore.VectorStore;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.diagnostics.FailureAnalyzer;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.io.support.SpringFactoriesLoader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Starts the application as a real Spring Boot application, so the auto-configuration is found through
 * META-INF/spring/...AutoConfiguration.imports as in a user's application, on the small test checkpoint (random
 * weights: the ranking itself means nothing), and checks a vector store's ranking against a brute-force search over the
 * Java API's vectors. SpringAiAppIT runs the packaged jar.
 */
@ExtendWith(OutputCaptureExtension.class)
class SpringAiAppTest {
    /** A line the runner prints: a cosine similarity (SimpleVectorStore's score, -1 to 1), two spaces, the text. */
    static final String RESULT = "-?[01]\\.\\d{4}  .+\\.";

    @TempDir
    Path tmp;

    /** Command-line arguments, as a user would pass them: they override application.properties. */
    ConfigurableApplicationContext start(String... args) {
        return new SpringApplicationBuilder(SpringAiApp.class).web(WebApplicationType.NONE).run(args);
    }

    @Test
    void theAppRunsAndTheVectorStoreRanksLikeTheJavaApi(CapturedOutput output) throws Exception {
        Path dir = TestSupport.modelDir(tmp, "model");
        try (ConfigurableApplicationContext context = start("--reasonir.model-dir=" + dir, "--reasonir.device=cpu")) {
            // The runner printed the two best documents, and a query with another instruction.
            List<String> lines = output.getOut().lines().filter(l -> l.matches(RESULT)).toList();
            assertEquals(2, lines.size(), output.getOut());
            ReasonIR model = context.getBean(ReasonIR.class);
            assertTrue(output.getOut().contains("a leetcode query: " + model.dimension() + " dimensions"),
                    output.getOut());

            VectorStore store = context.getBean(VectorStore.class);
            store.add(DOCUMENTS.stream().map(Document::new).toList());
            float[][] docs = model.embedDocuments(DOCUMENTS);
            for (String query : QUERIES) {
                // application.properties: reasonir.bright-task=biology
                float[] q = model.embedQueries(List.of(query), Instructions.bright("biology"))[0];
                List<Document> found = store.similaritySearch(SearchRequest.builder().query(query)
                        .topK(DOCUMENTS.size() + 3).build()).stream()
                        .filter(d -> DOCUMENTS.contains(d.getText())).toList();
                assertEquals(bruteForceRanking(q, docs), found.stream().map(Document::getText).toList(), query);
                assertEquals(cosine(q, docs[DOCUMENTS.indexOf(found.get(0).getText())]), found.get(0).getScore());
            }
            assertTrue(context.getBean(EmbeddingModel.class).dimensions() > 0);
        }
    }

    @Test
    void aMisconfiguredApplicationFailsToStartWithTheReasonIRMessage() {
        // An empty value means unset: this overrides application.properties' reasonir.model-dir.
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> start("--reasonir.model-dir=", "--reasonir.device=cpu").close());
        Throwable cause = e;
        while (cause != null && !(cause instanceof ReasonIRConfigurationException)) cause = cause.getCause();
        assertTrue(cause != null && cause.getMessage().startsWith("reasonir.model-dir is not set"), "" + e);
        // Spring Boot prints it through the failure analyzer registered in META-INF/spring.factories.
        // (Boot's own analyzers need constructor arguments only SpringApplication supplies: skip those here.)
        assertTrue(SpringFactoriesLoader.forDefaultResourceLocation().load(FailureAnalyzer.class,
                (type, name, failure) -> { }).stream().anyMatch(a -> a instanceof ReasonIRFailureAnalyzer));
    }

    /** Document texts by decreasing cosine, computed as SimpleVectorStore does (float dot products). */
    static List<String> bruteForceRanking(float[] q, float[][] docs) {
        List<Integer> order = new ArrayList<>(IntStream.range(0, docs.length).boxed().toList());
        order.sort(Comparator.comparingDouble((Integer d) -> cosine(q, docs[d])).reversed());
        return order.stream().map(DOCUMENTS::get).toList();
    }

    static double cosine(float[] a, float[] b) {
        return dot(a, b) / (Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b)));
    }

    static float dot(float[] a, float[] b) {
        float s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
