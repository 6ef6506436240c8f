package dev.reasonir.server;

import dev.reasonir.DeviceInfo;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * The server's Prometheus metrics, written in the text exposition format 0.0.4 by hand: a dozen series do not justify
 * a client library and its registry (the io.prometheus 1.x client would add five artifacts to every user of this
 * module), and lock-free {@link LongAdder}s keep recording off the request path's critical section.
 *
 * <p>Series: {@code reasonir_requests_total{endpoint,status}}, {@code reasonir_request_duration_seconds{endpoint}}
 * (histogram), {@code reasonir_batch_inputs} and {@code reasonir_batch_tokens} (histograms of engine batches),
 * {@code reasonir_tokens_embedded_total} and {@code reasonir_inputs_embedded_total} (tokens/s is
 * {@code rate(reasonir_tokens_embedded_total[1m])}), {@code reasonir_engine_seconds_total},
 * {@code reasonir_batch_failures_total}, {@code reasonir_requests_dropped_total{reason}},
 * {@code reasonir_connections_rejected_total} (over {@code maxConnections}),
 * {@code reasonir_request_read_timeouts_total}, and the gauges {@code reasonir_queue_depth} (inputs waiting for the
 * engine), {@code reasonir_queue_requests}, {@code reasonir_requests_in_flight} and {@code reasonir_connections_open}.
 * Requests refused for a missing or wrong API key are counted in {@code reasonir_requests_total} with status 401.
 */
