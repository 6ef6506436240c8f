package dev.reasonir.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.reasonir.Options;
import dev.reasonir.Precision;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The Java API end to end on a device: opens a model folder on {@code cuda} (or the device given) and on the CPU in
 * BF16 mode (the CUDA backend's reference), embeds the same pre-tokenized inputs through {@link ReasonIR#embedTokens}
 * on both, and prints one JSON line with the smallest cosine between them, the device and the throughput; on
 * {@code cuda}, also the device pool's row ({@link #poolRow}). Exit status 0 when every cosine is at least 0.9995
 * (and the pool's checks hold), 1 otherwise, 2 on bad arguments. Token-id input needs no tokenizer files.
 *
 * <pre>
 * java -cp reasonir.jar:... dev.reasonir.tools.GpuSmoke MODEL_DIR [INPUTS_JSON] [DEVICE]
 * </pre>
 * INPUTS_JSON holds {@code {"sequences": [{"ids": [...], "pool_start": k}, ...]}} (the layout of the project's fixture
 * inputs); without it, a few random sequences of lengths 1 to 300 are used. benchmarks/gpu-check.sh runs it on the GPU
 * machine with a carried JRE (benchmarks/prepare-java.sh).
 */
public final class GpuSmoke {
    private GpuSmoke() {}

    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } catch (dev.reasonir.ReasonIRException e) {  // one JSON line in every case: the GPU check parses it
            var out = new ObjectMapper().createObjectNode();
            out.put("ok", false);
            out.put("error", e.kind() + ": " + e.getMessage());
            System.out.println(out);
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        if (args.length < 1 || args.length > 3 || args[0].equals("--help")) {
            System.err.println("usage: GpuSmoke MODEL_DIR [INPUTS_JSON] [DEVICE (default cuda)]");
            System.exit(args.length >= 1 && args[0].equals("--help") ? 0 : 2);
        }
        Path dir = Path.of(args[0]);
        String device = args.length > 2 ? args[2] : "cuda";
        ObjectMapper json = new ObjectMapper();
        List<TokenizedInput> inputs = new ArrayList<>();
        try (ReasonIR cpu = ReasonIR.open(dir, Options.defaults().withDevice("cpu").withPrecision(Precision.BF16)
                .withMaxLength(1 << 20))) {
            if (args.length > 1 && !args[1].isEmpty()) {
                for (JsonNode s : json.readTree(Files.readString(Path.of(args[1]))).get("sequences")) {
                    int[] ids = new int[s.get("ids").size()];
                    for (int i = 0; i < ids.length; i++) ids[i] = s.get("ids").get(i).asInt();
                    inputs.add(TokenizedInput.of(ids, s.get("pool_start").asInt()));
                }
            } else {
                java.util.Random rng = new java.util.Random(7);
                for (int len : new int[] {1, 7, 64, 65, 300}) {
                    int[] ids = new int[len];
                    for (int i = 0; i < len; i++) ids[i] = rng.nextInt(cpu.vocabSize());
                    inputs.add(TokenizedInput.of(ids, len > 3 ? 2 : 0));
                }
            }
            float[][] want = cpu.embedTokens(inputs).vectors();
            var out = json.createObjectNode();
            float[][] got;
            double worst = 1.0;
            try (ReasonIR gpu = ReasonIR.open(dir, Options.defaults().withDevice(device).withMaxLength(1 << 20))) {
                gpu.embedTokens(inputs);  // warm-up
                long t0 = System.nanoTime();
                got = gpu.embedTokens(inputs).vectors();
                double secs = (System.nanoTime() - t0) / 1e9;
                long tokens = 0;
                for (int i = 0; i < got.length; i++) {
                    worst = Math.min(worst, cosine(got[i], want[i]));
                    tokens += inputs.get(i).ids().length;
                }
                out.put("device", gpu.device());
                out.put("backend", gpu.backend());
                out.put("precision", gpu.precision().toString());
                out.put("inputs", got.length);
                out.put("tokens", tokens);
                out.put("min_cosine_vs_cpu_bf16", worst);
                out.put("tokens_per_s", tokens / secs);
            }
            boolean ok = worst >= 0.9995;
            if (device.equals("cuda") || device.equals("cuda:0")) ok &= poolRow(dir, inputs, got, out);
            out.put("ok", ok);
            System.out.println(json.writeValueAsString(out));
            System.exit(ok ? 0 : 1);
        }
    }

    /**
     * The device pool on this machine's GPUs (issue 20's GPU-check row): {@code cuda:all} must give the bits of
     * {@code cuda:0} (on a one-GPU machine it is {@code cuda:0}; on several, the batches are dealt among them), and
     * a device listed twice must be refused before anything is loaded. Opened after the single-device model is
     * closed, so that a full-size model needs one copy of its weights per GPU, not two.
     */
    private static boolean poolRow(Path dir, List<TokenizedInput> inputs, float[][] single,
                                   com.fasterxml.jackson.databind.node.ObjectNode out) {
        boolean same = true;
        try (ReasonIR pool = ReasonIR.open(dir, Options.defaults().withDevice("cuda:all").withMaxLength(1 << 20)
                .withBatchTokens(64))) {
            float[][] got = pool.embedTokens(inputs).vectors();
            for (int i = 0; i < got.length; i++) same &= java.util.Arrays.equals(got[i], single[i]);
            out.put("pool_devices", pool.devices().size());
        }
        out.put("pool_bits_equal_cuda0", same);
        boolean refused;
        try (ReasonIR twice = ReasonIR.open(dir, Options.defaults().withDevice("cuda:0,0"))) {
            refused = false;
        } catch (dev.reasonir.ReasonIRException e) {
            refused = e.kind() == dev.reasonir.ReasonIRException.Kind.INVALID_ARGUMENT;
        }
        out.put("pool_duplicate_refused", refused);
        return same && refused;
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
