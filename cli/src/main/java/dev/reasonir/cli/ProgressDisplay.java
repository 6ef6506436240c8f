package dev.reasonir.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Progress of a long CLI job (embed, index, eval) on stderr: documents done of the total, tokens, tokens/s and ETA.
 * On a terminal it is a live bar (the well-kept {@code me.tongfei:progressbar}); otherwise (a log file, a pipe, a
 * CI job) it is one plain line every {@link #LOG_EVERY}, so a run of hours still shows that it moves without filling
 * the log. Thread-safe.
 */
final class ProgressDisplay implements AutoCloseable {
    static final Duration LOG_EVERY = Duration.ofSeconds(15);

    private final PrintStream err;
    private final String task;
    private final String unit;
    private final long total;
    private final long startDone;
    private final long startNanos = System.nanoTime();
    private final ProgressBar bar;                    // terminal mode
    private final ScheduledExecutorService ticker;    // log mode
    private long done, tokens, tokensThisRun;

    ProgressDisplay(PrintStream err, String task, String unit, long total, long startDone, boolean terminal,
                    Duration logEvery) {
        this.err = err;
        this.task = task;
        this.unit = unit;
        this.total = total;
        this.startDone = startDone;
        this.done = startDone;
        if (terminal) {
            bar = ProgressBar.builder().setTaskName(task).setInitialMax(total).startsFrom(startDone, Duration.ZERO)
                    .setConsumer(new ConsoleProgressBarConsumer(err)).setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK)
                    .setUnit(" " + unit, 1).setUpdateIntervalMillis(500).build();
            ticker = null;
        } else {
            bar = null;
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "reasonir-progress");
                t.setDaemon(true);
                return t;
            });
            long every = logEvery.toMillis();
            ticker.scheduleAtFixedRate(this::logLine, every, every, TimeUnit.MILLISECONDS);
        }
    }

    /** Starts a display; a bar only when {@code err} is the process's stderr and that is a terminal. */
    static ProgressDisplay start(PrintStream err, String task, String unit, long total, long alreadyDone) {
        return new ProgressDisplay(err, task, unit, total, alreadyDone, err == System.err && stderrIsTerminal(),
                LOG_EVERY);
    }

    synchronized void update(long done, long tokens, long tokensThisRun) {
        this.done = done;
        this.tokens = tokens;
        this.tokensThisRun = tokensThisRun;
        if (bar != null) {
            bar.stepTo(done);
            bar.setExtraMessage(String.format(Locale.ROOT, " %s tok, %s tok/s", human(tokens),
                    human(rate(tokensThisRun))));
        }
    }

    private double rate(long n) {
        double s = (System.nanoTime() - startNanos) / 1e9;
        return s <= 0 ? 0 : n / s;
    }

    private synchronized void logLine() {
        double s = (System.nanoTime() - startNanos) / 1e9;
        double perSecond = s <= 0 ? 0 : (done - startDone) / s;
        String eta = perSecond <= 0 ? "?" : duration((total - done) / perSecond);
        err.printf(Locale.ROOT, "reasonir: %s %d/%d %s (%.0f%%), %s tokens, %s tokens/s, ETA %s%n", task, done, total,
                unit, total == 0 ? 100.0 : 100.0 * done / total, human(tokens), human(rate(tokensThisRun)), eta);
    }

    static String human(double v) {
        if (v >= 1e9) return String.format(Locale.ROOT, "%.2fG", v / 1e9);
        if (v >= 1e6) return String.format(Locale.ROOT, "%.2fM", v / 1e6);
        if (v >= 1e4) return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        return String.format(Locale.ROOT, "%.0f", v);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
        if (s >= 60) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return s + "s";
    }

    /**
     * Whether the process's stderr (fd 2) is a terminal. Java 17 can only tell that of stdin+stdout together
     * ({@code System.console()}), and stdout is often redirected while stderr is not; Linux names fd 2's device.
     */
    static boolean stderrIsTerminal() {
        if ("dumb".equals(System.getenv("TERM"))) return false;
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            return System.console() != null;
        }
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
        if (ticker != null) ticker.shutdownNow();
    }
}
