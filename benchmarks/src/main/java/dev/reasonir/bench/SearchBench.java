package dev.reasonir.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.reasonir.retrieval.Dtype;
import dev.reasonir.retrieval.ExactSearch;
import dev.reasonir.retrieval.Half;
import dev.reasonir.retrieval.Hit;
import dev.reasonir.retrieval.MappedMatrix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Throughput of {@link ExactSearch} over a memory-mapped index of random unit vectors: queries/s, seconds per batch,
 * GFLOP/s (2 x rows x dim x queries per batch) and GB/s of matrix read (rows x dim x bytes per batch).
 *
 * <p>A plain main class rather than a JMH benchmark: one batch over a realistic index takes seconds and its input is
 * an 8 GB file, which JMH's forks and iterations would multiply for nothing. It is in the shaded jar, whose main
 * class is JMH's, so run it with {@code -cp}:
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.reasonir.bench.SearchBench \
 *      --rows 1000000 --dim 4096 --queries 64 --k 100 --dtype f16 --file /tmp/x.npy [--threads N]
 * </pre>
 *
 * The index is a {@code .npy} file (128-byte header) generated when missing or of the wrong size, deterministically
 * from {@code --seed}, in chunks (never all in memory), through a temporary file renamed at the end. The first
 * {@code --warmup} batches (which also fault the file into memory) are not timed. Prints one human-readable line and
 * one JSON line; with {@code --json}, a last line follows with the "search" suite row of benchmarks/reasonir_bench/SCHEMA.md
 * (rows, dim, dtype, queries, k, threads, queries_per_s, gflops, gb_per_s), for the benchmark suite's orchestrator.
 */
public final class SearchBench {
    private static final int HEADER_BYTES = 128;

    private SearchBench() {}