final class Metrics {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
        5, 10, 30, 60, 120};
    private static final double[] BATCH_INPUT_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
    private static final double[] BATCH_TOKEN_BUCKETS = {16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
        65536, 131072};

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, Histogram> latency = new ConcurrentHashMap<>();
    private final Histogram batchInputs = new Histogram(BATCH_INPUT_BUCKETS);
    private final Histogram batchTokens = new Histogram(BATCH_TOKEN_BUCKETS);
    private final LongAdder tokensEmbedded = new LongAdder();
    private final LongAdder inputsEmbedded = new LongAdder();
    private final DoubleAdder engineSeconds = new DoubleAdder();
    private final LongAdder batchFailures = new LongAdder();
    private final Map<String, LongAdder> dropped = new ConcurrentHashMap<>();
    private final LongAdder connectionsRejected = new LongAdder();
    private final LongAdder readTimeouts = new LongAdder();
    private volatile IntSupplier openConnections = () -> 0;
    private volatile IntSupplier queueDepth = () -> 0;
    private volatile IntSupplier queueRequests = () -> 0;
    private volatile IntSupplier inFlight = () -> 0;
    private volatile java.util.function.Supplier<List<DeviceInfo>> devices = List::of;

    /** One finished HTTP request; {@code endpoint} is a route name from a fixed set (never the raw path). */
    void request(String endpoint, int status, long nanos) {
        requests.computeIfAbsent(endpoint + '\u0000' + status, k -> new LongAdder()).increment();
        latency.computeIfAbsent(endpoint, k -> new Histogram(LATENCY_BUCKETS)).observe(nanos / 1e9);
    }

    /** One engine batch that succeeded. */
    void batch(int inputs, long tokens, long nanos) {
        batchInputs.observe(inputs);
        batchTokens.observe(tokens);
        inputsEmbedded.add(inputs);
        tokensEmbedded.add(tokens);
        engineSeconds.add(nanos / 1e9);
    }

    void batchFailed() {
        batchFailures.increment();
    }

    /** A request dropped from the queue before (all of) its inputs were computed. */
    void dropped(String reason) {
        dropped.computeIfAbsent(reason, k -> new LongAdder()).increment();
    }

    /** A connection closed on accept because {@code maxConnections} were open. */
    void connectionRejected() {
        connectionsRejected.increment();
    }

    /** A connection closed because its request was not received within the request read timeout. */
    void readTimeout() {
        readTimeouts.increment();
    }

    long readTimeouts() {
        return readTimeouts.sum();
    }

    void connections(IntSupplier open) {
        this.openConnections = open;
    }

    long droppedCount(String reason) {
        LongAdder a = dropped.get(reason);
        return a == null ? 0 : a.sum();
    }

    long batchCount() {
        return batchInputs.count.sum();
    }

    long inputsEmbedded() {
        return inputsEmbedded.sum();
    }

    /** The model's engines (one per device of a pool), rendered per device. */
    void devices(java.util.function.Supplier<List<DeviceInfo>> devices) {
        this.devices = devices;
    }

    void gauges(IntSupplier queueDepth, IntSupplier queueRequests, IntSupplier inFlight) {
        this.queueDepth = queueDepth;
        this.queueRequests = queueRequests;
        this.inFlight = inFlight;
    }

    /** Prometheus text exposition format 0.0.4. */
    String render() {
        StringBuilder sb = new StringBuilder(4096);
        header(sb, "reasonir_requests_total", "counter", "HTTP requests answered, by endpoint and status");
        new TreeMap<>(requests).forEach((k, v) -> {
            int sep = k.indexOf('\u0000');
            sb.append("reasonir_requests_total{endpoint=\"").append(escape(k.substring(0, sep)))
                    .append("\",status=\"").append(k.substring(sep + 1)).append("\"} ").append(v.sum()).append('\n');
        });
        header(sb, "reasonir_request_duration_seconds", "histogram",
                "time from a request's arrival to its response being written, by endpoint");
        new TreeMap<>(latency).forEach((endpoint, h) ->
                h.render(sb, "reasonir_request_duration_seconds", "endpoint=\"" + escape(endpoint) + "\""));
        header(sb, "reasonir_batch_inputs", "histogram", "inputs per engine batch (packed across requests)");
        batchInputs.render(sb, "reasonir_batch_inputs", "");
        header(sb, "reasonir_batch_tokens", "histogram", "tokens per engine batch");
        batchTokens.render(sb, "reasonir_batch_tokens", "");
        counter(sb, "reasonir_tokens_embedded_total", "tokens fed to the engine in successful batches",
                tokensEmbedded.sum());
        counter(sb, "reasonir_inputs_embedded_total", "inputs embedded in successful batches", inputsEmbedded.sum());
        header(sb, "reasonir_engine_seconds_total", "counter", "wall time spent in engine calls that succeeded");
        sb.append("reasonir_engine_seconds_total ").append(format(engineSeconds.sum())).append('\n');
        counter(sb, "reasonir_batch_failures_total", "engine batches that failed (their requests got 422 or 424)",
                batchFailures.sum());
        header(sb, "reasonir_requests_dropped_total", "counter",
                "requests dropped from the queue before computing: client_gone or queue_timeout");
        for (String reason : new String[] {"client_gone", "queue_timeout"}) {
            sb.append("reasonir_requests_dropped_total{reason=\"").append(reason).append("\"} ")
                    .append(droppedCount(reason)).append('\n');
        }
        counter(sb, "reasonir_connections_rejected_total", "connections closed on accept because maxConnections were "
                + "open", connectionsRejected.sum());
        counter(sb, "reasonir_request_read_timeouts_total", "connections closed because a request was not received in "
                + "full within the request read timeout", readTimeouts.sum());
        gauge(sb, "reasonir_queue_depth", "inputs waiting for the engine", queueDepth.getAsInt());
        gauge(sb, "reasonir_queue_requests", "requests with inputs waiting for the engine", queueRequests.getAsInt());
        gauge(sb, "reasonir_requests_in_flight", "requests admitted and not yet answered", inFlight.getAsInt());
        gauge(sb, "reasonir_connections_open", "open client connections", openConnections.getAsInt());
        List<DeviceInfo> engines = devices.get();
        header(sb, "reasonir_device_up", "gauge", "1 while the device takes batches, 0 once a device fault took it out");
        for (DeviceInfo d : engines) {
            device(sb, "reasonir_device_up", d, d.state() == DeviceInfo.State.HEALTHY ? 1 : 0);
        }
        header(sb, "reasonir_device_batches_total", "counter", "engine batches the device completed");
        for (DeviceInfo d : engines) device(sb, "reasonir_device_batches_total", d, d.batches());
        header(sb, "reasonir_device_tokens_total", "counter", "tokens of the batches the device completed");
        for (DeviceInfo d : engines) device(sb, "reasonir_device_tokens_total", d, d.tokens());
        header(sb, "reasonir_device_failures_total", "counter", "device faults (the failed batch went to another)");
        for (DeviceInfo d : engines) device(sb, "reasonir_device_failures_total", d, d.failures());
        return sb.toString();
    }

    private static void device(StringBuilder sb, String name, DeviceInfo d, long v) {
        sb.append(name).append("{device=\"").append(escape(d.name())).append("\"} ").append(v).append('\n');
    }

    private static void header(StringBuilder sb, String name, String type, String help) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void counter(StringBuilder sb, String name, String help, long v) {
        header(sb, name, "counter", help);
        sb.append(name).append(' ').append(v).append('\n');
    }

    private static void gauge(StringBuilder sb, String name, String help, long v) {
        header(sb, name, "gauge", help);
        sb.append(name).append(' ').append(v).append('\n');
    }

    private static String escape(String label) {
        return label.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    static String format(double v) {
        if (v == Double.POSITIVE_INFINITY) return "+Inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return String.format(Locale.ROOT, "%s", v);
    }

    /** A fixed-bucket histogram; buckets are counted individually and made cumulative when rendered. */
    private static final class Histogram {
        final double[] bounds;
        final LongAdder[] buckets;
        final LongAdder count = new LongAdder();
        final DoubleAdder sum = new DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.buckets = new LongAdder[bounds.length + 1];
            for (int i = 0; i < buckets.length; i++) buckets[i] = new LongAdder();
        }

        void observe(double v) {
            int i = 0;
            while (i < bounds.length && v > bounds[i]) i++;
            buckets[i].increment();
            count.increment();
            sum.add(v);
        }

        void render(StringBuilder sb, String name, String labels) {
            String sep = labels.isEmpty() ? "" : labels + ",";
            long cumulative = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cumulative += buckets[i].sum();
                String le = i < bounds.length ? format(bounds[i]) : "+Inf";
                sb.append(name).append("_bucket{").append(sep).append("le=\"").append(le).append("\"} ")
                        .append(cumulative).append('\n');
            }
            String braces = labels.isEmpty() ? "" : "{" + labels + "}";
            sb.append(name).append("_sum").append(braces).append(' ').append(format(sum.sum())).append('\n');
            // The +Inf bucket's count, not count.sum(): a concurrent observe() must not make the two disagree.
            sb.append(name).append("_count").append(braces).append(' ').append(cumulative).append('\n');
        }
    }
}
