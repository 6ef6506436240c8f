package dev.reasonir.langchain4j;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.document.Metadata;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.request.EmbeddingInputType;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import dev.langchain4j.rag.query.Query;
import dev.langchain4j.store.embedding.EmbeddingMatch;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.EmbeddingStoreIngestor;
import dev.langchain4j.store.embedding.IngestionResult;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.LogCapture;
import dev.reasonir.ReasonIR;
import dev.reasonir.client.TestKit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.logging.Level;
import java.util.stream.IntStream;

import static dev.reasonir.client.TestSupport.DOCUMENTS;
import static dev.reasonir.client.TestSupport.QUERIES;
import static dev.reasonir.langchain4j.EmbeddingAssertions.assertSameVectors;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real LangChain4j pipeline (EmbeddingStoreIngestor into an InMemoryEmbeddingStore, then search) ranks the
 * documents exactly as a brute-force search over vectors from the Java API does: documents embedded with the
 * document prefix, queries with the query instruction.
 */
class IngestionAndRetrievalTest {
    @TestKit.Model static ReasonIR model;
    static final String TASK = "biology";

    static List<Document> documents() {
        return IntStream.range(0, DOCUMENTS.size())
                .mapToObj(i -> Document.from(DOCUMENTS.get(i), new Metadata().put("id", i))).toList();
    }

