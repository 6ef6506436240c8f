package dev.reasonir.client;

import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the few things of a pom.xml that the example projects' tests compare with the build (versions, dependencies),
 * with the JDK's DOM parser: Maven's own model library would be a large test dependency for six lookups.
 */
public final class PomXml {
    private PomXml() {}

    /** The {@code <project>} element of {@code pom}. */
    public static Element read(Path pom) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile()).getDocumentElement();
    }

    /** The direct child elements {@code name} of {@code parent}. */
    public static List<Element> elements(Element parent, String name) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) out.add(e);
        }
        return out;
    }

    /** The one direct child element {@code name} of {@code parent}. */
    public static Element child(Element parent, String name) {
        List<Element> found = elements(parent, name);
        if (found.size() != 1) {
            throw new AssertionError(found.size() + " <" + name + "> in <" + parent.getTagName() + ">");
        }
        return found.get(0);
    }

    /** The stripped text of the one direct child {@code name}. */
    public static String text(Element parent, String name) {
        return child(parent, name).getTextContent().strip();
    }

    /** Every {@code <dependency>} below {@code dependencies}. */
    public static List<Element> dependencies(Element dependencies) {
        List<Element> out = new ArrayList<>();
        NodeList list = dependencies.getElementsByTagName("dependency");
        for (int i = 0; i < list.getLength(); i++) out.add((Element) list.item(i));
        return out;
    }

    /** The version {@code <dependencyManagement>} of {@code pom} gives {@code artifactId}. */
    public static String managedVersion(Element pom, String artifactId) {
        for (Element d : dependencies(child(child(pom, "dependencyManagement"), "dependencies"))) {
            if (text(d, "artifactId").equals(artifactId)) return text(d, "version");
        }
        throw new AssertionError("no " + artifactId + " in <dependencyManagement>");
    }
}
