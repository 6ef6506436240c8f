package dev.reasonir.examples.langchain4j;

import dev.reasonir.client.ReadmeRegions;
import dev.reasonir.client.ReadmeRegions.Block;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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
        String langchain4j = null;
        for (Element d : dependencies(child(child(root, "dependencyManagement"), "dependencies"))) {
            if (text(d, "artifactId").equals("langchain4j-bom")) langchain4j = text(d, "version");
        }
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

    static Element read(Path pom) throws Exception {
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
        return doc.getDocumentElement();
    }

    /** The direct child element {@code name} of {@code parent}. */
    static Element child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) return e;
        }
        throw new AssertionError("no <" + name + "> in <" + parent.getTagName() + ">");
    }

    static String text(Element parent, String name) {
        return child(parent, name).getTextContent().strip();
    }

    static List<Element> dependencies(Element dependencies) {
        List<Element> out = new ArrayList<>();
        NodeList list = dependencies.getElementsByTagName("dependency");
        for (int i = 0; i < list.getLength(); i++) out.add((Element) list.item(i));
        return out;
    }
}
