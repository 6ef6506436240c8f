package dev.reasonir.bench;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;
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
 * End-to-end throughput of {@link ReasonIR#embedTokens} (packing, JNI, native forward, pooling) on pre-tokenized
 * random ids: one invocation embeds {@code batchTokens / seqLen} sequences of {@code seqLen} tokens. JMH reports
 * invocations/s plus the auxiliary counter {@code tokens} (tokens/s). FLOP/s are not counted here: the benchmark tools
 * emit tokens and seconds, and the Python package's flops.py (benchmarks/reasonir_bench) turns tokens/s into FLOP/s
 * with the model's config.json.
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar -p model=build/generated/h256_l4 -p seqLen=128,1024
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class EmbedBenchmark {
    /** Model folder (config.json + safetensors). */
    @Param("build/generated/h256_l4")
    public String model;

    @Param({"128", "1024"})
    public int seqLen;

    @Param("8192")
    public int batchTokens;

    @Param({"FP32", "BF16"})
    public String precision;

    @Param("cpu")
    public String device;

    private ReasonIR engine;
    private List<TokenizedInput> inputs;
    private long tokensPerCall;

    /** Per-iteration counters JMH turns into rates. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Work {
        public long tokens;

        @Setup(Level.Iteration)
        public void reset() {
            tokens = 0;
        }
    }

    @Setup(Level.Trial)
    public void open() throws Exception {
        engine = ReasonIR.open(Path.of(model), Options.defaults().withDevice(device).withMaxLength(seqLen)
                .withBatchTokens(batchTokens).withPrecision(Precision.valueOf(precision)));
        Random r = new Random(42);
        inputs = new ArrayList<>();
        for (int s = 0; s < Math.max(1, batchTokens / seqLen); s++) {
            int[] ids = new int[seqLen];
            for (int i = 0; i < seqLen; i++) ids[i] = r.nextInt(engine.vocabSize());
            inputs.add(TokenizedInput.of(ids, 0));
        }
        tokensPerCall = (long) inputs.size() * seqLen;
        System.out.printf("%n%s, %d sequences x %d tokens per call%n", engine.device(), inputs.size(), seqLen);
    }

    @TearDown(Level.Trial)
    public void close() {
        engine.close();
    }

    @Benchmark
    public EmbeddingResult embed(Work work) {
        EmbeddingResult res = engine.embedTokens(inputs);
        work.tokens += tokensPerCall;
        return res;
    }
}
