package dev.reasonir.retrieval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;

import static dev.reasonir.retrieval.MappedMatrixTest.HEADER;
import static dev.reasonir.retrieval.MappedMatrixTest.randomRows;
import static dev.reasonir.retrieval.MappedMatrixTest.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ExactSearch} against a brute-force reference, bit for bit. */
class ExactSearchTest {
    @TempDir
    Path dir;

    /**
     * The score's definition, written from the documentation: 16 lanes, lane l an fp32 fused multiply-add chain over
     * d = l, l + 16, ... from +0; then s8[i] = l[i] + l[i+8], s4[i] = s8[i] + s8[i+4], s2[i] = s4[i] + s4[i+2],
     * s2[0] + s2[1].
     */
    static float score(float[] q, float[] x) {
        float[] lane = new float[16];
        for (int d = 0; d < q.length; d++) lane[d & 15] = Math.fma(q[d], x[d], lane[d & 15]);
        float[] s8 = new float[8];
        for (int i = 0; i < 8; i++) s8[i] = lane[i] + lane[i + 8];
        float[] s4 = new float[4];
        for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
        float s20 = s4[0] + s4[2], s21 = s4[1] + s4[3];
        return s20 + s21;
    }

    /** The definition: {@link #score} of every row, full ranking by TREC_ORDER (stable), first k. */
    static List<List<Hit>> reference(float[][] x, String[] ids, float[][] queries, int k, List<Set<Long>> excluded) {
        List<List<Hit>> out = new ArrayList<>();
        for (int qi = 0; qi < queries.length; qi++) {
            float[] q = queries[qi];
            Set<Long> ex = excluded == null || excluded.get(qi) == null ? Set.of() : excluded.get(qi);
            List<Hit> all = new ArrayList<>();
            for (int r = 0; r < x.length; r++) {
                if (ex.contains((long) r)) continue;
                all.add(new Hit(ids[r], r, score(q, x[r])));
            }
            all.sort(Hit.TREC_ORDER);
            out.add(new ArrayList<>(all.subList(0, Math.min(k, all.size()))));
        }
        return out;
    }

    static String[] ids(int rows, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        String[] ids = new String[rows];
        for (int i = 0; i < rows; i++) ids[i] = "doc" + random.nextInt(1_000_000) + "_" + i;
        return ids;
    }

    static float[][] queries(int n, int dim, long seed) {
        return randomRows(n, dim, Dtype.F32, seed);
    }