    /**
     * The document texts in decreasing cosine similarity to {@code query}, from the Java API's vectors. Cosine is
     * computed with the same arithmetic as LangChain4j's CosineSimilarity (float products summed in double): the
     * random-weight test model gives close scores, and a ranking comparison must not depend on rounding.
     */
    static List<String> bruteForceRanking(String query) {
        float[][] docs = model.embedDocuments(DOCUMENTS);
        float[] q = model.embedQueries(List.of(query), Instructions.bright(TASK))[0];
        List<Integer> order = new ArrayList<>(IntStream.range(0, docs.length).boxed().toList());
        double[] score = new double[docs.length];
        for (int d = 0; d < docs.length; d++) score[d] = cosine(q, docs[d]);
        order.sort(Comparator.comparingDouble((Integer d) -> score[d]).reversed());
        return order.stream().map(DOCUMENTS::get).toList();
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-10);
    }

    @Test
    void ingestWithTheDocumentInstanceSearchWithTheQueryInstance() {
        ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(model);
        ReasonIREmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(model, TASK);
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        IngestionResult ingested = EmbeddingStoreIngestor.builder()
                .embeddingModel(documents).embeddingStore(store).build()
                .ingest(documents());
        EmbeddingResult javaApi = model.embed(DOCUMENTS, Instructions.DOCUMENT);
        assertEquals(Math.toIntExact(javaApi.totalTokens()), ingested.tokenUsage().inputTokenCount());

        for (String query : QUERIES) {
            Embedding q = queries.embed(query).content();
            List<EmbeddingMatch<TextSegment>> matches = store.search(EmbeddingSearchRequest.builder()
                    .queryEmbedding(q).maxResults(DOCUMENTS.size()).minScore(0.0).build()).matches();
            assertEquals(bruteForceRanking(query), matches.stream().map(m -> m.embedded().text()).toList(),
                    "ranking for '" + query + "'");
            // The stored vectors are the Java API's document vectors, so the scores match too.
            EmbeddingMatch<TextSegment> top = matches.get(0);
            int id = top.embedded().metadata().getInteger("id");
            float[] qv = model.embedQueries(List.of(query), Instructions.bright(TASK))[0];
            assertEquals((cosine(qv, javaApi.vectors()[id]) + 1) / 2, top.score(), 0.0);
        }
    }

    @Test
    void oneInstanceServesBothSidesForComponentsThatPassTheInputType() {
        ReasonIREmbeddingModel both = ReasonIREmbeddingModel.builder().model(model)
                .queryInstruction(Instructions.bright(TASK)).build();
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        EmbeddingStoreIngestor.builder().embeddingModel(both).embeddingStore(store)
                .embeddingInputType(EmbeddingInputType.DOCUMENT).build()
                .ingest(documents());
        EmbeddingStoreContentRetriever retriever = EmbeddingStoreContentRetriever.builder()
                .embeddingModel(both).embeddingStore(store).maxResults(DOCUMENTS.size()).minScore(0.0)
                .embeddingInputType(EmbeddingInputType.QUERY).build();
        for (String query : QUERIES) {
            List<Content> found = retriever.retrieve(Query.from(query));
            assertEquals(bruteForceRanking(query), found.stream().map(c -> c.textSegment().text()).toList(),
                    "ranking for '" + query + "'");
        }
    }

    /** The adapter's WARNING messages while {@code body} runs. */
    static List<String> warningsDuring(Runnable body) {
        return LogCapture.messages(ReasonIREmbeddingModel.class.getName(),
                l -> l.intValue() >= Level.WARNING.intValue(), body);
    }

    /**
     * The real LangChain4j components without an input type: the ingestor embeds documents with embedAll(segments),
     * the retriever its query with embed(String). On the wrong side's instance that silently uses the wrong prompt,
     * and the adapter warns, once per instance, however many calls follow; the right instances stay silent.
     */
    @Test
    void untypedComponentsOnTheWrongSidesInstanceWarnOncePerInstance() {
        ReasonIREmbeddingModel queries = ReasonIREmbeddingModel.forBrightTask(model, TASK);
        ReasonIREmbeddingModel documents = ReasonIREmbeddingModel.forDocuments(model);
        InMemoryEmbeddingStore<TextSegment> wrong = new InMemoryEmbeddingStore<>();
        EmbeddingStoreIngestor ingestor = EmbeddingStoreIngestor.builder()
                .embeddingModel(queries).embeddingStore(wrong).build();
        List<String> ingestWarnings = warningsDuring(() -> {
            ingestor.ingest(documents().subList(0, 2));
            ingestor.ingest(documents().subList(2, DOCUMENTS.size()));
        });
        assertEquals(1, ingestWarnings.size(), ingestWarnings.toString());
        assertTrue(ingestWarnings.get(0).startsWith("embedAll(segments) on a query model")
                && ingestWarnings.get(0).contains(".embeddingInputType(EmbeddingInputType.DOCUMENT)"),
                ingestWarnings.get(0));
        // What it warns about is real: the store holds the documents embedded with the query prompt.
        assertSameVectors(model.embed(DOCUMENTS, Instructions.bright(TASK)).vectors(),
                storedInOrder(wrong));

        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        EmbeddingStoreContentRetriever retriever = EmbeddingStoreContentRetriever.builder()
                .embeddingModel(documents).embeddingStore(store).maxResults(DOCUMENTS.size()).minScore(0.0).build();
        List<String> retrieveWarnings = warningsDuring(() -> {
            EmbeddingStoreIngestor.builder().embeddingModel(documents).embeddingStore(store).build()
                    .ingest(documents());  // documents on the document instance: no warning
            for (String query : QUERIES) {
                List<Content> found = retriever.retrieve(Query.from(query));
                // the query was embedded with the document prompt: the ranking of plain document-prompt vectors
                float[] q = model.embed(List.of(query)).vectors()[0];
                float[][] docs = model.embed(DOCUMENTS).vectors();
                List<Integer> order = new ArrayList<>(IntStream.range(0, docs.length).boxed().toList());
                order.sort(Comparator.comparingDouble((Integer d) -> cosine(q, docs[d])).reversed());
                assertEquals(order.stream().map(DOCUMENTS::get).toList(),
                        found.stream().map(c -> c.textSegment().text()).toList(), "ranking for '" + query + "'");
            }
        });
        assertEquals(1, retrieveWarnings.size(), retrieveWarnings.toString());
        assertTrue(retrieveWarnings.get(0).startsWith("embed(String) on a document model")
                && retrieveWarnings.get(0).contains(".embeddingInputType(EmbeddingInputType.QUERY)"),
                retrieveWarnings.get(0));

        // Each side on its own instance (the documented convention), and a shared instance with both input types set:
        // silent.
        ReasonIREmbeddingModel both = ReasonIREmbeddingModel.builder().model(model)
                .queryInstruction(Instructions.bright(TASK)).build();
        List<String> none = warningsDuring(() -> {
            InMemoryEmbeddingStore<TextSegment> s = new InMemoryEmbeddingStore<>();
            ReasonIREmbeddingModel freshDocuments = ReasonIREmbeddingModel.forDocuments(model);
            ReasonIREmbeddingModel freshQueries = ReasonIREmbeddingModel.forBrightTask(model, TASK);
            EmbeddingStoreIngestor.builder().embeddingModel(freshDocuments).embeddingStore(s).build()
                    .ingest(documents());
            EmbeddingStoreContentRetriever.builder().embeddingModel(freshQueries).embeddingStore(s).build()
                    .retrieve(Query.from(QUERIES.get(0)));
            EmbeddingStoreIngestor.builder().embeddingModel(both).embeddingStore(s)
                    .embeddingInputType(EmbeddingInputType.DOCUMENT).build().ingest(documents());
            EmbeddingStoreContentRetriever.builder().embeddingModel(both).embeddingStore(s)
                    .embeddingInputType(EmbeddingInputType.QUERY).build().retrieve(Query.from(QUERIES.get(0)));
        });
        assertEquals(List.of(), none);
    }

    /** The store's vectors in document order (the "id" metadata). */
    static List<Embedding> storedInOrder(InMemoryEmbeddingStore<TextSegment> store) {
        List<EmbeddingMatch<TextSegment>> all = store.search(EmbeddingSearchRequest.builder()
                .queryEmbedding(Embedding.from(model.embed(List.of(QUERIES.get(0))).vectors()[0]))
                .maxResults(DOCUMENTS.size()).minScore(0.0).build()).matches();
        assertEquals(DOCUMENTS.size(), all.size());
        return all.stream().sorted(Comparator.comparingInt(m -> m.embedded().metadata().getInteger("id")))
                .map(EmbeddingMatch::embedding).toList();
    }
}
