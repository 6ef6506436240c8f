package dev.reasonir.bench;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIR;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * End-to-end throughput of text embedding, {@link ReasonIR#embedDocuments}: tokenization (the next packing window
 * is tokenized on a background thread while the engine embeds the current one), packing, JNI, forward, pooling. One
 * invocation embeds {@code docs} generated documents of about {@code words} words (~1.2 tokens per word). Besides
 * invocations/s JMH reports the counters {@code tokens} (tokens/s) and, per invocation, {@code tokenizeMs} (time
 * spent tokenizing, mostly hidden behind the engine) and {@code waitMs} (time the engine waited for the tokenizer:
 * the first window, plus any window the tokenizer did not finish in time). The model folder needs tokenizer.json.
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar TextEmbedBenchmark -p model=/path/to/h256_l4-with-tokenizer
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 10)
@Measurement(iterations = 3, time = 20)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class TextEmbedBenchmark {
    /** Model folder with config.json, safetensors and tokenizer.json. */
    @Param("build/generated/h256_l4")
    public String model;

    @Param("10000")
    public int docs;

    @Param("80")
    public int words;

    @Param("FP32")
    public String precision;

    @Param("cpu")
    public String device;

    private ReasonIR engine;
    private List<String> texts;

    /** Counters: tokens as a rate, the times as averages per invocation. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Work {
        public long tokens;

        @Setup(Level.Iteration)
        public void reset() {
            tokens = 0;
        }
    }

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Times {
        public double tokenizeMs;
        public double waitMs;
        private int calls;
        private double tokenizeSum, waitSum;

        @Setup(Level.Iteration)
        public void reset() {
            calls = 0;
            tokenizeSum = waitSum = tokenizeMs = waitMs = 0;
        }

        void add(EmbeddingResult.Timings t) {
            calls++;
            tokenizeSum += t.tokenizeNanos() / 1e6;
            waitSum += t.tokenizerWaitNanos() / 1e6;
            tokenizeMs = tokenizeSum / calls;
            waitMs = waitSum / calls;
        }
    }

    @Setup(Level.Trial)
    public void open() {
        engine = ReasonIR.open(Path.of(model), Options.defaults().withDevice(device)
                .withPrecision(Precision.valueOf(precision)));
        String[] vocabulary = ("the of and to in is that for it as was with be by on not this are or from at which "
                + "light plant root cell enzyme gene protein water energy sun blue red wavelength scattering gravity "
                + "hormone growth caffeine liver variant molecule atmosphere starch leaf stem signal direction")
                .split(" ");
        Random r = new Random(42);
        texts = new ArrayList<>();
        for (int i = 0; i < docs; i++) {
            StringBuilder b = new StringBuilder();
            for (int w = 0; w < words; w++) b.append(w == 0 ? "" : " ").append(vocabulary[r.nextInt(vocabulary.length)]);
            texts.add(b.append('.').toString());
        }
        engine.embedDocuments(texts.subList(0, Math.min(64, docs)));  // loads the tokenizer
        System.out.printf("%n%s, %d documents of %d words per call%n", engine.device(), docs, words);
    }

    @TearDown(Level.Trial)
    public void close() {
        engine.close();
    }

    @Benchmark
    public EmbeddingResult embedDocuments(Work work, Times times) {
        EmbeddingResult res = engine.embed(texts, Instructions.DOCUMENT);
        work.tokens += res.totalTokens();
        times.add(res.timings());
        return res;
    }
}
