package dev.reasonir.bench;

import java.util.Set;
import java.util.function.Consumer;

/**
 * The argument loop of the suite's small command-line tools (JniBench, SearchBench, TokenizerBench): switches such as
 * {@code --json}, and {@code --option value} pairs handed to the tool's own {@code switch}. These tools are driven by
 * benchmarks/reasonir_bench/suite.py, not by users, and print one-line errors; the user-facing command line is picocli
 * (module cli). Written once here so that the three tools read their arguments the same way.
 */
final class ToolArgs {
    private ToolArgs() {}

    /** Takes one {@code --option value}; may throw {@link NumberFormatException} for a bad number. */
    interface OptionHandler {
        void accept(String option, String value);
    }

    /**
     * Walks {@code args}: returns false at {@code --help} or {@code -h}, calls {@code onSwitch} for each argument in
     * {@code switches} and {@code onOption} for every other one with the argument after it. Throws
     * {@link IllegalArgumentException} (one line, naming the option) when a value is missing or not a number.
     */
    static boolean parse(String[] args, Set<String> switches, Consumer<String> onSwitch, OptionHandler onOption) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) return false;
            if (switches.contains(a)) {
                onSwitch.accept(a);
                continue;
            }
            if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
            String v = args[++i];
            try {
                onOption.accept(a, v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(a + " expects a number, got '" + v + "'");
            }
        }
        return true;
    }
}
