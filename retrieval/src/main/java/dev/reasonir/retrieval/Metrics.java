package dev.reasonir.retrieval;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Retrieval metrics that reproduce trec_eval 9.0.8 (the version pytrec_eval embeds, and so the one behind the official
 * BRIGHT numbers) to the last bit, so that a number computed here can be set beside a published one without a "close
 * enough".
 *
 * <p>What trec_eval does, and so what is done here (read from its {@code form_res_rels.c}, {@code m_ndcg_cut.c},
 * {@code m_recall.c}, {@code m_recip_rank.c} and {@code meas_acc.c}):
 * <ul>
 *   <li><b>Ranking.</b> trec_eval ignores the rank column of a run and re-sorts it by score, equal scores by docno in
 *       descending {@code strcmp} order ({@link Hit#TREC_ORDER}). Every metric here sorts a copy of the run the same
 *       way, so the caller's order never matters and the input list is never modified. trec_eval 9.0.8 holds scores
 *       as {@code float} while ranking, like {@link Hit#score()}, so equal floats tie here as they tie there.</li>
 *   <li><b>Duplicate docnos</b> in one query's run make trec_eval stop ("duplicate docs"); here they are an
 *       {@link IllegalArgumentException}, rather than a relevant document silently counted twice.</li>
 *   <li><b>Relevance values.</b> The gain of a document is its qrels value. Documents absent from the qrels, judged 0,
 *       or judged negative (which trec_eval reads as "in the pool but not judged") add no gain and never count as
 *       relevant. The ideal ranking is made of the positive qrels values alone, sorted descending, and includes every
 *       relevant document of the qrels, retrieved or not and whether or not it exists in the corpus: a gold id
 *       missing from the corpus caps nDCG and recall below 1, as it does in BRIGHT's published numbers.</li>
 *   <li><b>Relevant</b> (for recall and reciprocal rank) means a qrels value of at least 1, trec_eval's default
 *       {@code -l 1}.</li>
 *   <li><b>Arithmetic.</b> DCG and ideal DCG are summed in rank order as {@code gain / log2(rank + 1)}, rank counted
 *       from 1, as {@code m_ndcg_cut.c} does since trec_eval 9.0.4 (earlier versions divided by {@code log2(rank)}
 *       and left rank 1 undivided, so that ranks 1 and 2 weighed the same). Java has no {@code log2}, and
 *       {@code log(n) / log(2)} is one ulp off for about a quarter of the n up to 1000 (n = 3, the discount of rank
 *       2, with HotSpot's {@code Math.log}; n = 9, 10, 11 with {@code StrictMath.log}), which shows in the last
 *       digits of nDCG. {@link #log2(int)} is correctly rounded instead, which is bit-identical to glibc's
 *       {@code log2} (the one trec_eval calls on Linux; checked against glibc 2.36) for every n up to 1620, so for
 *       every rank within trec_eval's largest default cutoff, 1000.</li>
 * </ul>
 * MRR@k is not a trec_eval measure ({@code recip_rank} has no cutoff); {@link #reciprocalRank} is {@code recip_rank}
 * computed on the run cut to its top k, with the same ranking and relevance rules. {@link #evaluate} reports both:
 * the official BRIGHT script's "MRR" is the uncut {@code recip_rank} over its top-1000 run.
 *
 * <p><b>Averaging.</b> The official BRIGHT script hands its qrels to pytrec_eval as a dict holding every example,
 * so a query whose gold list is empty is present with no relevant document: it scores 0 on every measure and counts
 * in the mean (the script divides by the number of queries evaluated). {@link #average} does the same and reports
 * how many such queries it averaged in ({@link Summary#noRelevant()}). (The trec_eval command line would instead
 * never see such a query, since a qrels file cannot hold a query without lines; that is not what BRIGHT runs.)
 * Per-query values are summed in trec_eval's query order, by query id in {@code strcmp} order, then divided by the
 * number of queries, so that even the last bit of the mean matches.
 */
public final class Metrics {
    private Metrics() {}

    /**
     * One query's scores.
     *
     * @param queryId   the query id
     * @param ndcg10    {@code ndcg_cut.10}
     * @param recall100 {@code recall.100}
     * @param mrr10     reciprocal rank of the first relevant document within the top 10, else 0
     * @param mrr       {@code recip_rank}: reciprocal rank of the first relevant document anywhere in the run
     * @param relevant  number of documents in the qrels with relevance of at least 1 (0: every score is 0)
     * @param retrieved number of hits in the run
     */
    public record QueryScores(String queryId, double ndcg10, double recall100, double mrr10, double mrr,
                              int relevant, int retrieved) {}

    /**
     * Mean scores over a set of queries.
     *
     * @param queries    number of queries averaged (all of them)
     * @param noRelevant how many of them have no relevant document (each scored 0 and averaged in)
     * @param ndcg10     mean nDCG@10 (0 when there is no query)
     * @param recall100  mean recall@100
     * @param mrr10      mean MRR@10
     * @param mrr        mean uncut reciprocal rank (the official script's "MRR")
     */
    public record Summary(int queries, int noRelevant, double ndcg10, double recall100, double mrr10, double mrr) {}

    /**
     * trec_eval's {@code ndcg_cut.k}: DCG of the top {@code k} hits divided by the DCG of the ideal ranking of the
     * qrels' positive relevance values cut at {@code k}; 0 when the qrels hold no positive value.
     *
     * @param run   the hits of one query, in any order (not modified)
     * @param qrels document id to relevance value for that query
     * @param k     the cutoff, at least 1
     * @throws IllegalArgumentException if {@code k < 1} or the run names a document twice
     */
    public static double ndcgCut(List<Hit> run, Map<String, Integer> qrels, int k) {
        checkCutoff(k);
        return ndcgCutRanked(ranked(run), qrels, k);
    }

    private static double ndcgCutRanked(List<Hit> ranked, Map<String, Integer> qrels, int k) {
        int n = Math.min(k, ranked.size());
        double dcg = 0.0;
        for (int i = 0; i < n; i++) {
            int gain = gain(qrels, ranked.get(i).id());
            if (gain > 0) dcg += gain / log2(i + 2); // the hit at index i has rank i + 1
        }
        int[] gains = qrels.values().stream().mapToInt(Metrics::checked).filter(g -> g > 0).toArray();
        Arrays.sort(gains);
        double ideal = 0.0;
        for (int i = 0; i < Math.min(k, gains.length); i++) {
            int gain = gains[gains.length - 1 - i];
            ideal += gain / log2(i + 2);
        }
        return ideal > 0.0 ? dcg / ideal : 0.0;
    }

    /**
     * trec_eval's {@code recall.k}: relevant documents among the top {@code k} hits divided by the number of relevant
     * documents in the qrels (retrieved or not); 0 when the qrels hold none. A run shorter than {@code k} counts as if
     * padded with non-relevant documents.
     *
     * @throws IllegalArgumentException if {@code k < 1} or the run names a document twice
     */
    public static double recall(List<Hit> run, Map<String, Integer> qrels, int k) {
        checkCutoff(k);
        return recallRanked(ranked(run), qrels, k);
    }

    private static double recallRanked(List<Hit> ranked, Map<String, Integer> qrels, int k) {
        int relevant = relevantCount(qrels);
        if (relevant == 0) return 0.0;
        long found = 0;
        for (int i = 0; i < Math.min(k, ranked.size()); i++) {
            if (gain(qrels, ranked.get(i).id()) >= 1) found++;
        }
        return (double) found / (double) relevant;
    }

    /**
     * Reciprocal rank cut at {@code k} (MRR@k for one query): {@code 1 / rank} of the first relevant document
     * (relevance at least 1) among the top {@code k} hits, rank counted from 1; 0 when there is none there.
     *
     * @throws IllegalArgumentException if {@code k < 1} or the run names a document twice
     */
    public static double reciprocalRank(List<Hit> run, Map<String, Integer> qrels, int k) {
        checkCutoff(k);
        return reciprocalRankRanked(ranked(run), qrels, k);
    }

    private static double reciprocalRankRanked(List<Hit> ranked, Map<String, Integer> qrels, int k) {
        for (int i = 0; i < Math.min(k, ranked.size()); i++) {
            if (gain(qrels, ranked.get(i).id()) >= 1) return 1.0 / (double) (i + 1);
        }
        return 0.0;
    }

    /**
     * The standard BRIGHT scores of one query: nDCG@10 (the headline number), recall@100, MRR@10 and the uncut
     * reciprocal rank over the whole run.
     */
    public static QueryScores evaluate(String queryId, List<Hit> run, Map<String, Integer> qrels) {
        if (queryId == null) throw new IllegalArgumentException("queryId must not be null");
        List<Hit> ranked = ranked(run); // sorted once for all
        return new QueryScores(queryId, ndcgCutRanked(ranked, qrels, 10), recallRanked(ranked, qrels, 100),
                reciprocalRankRanked(ranked, qrels, 10), reciprocalRankRanked(ranked, qrels, Integer.MAX_VALUE),
                relevantCount(qrels), ranked.size());
    }

    /**
     * The mean of each score over all queries, those without a relevant document counting as 0, as the official
     * BRIGHT evaluation averages (see the class comment).
     *
     * @throws IllegalArgumentException if a query id occurs twice
     */
    public static Summary average(List<QueryScores> perQuery) {
        Map<String, QueryScores> byId = new LinkedHashMap<>();
        for (QueryScores q : perQuery) {
            if (byId.putIfAbsent(q.queryId(), q) != null) {
                throw new IllegalArgumentException("query \"" + q.queryId() + "\" is scored twice");
            }
        }
        List<QueryScores> all = new ArrayList<>(byId.values());
        int noRelevant = (int) all.stream().filter(q -> q.relevant() == 0).count();
        if (all.isEmpty()) return new Summary(0, 0, 0.0, 0.0, 0.0, 0.0);
        all.sort((a, b) -> Hit.compareUtf8(a.queryId(), b.queryId()));
        double ndcg = 0.0, recall = 0.0, mrr10 = 0.0, mrr = 0.0;
        for (QueryScores q : all) {
            ndcg += q.ndcg10();
            recall += q.recall100();
            mrr10 += q.mrr10();
            mrr += q.mrr();
        }
        double n = all.size();
        return new Summary(all.size(), noRelevant, ndcg / n, recall / n, mrr10 / n, mrr / n);
    }

    /**
     * Qrels of relevance 1 for each gold id: how BRIGHT turns its {@code gold_ids} lists into qrels. Duplicate ids
     * collapse into one entry.
     */
    public static Map<String, Integer> binaryQrels(Collection<String> goldIds) {
        Map<String, Integer> q = new LinkedHashMap<>();
        for (String id : goldIds) {
            if (id == null) throw new IllegalArgumentException("gold ids must not contain null");
            q.put(id, 1);
        }
        return q;
    }

    /**
     * {@code log2(n)} correctly rounded to the nearest double, for {@code n >= 1}. Values are computed in extended
     * precision; those below 16384 are cached, since nDCG asks for the same few discounts for every query.
     */
    static double log2(int n) {
        if (n < 1) throw new IllegalArgumentException("log2 of " + n);
        double[] t = log2Table;
        if (n < t.length) return t[n];
        if (n >= LOG2_TABLE_LIMIT) return exactLog2(n);
        return growLog2Table(n)[n];
    }

    // ---- internals ----

    /** A sorted copy of the run; refuses a document named twice, as trec_eval does. */
    private static List<Hit> ranked(List<Hit> run) {
        if (run == null) throw new IllegalArgumentException("run must not be null");
        List<Hit> copy = new ArrayList<>(run);
        Set<String> seen = new HashSet<>(copy.size() * 2);
        for (Hit h : copy) {
            if (h == null) throw new IllegalArgumentException("run must not contain null hits");
            if (!seen.add(h.id())) {
                throw new IllegalArgumentException("the run retrieves document \"" + h.id()
                        + "\" twice (trec_eval refuses duplicate docs in a run)");
            }
        }
        copy.sort(Hit.TREC_ORDER);
        return copy;
    }

    private static int gain(Map<String, Integer> qrels, String id) {
        Integer g = qrels.get(id);
        return g == null ? 0 : g;
    }

    private static int relevantCount(Map<String, Integer> qrels) {
        int n = 0;
        for (Integer g : qrels.values()) {
            if (checked(g) >= 1) n++;
        }
        return n;
    }

    private static int checked(Integer g) {
        if (g == null) throw new IllegalArgumentException("qrels must not hold null relevance values");
        return g;
    }

    private static void checkCutoff(int k) {
        if (k < 1) throw new IllegalArgumentException("cutoff must be at least 1, got " + k);
    }

    private static final MathContext MC = new MathContext(40);
    private static final BigDecimal LN2 = lnOneToTwo(BigDecimal.valueOf(2));
    private static final int LOG2_TABLE_LIMIT = 1 << 14;
    private static volatile double[] log2Table = new double[0];

    private static synchronized double[] growLog2Table(int n) {
        double[] old = log2Table;
        if (n < old.length) return old;
        // Grown by doubling as far as needed: nDCG@10 needs a dozen entries, nDCG@1000 a thousand (some tens of
        // milliseconds, once per JVM).
        int size = Math.min(LOG2_TABLE_LIMIT, Math.max(32, Math.max(n + 1, 2 * old.length)));
        double[] t = Arrays.copyOf(old, size);
        for (int i = Math.max(1, old.length); i < t.length; i++) t[i] = exactLog2(i);
        log2Table = t;
        return t;
    }

    /** log2(n) = e + ln(m) / ln(2) with n = m * 2^e, m in [1, 2), evaluated to 40 digits, then rounded once. */
    private static double exactLog2(int n) {
        int e = 31 - Integer.numberOfLeadingZeros(n);
        if (n == 1 << e) return e;
        BigDecimal m = new BigDecimal(n).divide(new BigDecimal(1 << e)); // exact: a power of two divides finitely
        return new BigDecimal(e).add(lnOneToTwo(m).divide(LN2, MC), MC).doubleValue();
    }

    /** ln(m) for m in [1, 2] by ln(m) = 2 atanh((m - 1) / (m + 1)), whose argument is at most 1/3. */
    private static BigDecimal lnOneToTwo(BigDecimal m) {
        BigDecimal x = m.subtract(BigDecimal.ONE).divide(m.add(BigDecimal.ONE), MC);
        BigDecimal x2 = x.multiply(x, MC);
        BigDecimal power = x, sum = BigDecimal.ZERO;
        BigDecimal epsilon = BigDecimal.ONE.movePointLeft(MC.getPrecision() + 2);
        for (int j = 1; power.compareTo(epsilon) > 0; j += 2) {
            sum = sum.add(power.divide(BigDecimal.valueOf(j), MC), MC);
            power = power.multiply(x2, MC);
        }
        return sum.multiply(BigDecimal.valueOf(2), MC);
    }
}
