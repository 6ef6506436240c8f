package dev.reasonir.cli;

import java.io.PrintStream;

/**
 * The output and message streams of the running command line ({@link Main#run} sets them): commands print results
 * to {@link #out()} and messages and progress to {@link #err()}, so that tests can capture both.
 */
final class Streams {
    private static volatile PrintStream out = System.out;
    private static volatile PrintStream err = System.err;

    private Streams() {}

    static void set(PrintStream o, PrintStream e) {
        out = o;
        err = e;
    }

    static PrintStream out() {
        return out;
    }

    static PrintStream err() {
        return err;
    }
}