    public static void main(String[] args) throws IOException {
        Config c;
        try {
            c = Config.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("SearchBench: " + e.getMessage() + " (--help for usage)");
            System.exit(2);
            return;
        }
        if (c == null) {
            System.out.println(Config.USAGE);
            return;
        }
        ensureIndex(c);
        String[] ids = new String[Math.toIntExact(c.rows)];
        for (int i = 0; i < ids.length; i++) ids[i] = "doc" + i;
        float[][] queries = new float[c.queries][];
        for (int i = 0; i < c.queries; i++) queries[i] = unitVector(c.dim, new SplittableRandom(mix(c.seed + 1, i)));
        int threads = c.threads > 0 ? c.threads : Runtime.getRuntime().availableProcessors();

        double[] seconds = new double[c.batches];
        float checksum = 0;
        try (MappedMatrix m = MappedMatrix.map(c.file, HEADER_BYTES, c.rows, c.dim, c.dtype)) {
            for (int i = 0; i < c.warmup; i++) {
                long t0 = System.nanoTime();
                ExactSearch.search(m, ids, queries, c.k, null, threads);
                System.err.printf(Locale.ROOT, "warm-up batch %d: %.3f s%n", i + 1, (System.nanoTime() - t0) / 1e9);
            }
            for (int i = 0; i < c.batches; i++) {
                long t0 = System.nanoTime();
                List<List<Hit>> hits = ExactSearch.search(m, ids, queries, c.k, null, threads);
                seconds[i] = (System.nanoTime() - t0) / 1e9;
                checksum += hits.get(0).get(0).score();
            }
        }
        if (c.deleteAfter) Files.deleteIfExists(c.file);

        double[] sorted = seconds.clone();
        Arrays.sort(sorted);
        double median = sorted[sorted.length / 2];
        double qps = c.queries / median;
        double gflops = 2.0 * c.rows * c.dim * c.queries / median / 1e9;
        double gbps = (double) c.rows * c.dim * c.dtype.bytes() / median / 1e9;
        System.out.printf(Locale.ROOT, "SearchBench: %d x %d %s, %d queries, k=%d, %d threads: %.3f s/batch (median "
                        + "of %d, min %.3f), %.2f queries/s, %.1f GFLOP/s, %.2f GB/s%n",
                c.rows, c.dim, name(c.dtype), c.queries, c.k, threads, median, c.batches, sorted[0], qps, gflops, gbps);
        System.out.printf(Locale.ROOT, "{\"benchmark\":\"exact_search\",\"rows\":%d,\"dim\":%d,\"dtype\":\"%s\","
                        + "\"queries\":%d,\"k\":%d,\"threads\":%d,\"batches\":%d,\"seconds_per_batch\":%.6f,"
                        + "\"seconds_per_batch_min\":%.6f,\"queries_per_second\":%.4f,\"gflop_per_second\":%.3f,"
                        + "\"gbyte_per_second\":%.4f,\"cpus\":%d,\"java\":\"%s\",\"top1_checksum\":%s}%n",
                c.rows, c.dim, name(c.dtype), c.queries, c.k, threads, c.batches, median, sorted[0], qps, gflops, gbps,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), checksum);
        if (c.json) System.out.println(suiteRow(c, threads, qps, gflops, gbps));
    }

    /** The "search" suite row of benchmarks/reasonir_bench/SCHEMA.md, as one line of JSON. */
    static String suiteRow(Config c, int threads, double qps, double gflops, double gbps) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode o = mapper.createObjectNode();
        o.put("rows", c.rows).put("dim", c.dim).put("dtype", name(c.dtype)).put("queries", c.queries).put("k", c.k)
                .put("threads", threads).put("queries_per_s", round(qps, 4)).put("gflops", round(gflops, 3))
                .put("gb_per_s", round(gbps, 4));
        return mapper.writeValueAsString(o);
    }

    private static double round(double x, int decimals) {
        double f = Math.pow(10, decimals);
        return Math.round(x * f) / f;
    }

    private static String name(Dtype d) {
        return d.name().toLowerCase(Locale.ROOT);
    }

    /** Generates the index unless a file of the right size and header is already there. */
    private static void ensureIndex(Config c) throws IOException {
        long rowBytes = (long) c.dim * c.dtype.bytes();
        long size = HEADER_BYTES + c.rows * rowBytes;
        ByteBuffer header = npyHeader(c.dtype, c.rows, c.dim);
        if (Files.isRegularFile(c.file) && Files.size(c.file) == size && header.equals(readHeader(c.file))) {
            System.err.println("using existing " + c.file);
            return;
        }
        System.err.printf(Locale.ROOT, "generating %s (%.2f GB)...%n", c.file, size / 1e9);
        long t0 = System.nanoTime();
        Path tmp = c.file.resolveSibling(c.file.getFileName() + ".tmp");
        int chunkRows = (int) Math.max(1, Math.min(c.rows, (64L << 20) / rowBytes));
        ByteBuffer chunk = ByteBuffer.allocate(Math.toIntExact(chunkRows * rowBytes)).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(out, header.duplicate(), 0);
            for (long first = 0; first < c.rows; first += chunkRows) {
                int n = (int) Math.min(chunkRows, c.rows - first);
                long base = first;
                // Row r comes from its own seeded generator: the file does not depend on the chunking or threads.
                IntStream.range(0, n).parallel().forEach(i -> {
                    float[] v = unitVector(c.dim, new SplittableRandom(mix(c.seed, base + i)));
                    ByteBuffer row = chunk.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    row.position(Math.toIntExact(i * rowBytes));
                    if (c.dtype == Dtype.F16) for (float x : v) row.putShort(Half.fromFloat(x));
                    else for (float x : v) row.putFloat(x);
                });
                chunk.limit(Math.toIntExact(n * rowBytes)).position(0);
                writeFully(out, chunk, HEADER_BYTES + first * rowBytes);
                chunk.clear();
            }
        }
        Files.move(tmp, c.file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        System.err.printf(Locale.ROOT, "generated in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    private static void writeFully(FileChannel out, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) position += out.write(b, position);
    }

    private static ByteBuffer readHeader(Path file) throws IOException {
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES);
            while (b.hasRemaining() && in.read(b) >= 0) { /* fill */ }
            return b.flip();
        }
    }

    /** A NumPy format 1.0 header padded to 128 bytes, so {@code numpy.load} reads the generated file. */
    static ByteBuffer npyHeader(Dtype dtype, long rows, int dim) {
        String dict = "{'descr': '" + dtype.npyDescr() + "', 'fortran_order': False, 'shape': (" + rows + ", " + dim
                + "), }";
        int dictLength = HEADER_BYTES - 10;
        if (dict.length() + 1 > dictLength) throw new IllegalArgumentException("shape too large for the header");
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) dictLength);
        b.put(dict.getBytes(StandardCharsets.US_ASCII));
        while (b.position() < HEADER_BYTES - 1) b.put((byte) ' ');
        b.put((byte) '\n');
        return b.flip();
    }

    /** A random unit vector: Gaussian coordinates, normalized in double precision. */
    static float[] unitVector(int dim, SplittableRandom random) {
        double[] g = new double[dim];
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            g[d] = random.nextGaussian();
            norm += g[d] * g[d];
        }
        double scale = 1 / Math.sqrt(norm);
        float[] v = new float[dim];
        for (int d = 0; d < dim; d++) v[d] = (float) (g[d] * scale);
        return v;
    }

    /** Seed of row (or query) {@code i}: SplitMix64's finalizer, so neighbouring rows get unrelated streams. */
    static long mix(long seed, long i) {
        long z = seed + (i + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Command-line options. */
    private static final class Config {
        static final String USAGE = "usage: java -cp benchmarks.jar dev.reasonir.bench.SearchBench --rows N --dim D"
                + " [--queries 64] [--k 100] [--dtype f16|f32] [--file PATH] [--threads N (0 = all CPUs)]"
                + " [--batches 3] [--warmup 1] [--seed 42] [--delete-after] [--json]";
        long rows = -1;
        int dim = -1;
        int queries = 64;
        int k = 100;
        Dtype dtype = Dtype.F16;
        Path file;
        int threads = 0;
        int batches = 3;
        int warmup = 1;
        long seed = 42;
        boolean deleteAfter;
        boolean json;

        /** The options, or null for --help. */
        static Config parse(String[] args) {
            Config c = new Config();
            Consumer<String> onSwitch = a -> {
                if (a.equals("--json")) c.json = true;
                else c.deleteAfter = true;
            };
            boolean run = ToolArgs.parse(args, Set.of("--delete-after", "--json"), onSwitch, (a, v) -> {
                switch (a) {
                    case "--rows": c.rows = Long.parseLong(v); break;
                    case "--dim": c.dim = Integer.parseInt(v); break;
                    case "--queries": c.queries = Integer.parseInt(v); break;
                    case "--k": c.k = Integer.parseInt(v); break;
                    case "--dtype": c.dtype = Dtype.parse(v); break;
                    case "--file": c.file = Path.of(v); break;
                    case "--threads": c.threads = Integer.parseInt(v); break;
                    case "--batches": c.batches = Integer.parseInt(v); break;
                    case "--warmup": c.warmup = Integer.parseInt(v); break;
                    case "--seed": c.seed = Long.parseLong(v); break;
                    default: throw new IllegalArgumentException("unknown option " + a);
                }
            });
            if (!run) return null;
            if (c.rows < 1 || c.rows > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("--rows N is required (1 .. 2^31 - 9)");
            }
            if (c.dim < 1) throw new IllegalArgumentException("--dim D is required (>= 1)");
            if (c.queries < 1 || c.k < 1 || c.batches < 1 || c.warmup < 0) {
                throw new IllegalArgumentException("--queries, --k and --batches must be >= 1, --warmup >= 0");
            }
            if (c.file == null) {
                c.file = Path.of(System.getProperty("java.io.tmpdir"), "reasonir-searchbench-" + c.rows + "x" + c.dim
                        + "-" + c.dtype.name().toLowerCase(Locale.ROOT) + "-seed" + c.seed + ".npy");
            }
            return c;
        }
    }
}