    private MappedMatrix map(float[][] x, Dtype dtype) throws IOException {
        Path f = write(dir.resolve("m-" + dtype + "-" + x.length + ".npy"), x, dtype, HEADER);
        return MappedMatrix.map(f, HEADER, x.length, x[0].length, dtype);
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void randomDataMatchesReferenceForEveryK(Dtype dtype) throws IOException {
        int rows = 1500, dim = 37;                            // 2 x 16 + 5: exercises the masked tail step
        float[][] x = randomRows(rows, dim, dtype, 11);
        String[] ids = ids(rows, 12);
        float[][] q = queries(14, dim, 13);                   // 14 = 3 native tiles of 4 + a tile of 2
        try (MappedMatrix m = map(x, dtype)) {
            for (int k : new int[] {1, 5, rows, rows + 3}) {
                List<List<Hit>> expected = reference(x, ids, q, k, null);
                assertEquals(expected, ExactSearch.search(m, ids, q, k, null, 2), "k=" + k);
                assertEquals(expected.subList(0, 13), ExactSearch.search(m, ids, Arrays.copyOf(q, 13), k, null, 1),
                        "13 queries, k=" + k);
            }
            List<List<Hit>> all = ExactSearch.search(m, ids, q, rows + 3, null, 3);
            for (List<Hit> hits : all) assertEquals(rows, hits.size());
        }
    }

    @Test
    void scoresDoNotDependOnThreadsOrBlocks() throws IOException {
        int rows = 700, dim = 64;
        float[][] x = randomRows(rows, dim, Dtype.F16, 21);
        String[] ids = ids(rows, 22);
        float[][] q = queries(7, dim, 23);
        List<List<Hit>> expected = reference(x, ids, q, 50, null);
        try (MappedMatrix m = map(x, Dtype.F16)) {
            assertEquals(expected, ExactSearch.search(m, ids, q, 50, null, 1));
            assertEquals(expected, ExactSearch.search(m, ids, q, 50, null, 2));
            assertEquals(expected, ExactSearch.search(m, ids, q, 50, null, 0));
            for (int threads : new int[] {1, 2, 5}) {
                for (int block : new int[] {1, 3, 5, 6, 7, 64, 256, 1024}) {
                    assertEquals(expected, ExactSearch.search(m, ids, q, 50, null, threads, block),
                            "threads=" + threads + " block=" + block);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void manySegmentsGiveTheSameResult(Dtype dtype) throws IOException {
        int rows = 997, dim = 24;
        float[][] x = randomRows(rows, dim, dtype, 31);
        String[] ids = ids(rows, 32);
        float[][] q = queries(9, dim, 33);
        Path f = write(dir.resolve("seg.npy"), x, dtype, HEADER);
        long rowBytes = (long) dim * dtype.bytes();
        try (MappedMatrix m = MappedMatrix.map(f, HEADER, rows, dim, dtype, 41 * rowBytes + 7)) {
            assertEquals(25, m.segmentCount());
            for (int k : new int[] {1, 5, 100, rows + 3}) {
                List<List<Hit>> expected = reference(x, ids, q, k, null);
                assertEquals(expected, ExactSearch.search(m, ids, q, k, null, 2), "k=" + k);
                assertEquals(expected, ExactSearch.search(m, ids, q, k, null, 2, 16), "k=" + k + ", blocks of 16");
            }
        }
    }

    /**
     * Every returned score is the 16-lane definition's, bit for bit, and not what the previous Java kernel computed
     * (a sequential unfused sum): the data are chosen so that the two differ for most rows, so this test fails if
     * the scores were computed in another order. Covers the native kernel's several-query-tiles path with several
     * dimension chunks and a tail (dim 1000 = 3 x 256 + 232, 232 = 14 x 16 + 8) and its one-tile path.
     */
    @ParameterizedTest
    @EnumSource(Dtype.class)
    void scoresAreTheSixteenLaneDefinitionBitForBit(Dtype dtype) throws IOException {
        int rows = 203, dim = 1000;
        float[][] x = randomRows(rows, dim, dtype, 101);
        SplittableRandom random = new SplittableRandom(102);
        for (float[] row : x) {                              // magnitudes from 2^-10 to 2^10: order matters
            for (int d = 0; d < dim; d++) {
                float v = (float) Math.scalb(random.nextGaussian(), random.nextInt(21) - 10);
                row[d] = dtype == Dtype.F16 ? Half.toFloat(Half.fromFloat(v)) : v;
            }
        }
        String[] ids = ids(rows, 103);
        float[][] q = queries(9, dim, 104);
        try (MappedMatrix m = map(x, dtype)) {
            for (float[][] batch : new float[][][] {q, {q[4]}, Arrays.copyOf(q, 4)}) {
                List<List<Hit>> all = ExactSearch.search(m, ids, batch, rows, null, 2);
                int differFromSequential = 0;
                for (int i = 0; i < batch.length; i++) {
                    assertEquals(rows, all.get(i).size());
                    for (Hit h : all.get(i)) {
                        float want = score(batch[i], x[(int) h.row()]);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(h.score()),
                                "query " + i + " row " + h.row());
                        float sequential = 0f;
                        for (int d = 0; d < dim; d++) sequential += batch[i][d] * x[(int) h.row()][d];
                        if (sequential != want) differFromSequential++;
                    }
                }
                assertTrue(differFromSequential > rows * batch.length / 2,
                        differFromSequential + " of " + rows * batch.length + " differ from a sequential sum");
            }
        }
    }

    /** Non-finite rows (possible in a hand-made index) give NaN or infinite scores, as they always did. */
    @Test
    void nonFiniteRowsScoreNonFinite() throws IOException {
        float[][] x = randomRows(20, 24, Dtype.F16, 111);
        x[3][5] = Float.POSITIVE_INFINITY;
        x[7][0] = Float.NaN;
        String[] ids = ids(20, 112);
        float[][] q = {new float[24]};
        Arrays.fill(q[0], 0.25f);
        try (MappedMatrix m = map(x, Dtype.F16)) {
            List<Hit> hits = ExactSearch.search(m, ids, q, 20, null, 1).get(0);
            for (Hit h : hits) {
                if (h.row() == 3) assertEquals(Float.POSITIVE_INFINITY, h.score());
                else if (h.row() == 7) assertTrue(Float.isNaN(h.score()));
                else assertEquals(Float.floatToRawIntBits(score(q[0], x[(int) h.row()])),
                        Float.floatToRawIntBits(h.score()));
            }
        }
    }

    @Test
    void exclusionsAreHonouredPerQuery() throws IOException {
        int rows = 300, dim = 16;
        float[][] x = randomRows(rows, dim, Dtype.F32, 41);
        String[] ids = ids(rows, 42);
        float[][] q = queries(6, dim, 43);
        SplittableRandom random = new SplittableRandom(44);
        Set<Long> some = new HashSet<>();
        for (int i = 0; i < 120; i++) some.add((long) random.nextInt(rows));
        Set<Long> withOutOfRange = new HashSet<>(some);
        withOutOfRange.addAll(List.of(-5L, (long) rows, 1L << 40));
        Set<Long> everything = new HashSet<>();
        for (long r = 0; r < rows; r++) everything.add(r);
        Set<Long> allButTwo = new HashSet<>(everything);
        allButTwo.remove(7L);
        allButTwo.remove(299L);
        List<Set<Long>> excluded = Arrays.asList(some, null, Collections.emptySet(), everything, allButTwo,
                withOutOfRange);
        List<Set<Long>> referenceExcluded = new ArrayList<>(excluded);
        referenceExcluded.set(5, some);
        try (MappedMatrix m = map(x, Dtype.F32)) {
            for (int k : new int[] {1, 5, rows, rows + 3}) {
                List<List<Hit>> expected = reference(x, ids, q, k, referenceExcluded);
                List<List<Hit>> got = ExactSearch.search(m, ids, q, k, excluded, 2, 32);
                assertEquals(expected, got, "k=" + k);
                assertTrue(got.get(3).isEmpty());
                assertEquals(Math.min(k, 2), got.get(4).size());
                for (Hit h : got.get(0)) assertTrue(!some.contains(h.row()));
            }
            assertEquals(reference(x, ids, q, 10, null),
                    ExactSearch.search(m, ids, q, 10, Collections.nCopies(6, null), 1));
        }
    }

    /** Duplicate vectors tie exactly; ties are ordered by id, descending in UTF-8 byte order, also across k. */
    @ParameterizedTest
    @EnumSource(Dtype.class)
    void exactTiesAreOrderedByIdDescending(Dtype dtype) throws IOException {
        int rows = 200, dim = 10;
        float[][] x = randomRows(rows, dim, dtype, 51);
        String[] ids = ids(rows, 52);
        float[] v = new float[dim];
        Arrays.fill(v, 8f);                                   // far above any random row's score: the copies lead
        int[] copies = {0, 3, 50, 77, 120, 121, 150, 199};
        String[] tieIds = {"b", "a", "c", "\uffff", "\ud83d\ude00", "ab", "B", "é"};
        for (int i = 0; i < copies.length; i++) {
            x[copies[i]] = v.clone();
            ids[copies[i]] = tieIds[i];
        }
        float[][] q = {v.clone(), queries(1, dim, 53)[0]};
        try (MappedMatrix m = map(x, dtype)) {
            for (int k : new int[] {1, 3, 5, 8, 9, rows}) {
                List<List<Hit>> expected = reference(x, ids, q, k, null);
                for (int threads : new int[] {1, 2}) {
                    assertEquals(expected, ExactSearch.search(m, ids, q, k, null, threads, 7), "k=" + k);
                }
            }
            List<Hit> top = ExactSearch.search(m, ids, q, 8, null, 2).get(0);
            // UTF-8 bytes: F0 9F.. (emoji) > EF BF BF (U+FFFF) > C3 A9 (é) > "c" > "b" > "ab" > "a" > "B"
            List<String> order = new ArrayList<>();
            for (Hit h : top) order.add(h.id());
            assertEquals(List.of("\ud83d\ude00", "\uffff", "é", "c", "b", "ab", "a", "B"), order);
            for (Hit h : top) assertEquals(top.get(0).score(), h.score());
        }
    }

    @Test
    void workerThreadsEndWithTheCallAndInterruptsCancel() throws IOException {
        float[][] x = randomRows(3000, 8, Dtype.F16, 91);
        String[] ids = ids(3000, 92);
        float[][] q = queries(4, 8, 93);
        try (MappedMatrix m = map(x, Dtype.F16)) {
            ExactSearch.search(m, ids, q, 10, null, 4, 16);
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                assertTrue(!t.getName().startsWith("reasonir-exact-search") || !t.isAlive(), t.getName());
            }
            for (int threads : new int[] {1, 3}) {
                Thread.currentThread().interrupt();
                assertThrows(CancellationException.class, () -> ExactSearch.search(m, ids, q, 10, null, threads));
                assertTrue(Thread.interrupted(), "interrupt status kept");
            }
            assertEquals(reference(x, ids, q, 10, null), ExactSearch.search(m, ids, q, 10, null, 3));
        }
    }

    @Test
    void emptyInputs() throws IOException {
        float[][] x = randomRows(4, 3, Dtype.F32, 61);
        String[] ids = ids(4, 62);
        try (MappedMatrix m = map(x, Dtype.F32)) {
            assertTrue(ExactSearch.search(m, ids, new float[0][], 3, null, 2).isEmpty());
        }
        Path f = write(dir.resolve("empty.npy"), new float[0][], Dtype.F16, HEADER);
        try (MappedMatrix m = MappedMatrix.map(f, HEADER, 0, 3, Dtype.F16)) {
            List<List<Hit>> r = ExactSearch.search(m, new String[0], queries(2, 3, 63), 5, null, 2);
            assertEquals(List.of(List.of(), List.of()), r);
        }
    }

    @Test
    void invalidArgumentsAreRejectedClearly() throws IOException {
        float[][] x = randomRows(10, 8, Dtype.F16, 71);
        String[] ids = ids(10, 72);
        float[][] q = queries(2, 8, 73);
        try (MappedMatrix m = map(x, Dtype.F16)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ExactSearch.search(m, ids, new float[][] {q[0], new float[7]}, 5, null, 1));
            assertTrue(e.getMessage().contains("query 1") && e.getMessage().contains("dimension 7")
                    && e.getMessage().contains("8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ExactSearch.search(m, ids, q, 0, null, 1));
            assertTrue(e.getMessage().contains("k"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> ExactSearch.search(m, Arrays.copyOf(ids, 9), q, 5, null, 1));
            assertTrue(e.getMessage().contains("9 ids") && e.getMessage().contains("10 rows"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> ExactSearch.search(m, ids, q, 5, List.of(Set.of()), 1));
            float[] nan = q[1].clone();
            nan[3] = Float.NaN;
            e = assertThrows(IllegalArgumentException.class,
                    () -> ExactSearch.search(m, ids, new float[][] {q[0], nan}, 5, null, 1));
            assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> ExactSearch.search(m, ids, new float[][] {null}, 5, null, 1));
        }
        MappedMatrix closed = map(x, Dtype.F16);
        closed.close();
        assertThrows(IllegalStateException.class, () -> ExactSearch.search(closed, ids, q, 5, null, 2));
    }

    @Test
    void queriesAreNotModifiedAndLargeBatchesWork() throws IOException {
        int rows = 2000, dim = 96;
        float[][] x = randomRows(rows, dim, Dtype.F16, 81);
        String[] ids = ids(rows, 82);
        float[][] q = queries(64, dim, 83);
        float[][] copy = new float[q.length][];
        for (int i = 0; i < q.length; i++) copy[i] = q[i].clone();
        try (MappedMatrix m = map(x, Dtype.F16)) {
            assertEquals(reference(x, ids, copy, 10, null), ExactSearch.search(m, ids, q, 10, null, 2));
        }
        for (int i = 0; i < q.length; i++) assertTrue(Arrays.equals(copy[i], q[i]));
    }
}
