package dev.reasonir.retrieval.cli;

import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;

/**
 * Environment variables for every option of a picocli command tree (the {@code reasonir} CLI and the Spark jobs):
 * {@code --max-batch-tokens} reads {@code REASONIR_MAX_BATCH_TOKENS}, {@code --model} {@code REASONIR_MODEL}, and so
 * on ({@link #variable}). Precedence: the flag, else the environment variable, else the option's default. Help shows
 * each variable beside the default: {@code (env: REASONIR_MAX_LENGTH; default: 512)}.
 *
 * <p>An environment value that is not of the option's type is a usage error naming the variable. Not covered: the
 * standard {@code --help} and {@code --version}, and options of argument groups (such as the exclusive
 * {@code --task}/{@code --instruction} of search), whose defaults picocli applies only to a group given on the
 * command line ({@link #covers}).
 */
public final class EnvironmentDefaults implements CommandLine.IDefaultValueProvider {
    /** Prefix of every variable. */
    public static final String PREFIX = "REASONIR_";

    private final Function<String, String> env;

    /** Reads variables with {@code env} (tests pass a map's {@code get}; {@link #install} uses the process's). */
    public EnvironmentDefaults(Function<String, String> env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /**
     * Installs the environment defaults and the help that shows them on {@code cl} and every subcommand it has now;
     * returns {@code cl}.
     */
    public static CommandLine install(CommandLine cl, Function<String, String> env) {
        cl.setDefaultValueProvider(new EnvironmentDefaults(env));
        cl.setHelpFactory(EnvHelp::new);
        return cl;
    }

    /** {@link #install(CommandLine, Function)} with the process environment. */
    public static CommandLine install(CommandLine cl) {
        return install(cl, System::getenv);
    }

    /** Whether the option has a variable: every option except help/version and options of argument groups. */
    public static boolean covers(ArgSpec arg) {
        if (!(arg instanceof OptionSpec o)) return false;
        return !o.usageHelp() && !o.versionHelp() && o.group() == null;
    }

    /** {@code REASONIR_} and the option's longest name in upper snake case: --max-length -&gt; REASONIR_MAX_LENGTH. */
    public static String variable(OptionSpec option) {
        String name = option.longestName().replaceFirst("^-+", "");
        return PREFIX + name.toUpperCase(Locale.ROOT).replace('-', '_');
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!covers(arg)) return null;
        OptionSpec option = (OptionSpec) arg;
        String var = variable(option);
        String value = env.apply(var);
        if (value == null) return null;
        check(option, var, value);
        return value;
    }

    /**
     * Refuses a value picocli could not convert, naming the variable (picocli's own message would name only the
     * option, which the user did not type).
     */
    private static void check(OptionSpec option, String var, String value) {
        if (option.isMultiValue()) return;
        Class<?> type = option.type();
        String problem = null;
        try {
            if (type == int.class || type == Integer.class) {
                Integer.parseInt(value.trim());
            } else if (type == long.class || type == Long.class) {
                Long.parseLong(value.trim());
            } else if (type == boolean.class || type == Boolean.class) {
                if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false")) problem = "not true or false";
            } else if (type.isEnum()) {
                boolean ignoreCase = option.command() == null || option.command().commandLine() == null
                        || option.command().commandLine().isCaseInsensitiveEnumValuesAllowed();
                boolean found = false;
                StringBuilder names = new StringBuilder();
                for (Object c : type.getEnumConstants()) {
                    String n = ((Enum<?>) c).name();
                    found |= ignoreCase ? n.equalsIgnoreCase(value) : n.equals(value);
                    names.append(names.length() == 0 ? "" : ", ").append(n);
                }
                if (!found) problem = "not one of " + names;
            } else if (type == Path.class) {
                Path.of(value);
            }
        } catch (NumberFormatException e) {
            problem = "not " + (type == long.class || type == Long.class ? "a long" : "an int");
        } catch (InvalidPathException e) {
            problem = "not a path: " + e.getReason();
        }
        if (problem != null) {
            String msg = "Invalid value for environment variable " + var + " (" + option.longestName() + "): '"
                    + value + "' is " + problem;
            CommandLine cl = option.command() == null ? null : option.command().commandLine();
            throw new CommandLine.ParameterException(cl, msg, option, value);
        }
    }

    /** The help of a command: each covered option's description ends with its variable. */
    static final class EnvHelp extends Help {
        EnvHelp(CommandSpec spec, ColorScheme scheme) {
            super(spec, scheme);
        }

        @Override
        public IOptionRenderer createDefaultOptionRenderer() {
            IOptionRenderer base = super.createDefaultOptionRenderer();
            return (option, labels, scheme) -> {
                Text[][] rows = base.render(option, labels, scheme);
                if (!covers(option) || rows.length == 0) return rows;
                Text[] last = rows[rows.length - 1];
                int col = last.length - 1;
                last[col] = scheme.ansi().new Text(withVariable(last[col].plainString(), variable(option)), scheme);
                return rows;
            };
        }
    }

    /** "... (default: X)" -&gt; "... (env: VAR; default: X)"; otherwise "... (env: VAR)". */
    static String withVariable(String description, String var) {
        String marker = "(default: ";
        int i = description.lastIndexOf(marker);
        if (i >= 0 && description.stripTrailing().endsWith(")")) {
            return description.substring(0, i) + "(env: " + var + "; default: " + description.substring(i
                    + marker.length());
        }
        String d = description.stripTrailing();
        return d.isEmpty() ? "(env: " + var + ")" : d + " (env: " + var + ")";
    }
}
