package dev.reasonir.retrieval;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.reasonir.retrieval.Metrics.log2;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-computed trec_eval values. Expected values are written as the arithmetic trec_eval performs, in its order
 * (DCG summed rank by rank, rank r discounted by log2(r + 1)), so they are compared exactly; rank 1's discount
 * log2(2) = 1 and rank 3's log2(4) = 2 are exact, so writing them out changes nothing.
 */
class MetricsTest {
    /** A run in the given order with strictly decreasing scores, so the given order is the ranking. */
    private static List<Hit> ranking(String... ids) {
        List<Hit> run = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) run.add(new Hit(ids[i], i, 1.0f - i / 1024.0f));
        return run;
    }

    private static Map<String, Integer> qrels(Object... idRel) {
        Map<String, Integer> q = new LinkedHashMap<>();
        for (int i = 0; i < idRel.length; i += 2) q.put((String) idRel[i], (Integer) idRel[i + 1]);
        return q;
    }

    @Test
    void perfectRanking() {
        List<Hit> run = ranking("a", "b", "c", "d");
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a", "b"));
        assertEquals(1.0, Metrics.ndcgCut(run, q, 10));
        assertEquals(1.0, Metrics.recall(run, q, 100));
        assertEquals(1.0, Metrics.reciprocalRank(run, q, 10));
    }

    @Test
    void relevantAtRanksOneAndThree() {
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a", "c"));
        double expected = (1 / log2(2) + 1 / log2(4)) / (1 / log2(2) + 1 / log2(3));
        assertEquals(expected, Metrics.ndcgCut(ranking("a", "x", "c", "y"), q, 10));
        assertEquals(0.9197207891481876, expected, 1e-15); // 1.5 / 1.6309297535714575
    }

    @Test
    void inputOrderDoesNotMatterAndIsNotModified() {
        List<Hit> ranked = ranking("d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12");
        Map<String, Integer> q = qrels("d3", 1, "d7", 2, "d12", 1, "gone", 1);
        double ndcg = Metrics.ndcgCut(ranked, q, 10);
        double recall = Metrics.recall(ranked, q, 100);
        double mrr = Metrics.reciprocalRank(ranked, q, 10);
        List<Hit> shuffled = new ArrayList<>(ranked);
        Collections.shuffle(shuffled, new Random(7));
        List<Hit> before = List.copyOf(shuffled);
        assertEquals(ndcg, Metrics.ndcgCut(shuffled, q, 10));
        assertEquals(recall, Metrics.recall(shuffled, q, 100));
        assertEquals(mrr, Metrics.reciprocalRank(shuffled, q, 10));
        assertEquals(before, shuffled);
        // d3 at rank 3 (gain 1), d7 at rank 7 (gain 2); ideal gains 2, 1, 1, 1.
        assertEquals((1 / log2(4) + 2 / log2(8)) / (2 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5)), ndcg);
        assertEquals(3.0 / 4.0, recall); // d3, d7, d12 of four relevant
        assertEquals(1.0 / 3.0, mrr);
    }

    @Test
    void equalScoresRankByIdDescending() {
        // Same score: trec_eval puts "b" before "a" (strcmp descending), so the relevant "a" is at rank 2,
        // whichever order the caller gives them in.
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a"));
        List<Hit> ab = List.of(new Hit("a", 0, 0.5f), new Hit("b", 1, 0.5f));
        List<Hit> ba = List.of(new Hit("b", 1, 0.5f), new Hit("a", 0, 0.5f));
        double expected = (1 / log2(3)) / 1;
        assertEquals(expected, Metrics.ndcgCut(ab, q, 10));
        assertEquals(expected, Metrics.ndcgCut(ba, q, 10));
        assertEquals(0.5, Metrics.reciprocalRank(ab, q, 10));
        // Without the tie, "a" first: the tie alone costs 1 - 1/log2(3) of nDCG.
        assertEquals(1.0, Metrics.ndcgCut(List.of(new Hit("a", 0, 0.5f), new Hit("b", 1, 0.25f)), q, 10));
        // With a cutoff of 1, the tie decides between 1 and 0.
        assertEquals(0.0, Metrics.ndcgCut(ab, q, 1));
        // Numeric ties, as in C: -0.0 equals 0.0.
        List<Hit> zeros = List.of(new Hit("a", 0, 0.0f), new Hit("b", 1, -0.0f));
        assertEquals(expected, Metrics.ndcgCut(zeros, q, 10));
    }

    @Test
    void nonAsciiTiesCompareUtf8Bytes() {
        // "é" is 0xC3 0xA9 in UTF-8, above 'z' (0x7A): with equal scores "é" ranks first.
        List<Hit> run = List.of(new Hit("z", 0, 0.25f), new Hit("é", 1, 0.25f));
        assertEquals(1.0, Metrics.ndcgCut(run, Metrics.binaryQrels(List.of("é")), 10));
        assertEquals(1 / log2(3), Metrics.ndcgCut(run, Metrics.binaryQrels(List.of("z")), 10));
        // Where UTF-8 and UTF-16 order disagree: U+FF5A (UTF-8 EF BD 9A, UTF-16 FF5A) against U+1F600 (UTF-8
        // F0 9F 98 80, UTF-16 D83D DE00). String.compareTo would rank U+FF5A first; trec_eval ranks the emoji first.
        String fullwidthZ = "\uFF5A", emoji = "\uD83D\uDE00";
        assertTrue(fullwidthZ.compareTo(emoji) > 0);
        List<Hit> run2 = List.of(new Hit(fullwidthZ, 0, 0.25f), new Hit(emoji, 1, 0.25f));
        assertEquals(1.0, Metrics.reciprocalRank(run2, Metrics.binaryQrels(List.of(emoji)), 10));
        assertEquals(0.5, Metrics.reciprocalRank(run2, Metrics.binaryQrels(List.of(fullwidthZ)), 10));
    }

    @Test
    void fewerThanTenResults() {
        Map<String, Integer> q = Metrics.binaryQrels(List.of("b", "c"));
        List<Hit> run = ranking("a", "b", "c");
        assertEquals((1 / log2(3) + 1 / log2(4)) / (1 + 1 / log2(3)), Metrics.ndcgCut(run, q, 10));
        assertEquals(1.0, Metrics.recall(run, q, 100));
        assertEquals(0.5, Metrics.reciprocalRank(run, q, 10));
        assertEquals(0.0, Metrics.ndcgCut(List.of(), q, 10));
        assertEquals(0.0, Metrics.recall(List.of(), q, 100));
    }

    @Test
    void goldIdsMissingFromTheRunLowerTheIdeal() {
        // Four gold ids, two never retrieved (one not even in the corpus): the ideal still counts all four.
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a", "b", "not-retrieved", "not-in-corpus"));
        List<Hit> run = ranking("a", "x", "b");
        assertEquals((1 + 1 / log2(4)) / (1 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5)), Metrics.ndcgCut(run, q, 10));
        assertEquals(2.0 / 4.0, Metrics.recall(run, q, 100));
        // Perfectly ranked retrieved documents still score below 1.
        assertEquals((1 + 1 / log2(3)) / (1 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5)),
                Metrics.ndcgCut(ranking("a", "b"), q, 10));
    }

    @Test
    void idealIsCutAtK() {
        // 12 relevant documents, all retrieved at the top: nDCG@10 is 1 (the ideal has only 10 ranks too).
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 12; i++) ids.add("d" + (char) ('a' + i));
        List<Hit> run = ranking(ids.toArray(String[]::new));
        assertEquals(1.0, Metrics.ndcgCut(run, Metrics.binaryQrels(ids), 10));
        assertEquals(10.0 / 12.0, Metrics.recall(run, Metrics.binaryQrels(ids), 10));
    }

    @Test
    void noRelevantDocuments() {
        List<Hit> run = ranking("a", "b");
        for (Map<String, Integer> q : List.of(Map.<String, Integer>of(), qrels("a", 0, "b", 0), qrels("a", -1))) {
            assertEquals(0.0, Metrics.ndcgCut(run, q, 10));
            assertEquals(0.0, Metrics.recall(run, q, 100));
            assertEquals(0.0, Metrics.reciprocalRank(run, q, 10));
            assertEquals(0, Metrics.evaluate("q", run, q).relevant());
        }
    }

    @Test
    void gradedRelevance() {
        Map<String, Integer> q = qrels("a", 2, "b", 1, "c", 0);
        // b (gain 1) at rank 1, a (gain 2) at rank 2; ideal: 2 then 1.
        assertEquals((1 + 2 / log2(3)) / (2 + 1 / log2(3)), Metrics.ndcgCut(ranking("b", "a", "c"), q, 10));
        assertEquals(1.0, Metrics.ndcgCut(ranking("a", "b", "c"), q, 10));
        // A zero-judged document at the top scores nothing and is not relevant.
        assertEquals((2 / log2(3) + 1 / log2(4)) / (2 + 1 / log2(3)), Metrics.ndcgCut(ranking("c", "a", "b"), q, 10));
        assertEquals(0.5, Metrics.reciprocalRank(ranking("c", "a", "b"), q, 10));
        assertEquals(2.0 / 2.0, Metrics.recall(ranking("c", "a", "b"), q, 100));
    }

    @Test
    void negativeRelevanceIsNoGainAndNotInTheIdeal() {
        // trec_eval reads a negative judgement as "in the pool but unjudged": no gain, not relevant.
        Map<String, Integer> q = qrels("a", -1, "b", 1);
        assertEquals((1 / log2(3)) / 1, Metrics.ndcgCut(ranking("a", "b"), q, 10));
        assertEquals(1.0, Metrics.recall(ranking("a", "b"), q, 100));
        assertEquals(1, Metrics.evaluate("q", ranking("a", "b"), q).relevant());
    }

    @Test
    void recallAt100WithMoreThan100Hits() {
        String[] ids = new String[150];
        for (int i = 0; i < ids.length; i++) ids[i] = String.format("doc%03d", i + 1); // doc001 is rank 1
        List<Hit> run = ranking(ids);
        Map<String, Integer> q = Metrics.binaryQrels(List.of("doc005", "doc100", "doc101", "doc999"));
        assertEquals(2.0 / 4.0, Metrics.recall(run, q, 100)); // ranks 5 and 100; 101 is past the cutoff
        assertEquals(3.0 / 4.0, Metrics.recall(run, q, 150));
        assertEquals(3.0 / 4.0, Metrics.recall(run, q, 1000)); // shorter run: padded with non-relevant
        assertEquals(2.0 / 4.0, Metrics.evaluate("q", run, q).recall100());
        assertEquals(150, Metrics.evaluate("q", run, q).retrieved());
    }

    @Test
    void reciprocalRankCutAtK() {
        String[] ids = new String[20];
        for (int i = 0; i < ids.length; i++) ids[i] = String.format("doc%02d", i + 1);
        List<Hit> run = ranking(ids);
        Map<String, Integer> q = Metrics.binaryQrels(List.of("doc11", "doc15"));
        assertEquals(0.0, Metrics.reciprocalRank(run, q, 10)); // first relevant at rank 11
        assertEquals(1.0 / 11.0, Metrics.reciprocalRank(run, q, 11));
        assertEquals(1.0 / 11.0, Metrics.reciprocalRank(run, q, 20));
        assertEquals(0.0, Metrics.ndcgCut(run, q, 10));
        assertEquals(1.0 / 11.0, Metrics.reciprocalRank(ranking("x", "y", "z", "p", "q", "r", "s", "t", "u", "v",
                "doc11"), q, 100));
    }

    @Test
    void evaluateAndAverage() {
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a", "c"));
        Metrics.QueryScores s = Metrics.evaluate("q1", ranking("a", "x", "c"), q);
        assertEquals(new Metrics.QueryScores("q1", (1 + 1 / log2(4)) / (1 + 1 / log2(3)), 1.0, 1.0, 1.0, 2, 3), s);

        // An empty gold list: present in pytrec_eval's qrels dict with no relevant document, so 0 and averaged in.
        Metrics.QueryScores none = Metrics.evaluate("q0", ranking("a"), Metrics.binaryQrels(List.of()));
        assertEquals(new Metrics.QueryScores("q0", 0.0, 0.0, 0.0, 0.0, 0, 1), none);
        Metrics.QueryScores half = new Metrics.QueryScores("q2", 0.5, 0.25, 0.5, 0.5, 1, 100);
        Metrics.Summary avg = Metrics.average(List.of(half, none, s));
        assertEquals(3, avg.queries());
        assertEquals(1, avg.noRelevant());
        // summed in query-id order q0, q1, q2, divided by all three
        assertEquals((0.0 + s.ndcg10() + 0.5) / 3, avg.ndcg10());
        assertEquals((0.0 + 1.0 + 0.25) / 3, avg.recall100());
        assertEquals((0.0 + 1.0 + 0.5) / 3, avg.mrr10());
        assertEquals((0.0 + 1.0 + 0.5) / 3, avg.mrr());

        assertEquals(new Metrics.Summary(1, 1, 0.0, 0.0, 0.0, 0.0), Metrics.average(List.of(none)));
        assertEquals(new Metrics.Summary(0, 0, 0.0, 0.0, 0.0, 0.0), Metrics.average(List.of()));
    }

    @Test
    void uncutReciprocalRankBesideMrrAt10() {
        String[] ids = new String[1000];
        for (int i = 0; i < ids.length; i++) ids[i] = String.format("doc%04d", i + 1);
        // ranking() gives descending scores in argument order: doc0250 is at rank 250
        Metrics.QueryScores s = Metrics.evaluate("q", ranking(ids), Metrics.binaryQrels(List.of("doc0250", "x")));
        assertEquals(0.0, s.mrr10());
        assertEquals(1.0 / 250, s.mrr());
        assertEquals(0.0, s.recall100());
    }

    @Test
    void averageSumsInQueryIdOrder() {
        // trec_eval accumulates queries in strcmp order of their ids; floating-point addition is not associative:
        // (0.1 + 0.2) + 0.3 = 0.6000000000000001 but 0.3 + 0.2 + 0.1 = 0.6.
        List<Metrics.QueryScores> scores = List.of(new Metrics.QueryScores("c", 0.3, 0.3, 0.3, 0.3, 1, 1),
                new Metrics.QueryScores("b", 0.2, 0.2, 0.2, 0.2, 1, 1),
                new Metrics.QueryScores("a", 0.1, 0.1, 0.1, 0.1, 1, 1));
        assertNotEquals((0.1 + 0.2) + 0.3, (0.3 + 0.2) + 0.1);
        assertEquals(((0.1 + 0.2) + 0.3) / 3, Metrics.average(scores).ndcg10());
        assertThrows(IllegalArgumentException.class, () -> Metrics.average(List.of(scores.get(0), scores.get(0))));
    }

    @Test
    void refusals() {
        Map<String, Integer> q = Metrics.binaryQrels(List.of("a"));
        List<Hit> dup = List.of(new Hit("a", 0, 0.9f), new Hit("b", 1, 0.8f), new Hit("a", 2, 0.1f));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Metrics.ndcgCut(dup, q, 10));
        assertTrue(e.getMessage().contains("\"a\" twice"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Metrics.recall(dup, q, 100));
        assertThrows(IllegalArgumentException.class, () -> Metrics.ndcgCut(ranking("a"), q, 0));
        assertThrows(IllegalArgumentException.class, () -> Metrics.reciprocalRank(ranking("a"), q, -1));
        assertThrows(IllegalArgumentException.class, () -> Metrics.ndcgCut(null, q, 10));
    }

    @Test
    void binaryQrels() {
        assertEquals(Map.of("x", 1, "y", 1), Metrics.binaryQrels(List.of("x", "y", "x")));
        assertEquals(Map.of(), Metrics.binaryQrels(List.of()));
    }

    @Test
    void log2IsCorrectlyRoundedLikeGlibc() {
        // The values glibc 2.36's log2 returns (what trec_eval and pytrec_eval compute with on Linux).
        assertEquals(0x1.95c01a39fbd68p+0, log2(3));
        assertEquals(0x1.a934f0979a371p+1, log2(10));
        assertEquals(0x1.bacea7c065d42p+1, log2(11));
        assertEquals(0x1.a934f0979a371p+2, log2(100));
        assertEquals(0x1.3ee7b471b3a95p+3, log2(1000));
        for (int e = 0; e <= 20; e++) assertEquals(e, log2(1 << e));
        // Why not log(n) / log(2): one ulp off for many n, here the discount of rank 9 (within nDCG@10).
        assertNotEquals(StrictMath.log(10) / StrictMath.log(2), log2(10));
        assertEquals(log2(3), log2(3000) - log2(1000), 1e-12);
    }
}
