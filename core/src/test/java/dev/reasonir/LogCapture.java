package dev.reasonir;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The formatted messages a logger records while some code runs. ReasonIR logs through System.Logger, which goes to
 * java.util.logging when no other backend is installed (as in these tests). Public for the tests of other modules.
 */
public final class LogCapture {
    private LogCapture() {}

    /** Messages of {@code loggerName} whose level passes {@code level} while {@code body} runs, in order. */
    public static List<String> messages(String loggerName, Predicate<Level> level, Runnable body) {
        Logger log = Logger.getLogger(loggerName);  // a local: the logger stays reachable while the handler is on it
        List<String> lines = new CopyOnWriteArrayList<>();
        SimpleFormatter fmt = new SimpleFormatter();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (level.test(record.getLevel())) lines.add(fmt.formatMessage(record));
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        log.addHandler(h);
        try {
            body.run();
        } finally {
            log.removeHandler(h);
        }
        return lines;
    }
}
