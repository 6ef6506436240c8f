package dev.reasonir.cli;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.Vectors;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code reasonir demo}: embeds a few BRIGHT-style queries and documents and prints their similarities. */
@Command(name = "demo", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = {"Embeds three BRIGHT-style queries and four documents and prints their cosine similarities.",
                "./reasonir demo without --model generates (once) a small random-weight checkpoint with the real "
                        + "Llama-3.1 tokenizer and uses it."})
final class Demo implements Callable<Integer> {
    @Mixin
    EngineOptions engine;
    @Mixin
    EngineOptions.BatchTokens batch;

    static final List<String> QUERIES = List.of(
            "Why is the sky blue during the day but red at sunset?",
            "How do plants know which direction is up when they grow?",
            "What makes some people more sensitive to caffeine than others?");
    static final List<String> DOCUMENTS = List.of(
            "Rayleigh scattering: shorter (blue) wavelengths of sunlight are scattered far more strongly by the "
                    + "molecules of the atmosphere than longer (red) wavelengths.",
            "Gravitropism: statoliths, dense starch-filled amyloplasts, settle at the bottom of root cap cells and "
                    + "redirect the flow of the hormone auxin.",
            "CYP1A2, a liver enzyme, metabolizes most caffeine; common variants of its gene make people fast or slow "
                    + "metabolizers.",
            "The Treaty of Westphalia (1648) ended the Thirty Years' War.");

    @Override
    public Integer call() {
        PrintStream out = Streams.out(), err = Streams.err();
        Path model = engine.model();
        long t0 = System.nanoTime();
        try (ReasonIR m = ReasonIR.open(model, engine.options(batch))) {
            double openS = (System.nanoTime() - t0) / 1e9;
            Main.printDevice(m, err);
            out.printf(Locale.ROOT, "model   %s%ndevice  %s, precision %s, dimension %d (opened in %.2f s)%n",
                    model, m.device(), m.precision(), m.dimension(), openS);
            String instruction = Instructions.bright("biology");
            m.embed(List.of("warm-up"), instruction);  // first call loads the tokenizer: keep it out of the timing
            long t1 = System.nanoTime();
            EmbeddingResult q = m.embed(QUERIES, instruction);
            EmbeddingResult d = m.embed(DOCUMENTS, Instructions.DOCUMENT);
            double s = (System.nanoTime() - t1) / 1e9;
            long tokens = q.totalTokens() + d.totalTokens();
            out.printf(Locale.ROOT, "query instruction (BRIGHT biology): %s%n", instruction.replace("\n", "\\n"));
            out.println();
            out.println("cosine similarity (rows: queries, columns: documents)");
            float[][] sim = Vectors.similarity(q.vectors(), d.vectors());
            out.print("      ");
            for (int j = 0; j < DOCUMENTS.size(); j++) out.printf(Locale.ROOT, "   d%d  ", j);
            out.println();
            for (int i = 0; i < sim.length; i++) {
                out.printf(Locale.ROOT, "  q%d  ", i);
                for (float v : sim[i]) out.printf(Locale.ROOT, "%7.4f ", v);
                out.printf(Locale.ROOT, "  %s%n", QUERIES.get(i));
            }
            for (int j = 0; j < DOCUMENTS.size(); j++) {
                String doc = DOCUMENTS.get(j);
                out.printf(Locale.ROOT, "  d%d: %s%n", j, doc.length() > 70 ? doc.substring(0, 70) + "..." : doc);
            }
            out.println();
            out.printf(Locale.ROOT, "%d texts, %d tokens in %.3f s: %.0f tokens/s%n", QUERIES.size() + DOCUMENTS.size(),
                    tokens, s, tokens / s);
            if (m.dimension() != 4096) {
                out.println();
                out.println("This is a small RANDOM-WEIGHT checkpoint (real tokenizer, meaningless similarities): it "
                        + "exercises the whole path.");
                out.println("For real embeddings, download ReasonIR-8B (huggingface.co/reasonir/ReasonIR-8B: "
                        + "config.json, tokenizer.json, 4 safetensors shards + index) and run:");
                out.println("  ./reasonir demo --model /path/to/ReasonIR-8B");
            }
        }
        return 0;
    }
}
