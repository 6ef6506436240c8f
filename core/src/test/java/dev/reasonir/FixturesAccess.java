package dev.reasonir;

import java.io.IOException;
import java.nio.file.Path;

/** Lets tests in other packages (cli) use the package-private {@link Fixtures}. */
public final class FixturesAccess {
    private FixturesAccess() {}

    public static Path withTokenizer(String name, Path dst) throws IOException {
        return Fixtures.withTokenizer(name, dst);
    }
}
