package dev.reasonir.server;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The server's version, from a resource Maven filters at build time (reported by {@code GET /info}). */
final class Version {
    static final String SERVER = load();

    private Version() {}

    private static String load() {
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }
}
