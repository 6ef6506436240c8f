package dev.reasonir.examples.springai;

import dev.reasonir.client.ReadmeRegions;
import dev.reasonir.client.ReadmeRegions.Block;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import java.nio.file.Path;
import java.util.List;

import static dev.reasonir.client.PomXml.child;
import static dev.reasonir.client.PomXml.dependencies;
import static dev.reasonir.client.PomXml.elements;
import static dev.reasonir.client.PomXml.managedVersion;
import static dev.reasonir.client.PomXml.read;
import static dev.reasonir.client.PomXml.text;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The README's Spring AI section shows this project, character for character: its Maven setup (pom.xml: Boot's
 * parent, the Spring AI BOM, the dependencies), its settings (application.properties) and its application
 * (SpringAiApp.java, less the package line); and the versions are the ones the build of the adapter uses (the root
 * pom's project version and spring-ai-bom, spring-ai/pom.xml's Spring Boot).
 */
class ReadmeTest {
    static final Path ROOT = ReadmeRegions.root();
    static final Path PROJECT = ROOT.resolve("examples/spring-ai-app");

    @Test
    void theReadmeSectionIsThisProjectsPomPropertiesAndCode() throws Exception {
        List<Block> expected = List.of(
                ReadmeRegions.region(PROJECT.resolve("pom.xml"), "maven", "xml"),
                ReadmeRegions.region(PROJECT.resolve("src/main/resources/application.properties"), "properties",
                        "properties"),
                ReadmeRegions.region(PROJECT.resolve("src/main/java/dev/reasonir/examples/springai/SpringAiApp.java"),
                        "java", "java"));
        assertEquals(expected, ReadmeRegions.sectionBlocks(ROOT.resolve("README.md"),
                "### Spring AI (`reasonir-spring-ai`)"));
    }

    @Test
    void theVersionsAreTheOnesTheBuildPins() throws Exception {
        Element root = read(ROOT.resolve("pom.xml"));
        String reasonir = text(root, "version");
        String springAi = managedVersion(root, "spring-ai-bom");
        String boot = text(child(read(ROOT.resolve("spring-ai/pom.xml")), "properties"), "spring-boot.version");

        Element app = read(PROJECT.resolve("pom.xml"));
        Element parent = child(app, "parent");
        assertEquals("spring-boot-starter-parent", text(parent, "artifactId"));
        assertEquals(boot, text(parent, "version"), "Spring Boot");
        assertEquals(springAi, managedVersion(app, "spring-ai-bom"), "Spring AI");
        for (Element d : dependencies(child(app, "dependencies"))) {
            String ga = text(d, "groupId") + ":" + text(d, "artifactId");
            if (text(d, "groupId").equals("dev.reasonir")) {
                assertEquals(reasonir, text(d, "version"), ga);
            } else {
                // Everything else takes its version from Boot's parent or the Spring AI BOM.
                assertEquals(List.of(), elements(d, "version"), ga + " should have no version of its own");
            }
        }
    }
}
