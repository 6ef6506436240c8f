package dev.reasonir.examples.langchain4j;

import dev.reasonir.client.ReadmeRegions;
import dev.reasonir.client.ReadmeRegions.Block;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.PomXml.child;
import static dev.reasonir.client.PomXml.dependencies;
import static dev.reasonir.client.PomXml.managedVersion;
import static dev.reasonir.client.PomXml.read;
import static dev.reasonir.client.PomXml.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The README's LangChain4j section shows this project, character for character: its dependency block (pom.xml) and its
 * application (LangChain4jApp.java, less the package line); and the versions this project depends on are the ones the
 * build of the adapter uses (the root pom's project version and langchain4j-bom, the JUnit the project tests with).
 */
class ReadmeTest {
    static final Path ROOT = ReadmeRegions.root();
    static final Path PROJECT = ROOT.resolve("examples/langchain4j-app");

    @Test
    void theReadmeSectionIsThisProjectsPomAndCode() throws Exception {
        List<Block> expected = List.of(
                ReadmeRegions.region(PROJECT.resolve("pom.xml"), "maven", "xml"),
                ReadmeRegions.region(PROJECT.resolve(
                        "src/main/java/dev/reasonir/examples/langchain4j/LangChain4jApp.java"), "java", "java"));
        assertEquals(expected, ReadmeRegions.sectionBlocks(ROOT.resolve("README.md"),
                "### LangChain4j (`reasonir-langchain4j`)"));
    }

    @Test
    void theVersionsAreTheOnesTheBuildPins() throws Exception {
        Element root = read(ROOT.resolve("pom.xml"));
        String reasonir = text(root, "version");
        String langchain4j = managedVersion(root, "langchain4j-bom");
        String junit = text(child(root, "properties"), "junit.version");

        List<Element> used = dependencies(child(read(PROJECT.resolve("pom.xml")), "dependencies"));
        assertFalse(used.isEmpty());
        for (Element d : used) {
            String ga = text(d, "groupId") + ":" + text(d, "artifactId");
            String expected = switch (text(d, "groupId")) {
                case "dev.reasonir" -> reasonir;
                case "dev.langchain4j" -> langchain4j;
                case "org.junit.jupiter" -> junit;
                default -> throw new AssertionError("unexpected dependency " + ga);
            };
            assertEquals(expected, text(d, "version"), ga);
        }
    }
}
