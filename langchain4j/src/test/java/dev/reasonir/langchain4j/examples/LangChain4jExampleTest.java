package dev.reasonir.langchain4j.examples;

import dev.reasonir.FixturesAccess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the README example on the small test checkpoint (random weights: the ranking itself means nothing). */
class LangChain4jExampleTest {
    @TempDir
    Path tmp;

    @Test
    void exampleIndexesAndSearches() throws Exception {
        Path model = FixturesAccess.withTokenizer("h256_l4", tmp.resolve("model"));
        List<String> lines = LangChain4jExample.search(model, "cpu", "Why do leaves change colour in autumn?");
        assertEquals(2, lines.size());
        for (String line : lines) assertTrue(line.matches("0\\.\\d{4}  .+\\.|1\\.0000  .+\\."), line);
    }
}
