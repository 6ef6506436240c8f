package dev.reasonir.server;

import dev.reasonir.Instructions;
import dev.reasonir.ReasonIR;
import dev.reasonir.ReasonIRException;
import dev.reasonir.TokenizedInput;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenAI- and TEI-compatible HTTP embedding server over one {@link ReasonIR} model.
 *
 * <pre>{@code
 * try (ReasonIR model = ReasonIR.open(dir);
 *      EmbeddingServer server = EmbeddingServer.start(model, ServerConfig.builder().port(8080).build())) {
 *     server.awaitClose();   // until another thread (e.g. a shutdown hook) calls close()
 * }
 * }</pre>
 *
 * Routes: {@code POST /v1/embeddings}, {@code GET /v1/models} (OpenAI), {@code POST /embed}, {@code POST /tokenize},
 * {@code GET /health}, {@code GET /info}, {@code GET /metrics} (TEI). Requests are tokenized on worker threads and
 * their inputs batched across requests by one batcher thread (see {@link Batcher}).
 *
 * <p>Threads: one Netty acceptor and a few event-loop threads (non-daemon: an open server keeps the JVM alive, as
 * servers do), a fixed pool of worker threads (one per core: parsing, tokenizing and rendering are CPU work), the
 * batcher thread and, with a queue timeout, its timer thread. The server never closes the model: the caller owns it.
 *
 * <p>Exposure: with {@link ServerConfig#apiKey()} set, every route but {@code /health} and {@code /metrics} needs
 * {@code Authorization: Bearer <key>}; a server bound to an interface other than loopback without a key logs a
 * warning at start ({@link #exposedWithoutApiKey()}). Connections are bounded in number
 * ({@link ServerConfig#maxConnections()}) and in the time a request may take to arrive
 * ({@link ServerConfig#requestReadTimeout()}).
 */
public final class EmbeddingServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(EmbeddingServer.class.getName());
    private static final AtomicInteger WORKER_IDS = new AtomicInteger();

    private final ReasonIR model;
    private final ServerConfig config;
    private final Metrics metrics = new Metrics();
    private final Batcher batcher;
    private final ThreadPoolExecutor workers;
    private final TokenDisplay display;
    private final EventLoopGroup boss;
    private final EventLoopGroup io;
    private final ChannelGroup channels = new DefaultChannelGroup("reasonir-http", GlobalEventExecutor.INSTANCE);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Object lifecycle = new Object();
    private final ApiKeyAuth auth;
    private Channel serverChannel;
    private volatile boolean draining;
    private boolean closing;  // guarded by lifecycle
    private int port;

    private EmbeddingServer(ReasonIR model, ServerConfig config) {
        this.model = model;
        this.config = config;
        int cores = Runtime.getRuntime().availableProcessors();
        this.batcher = new Batcher(model, config.maxBatchTokens(), config.queueTimeout(), metrics);
        int nWorkers = Math.max(2, cores);
        this.workers = new ThreadPoolExecutor(nWorkers, nWorkers, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(r, "reasonir-worker-" + WORKER_IDS.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.display = new TokenDisplay(model.modelDir());
        this.auth = config.apiKey() == null ? null : new ApiKeyAuth(config.apiKey());
        this.boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("reasonir-accept", false),
                NioIoHandler.newFactory());
        this.io = new MultiThreadIoEventLoopGroup(Math.max(1, Math.min(4, cores)),
                new DefaultThreadFactory("reasonir-http", false), NioIoHandler.newFactory());
        metrics.gauges(batcher::queuedInputs, batcher::queuedRequests, inFlight::get);
        metrics.devices(() -> Endpoints.devicesOf(model));
    }

    /**
     * Warms the engine up (one short embedding: a broken engine fails here, not on the first request), then listens.
     *
     * @throws ReasonIRException        when the warm-up embedding fails
     * @throws IllegalArgumentException when {@code maxInputLength} exceeds the model's max length
     * @throws IllegalStateException    when the address cannot be bound (the message names it), or the model is closed
     */
    public static EmbeddingServer start(ReasonIR model, ServerConfig config) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        ServerConfig resolved = config.resolve(model);
        warmUp(model);
        EmbeddingServer server = new EmbeddingServer(model, resolved);
        try {
            server.bind();
        } catch (RuntimeException | Error e) {
            server.shutdownResources();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "serving {0} on http://{1}:{2} ({3}){4}", resolved.modelName(),
                resolved.host(), String.valueOf(server.port), model.device(),
                resolved.requiresApiKey() ? ", API key required" : "");
        if (server.exposedWithoutApiKey()) {
            LOG.log(System.Logger.Level.WARNING, "listening on {0}, which is not loopback only, without an API key: "
                    + "anyone who can reach port {1} can use this server. Set an API key (--api-key-file, "
                    + "REASONIR_API_KEY; ServerConfig.apiKey) to require \"Authorization: Bearer <key>\"",
                    resolved.host(), String.valueOf(server.port));
        }
        return server;
    }

    private static void warmUp(ReasonIR model) {
        // Token ids need no tokenizer: this checks the engine alone. BOS of Llama-3.1 when the vocabulary has it.
        int id = model.vocabSize() > 128000 ? 128000 : 1;
        model.embedTokens(List.of(TokenizedInput.of(new int[] {id, id}, 0)));
        try {
            model.tokenize(Instructions.DOCUMENT, "warm-up");  // loads the tokenizer now, not on the first request
        } catch (ReasonIRException e) {
            if (e.kind() != ReasonIRException.Kind.TOKENIZER) throw e;
            LOG.log(System.Logger.Level.WARNING, "no usable tokenizer ({0}): text input will be refused, token-id "
                    + "input works", e.getMessage());
        }
    }

    private void bind() {
        int tokenizationWorkers = workers.getCorePoolSize();
        Endpoints endpoints = new Endpoints(model, config, batcher, metrics, workers, display, this::draining,
                tokenizationWorkers);
        HttpHandler handler = new HttpHandler(this, endpoints, metrics, auth);
        long readTimeoutNanos = config.requestReadTimeout().toNanos();
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, io)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .handler(new ConnectionLimits.Cap(config.maxConnections(), metrics))
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ConnectionLimits.ReadDeadline deadline = readTimeoutNanos > 0
                                ? new ConnectionLimits.ReadDeadline(readTimeoutNanos) : null;
                        if (deadline != null) ch.pipeline().addLast("read-deadline", deadline.bytes);
                        ch.pipeline().addLast("idle", new IdleStateHandler(0, 0, HttpHandler.IDLE_TIMEOUT_SECONDS))
                                .addLast("http", new HttpServerCodec());
                        if (deadline != null) ch.pipeline().addLast("read-deadline-end", deadline.messages);
                        ch.pipeline()
                                .addLast("aggregate", new HttpHandler.Aggregator(handler, config.payloadLimitBytes()))
                                .addLast("handler", handler);
                    }
                });
        try {
            serverChannel = b.bind(config.host(), config.port()).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot listen on " + config.host() + ":" + config.port() + ": " + e, e);
        }
        port = ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The port listened on (the chosen one when the config said 0). */
    public int port() {
        return port;
    }

    /** The config in force, with the model-dependent fields filled in. */
    public ServerConfig config() {
        return config;
    }

    /**
     * Whether the server listens on an address other than loopback (e.g. {@code 0.0.0.0}, or a host's network
     * address) and requires no API key: anyone who can reach the port can use it. {@link #start} logs a warning then.
     */
    public boolean exposedWithoutApiKey() {
        if (config.requiresApiKey()) return false;
        InetSocketAddress bound = (InetSocketAddress) serverChannel.localAddress();
        return bound == null || !bound.getAddress().isLoopbackAddress();
    }

    /** Blocks until {@link #close()} has finished (for a main thread that has nothing else to do). */
    public void awaitClose() throws InterruptedException {
        closed.await();
    }

    /**
     * Graceful shutdown, bounded in time:
     * <ol>
     *   <li>the server starts draining: {@code GET /health} answers 503 and new work requests 503 (with
     *       {@code Connection: close}), while the listener stays open, so that a load balancer sees the health check
     *       fail before the port closes;</li>
     *   <li>the listener closes once {@link ServerConfig#drainGrace()} has passed and no request is in flight (queued
     *       or computing), or at {@link ServerConfig#shutdownTimeout()}, whichever comes first;</li>
     *   <li>requests still in flight at the shutdown timeout are cut off: those still queued get 503, and every
     *       connection is closed (a batch inside the engine cannot be interrupted; it finishes on its own, and the
     *       caller's {@code ReasonIR.close()} waits for it);</li>
     *   <li>the threads stop.</li>
     * </ol>
     * Idempotent; a concurrent call waits for the first. The model stays open.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closing) {
                awaitQuietly();
                return;
            }
            closing = true;
        }
        long t0 = System.nanoTime();
        draining = true;
        long graceNanos = config.drainGrace().toNanos();
        long timeoutNanos = config.shutdownTimeout().isZero() ? Long.MAX_VALUE : config.shutdownTimeout().toNanos();
        boolean timedOut = false;
        try {
            long lastLog = t0;
            boolean interrupted = false;
            while (true) {
                long elapsed = System.nanoTime() - t0;
                if (inFlight.get() == 0 && elapsed >= graceNanos) break;
                if (elapsed >= timeoutNanos) {
                    timedOut = true;
                    break;
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    interrupted = true;  // finish the graceful part anyway; the flag is restored below
                }
                if (System.nanoTime() - lastLog > TimeUnit.SECONDS.toNanos(10)) {
                    LOG.log(System.Logger.Level.INFO, "shutting down: waiting for {0} requests in flight",
                            inFlight.get());
                    lastLog = System.nanoTime();
                }
            }
            serverChannel.close().syncUninterruptibly();
            if (timedOut) {
                LOG.log(System.Logger.Level.WARNING, "shutdown timeout of {0} s reached with {1} requests in flight: "
                        + "the queued ones get 503 and their connections close",
                        config.shutdownTimeout().toSeconds(), inFlight.get());
                batcher.close(Duration.ofSeconds(1));
                // Let the 503s just produced reach their clients before the connections close.
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (inFlight.get() > 0 && System.nanoTime() < until) {
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        } finally {
            shutdownResources(timedOut);
            closed.countDown();
        }
    }

    private void awaitQuietly() {
        try {
            closed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void shutdownResources() {
        shutdownResources(false);
    }

    /** Stops everything; {@code hurry}: past the shutdown timeout, so the batcher's engine call is not waited for. */
    private void shutdownResources(boolean hurry) {
        draining = true;
        channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        io.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        batcher.close(hurry ? Duration.ofSeconds(1) : Duration.ofSeconds(30));
        workers.shutdown();
        try {
            workers.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        display.close();
        io.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
        boss.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    // ---- used by HttpHandler ---------------------------------------------------------------------------------------

    /**
     * Takes an admission slot for a work request, or says why not: 503 while shutting down, 429 when
     * {@code maxConcurrentRequests} are in flight. The slot is counted before the shutdown flag is read, so
     * {@link #close()} never misses a request it let in.
     */
    ApiException admit() {
        int n = inFlight.incrementAndGet();
        if (draining) {
            inFlight.decrementAndGet();
            return ApiException.unhealthy("server is shutting down");
        }
        if (n > config.maxConcurrentRequests()) {
            inFlight.decrementAndGet();
            return ApiException.overloaded(config.maxConcurrentRequests() + " requests in flight, the limit "
                    + "(maxConcurrentRequests); retry later");
        }
        return null;
    }

    void release() {
        inFlight.decrementAndGet();
    }

    boolean draining() {
        return draining;
    }

    void track(Channel ch) {
        channels.add(ch);
    }

    /** For tests: the batcher (to pause it) and the metrics. */
    Batcher batcher() {
        return batcher;
    }

    Metrics metrics() {
        return metrics;
    }
}
