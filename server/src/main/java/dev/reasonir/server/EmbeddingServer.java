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
 * servers do), a fixed pool of worker threads (one per core: parsing, tokenizing and rendering are CPU work) and the
 * batcher thread. The server never closes the model: the caller owns it.
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
        this.boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("reasonir-accept", false),
                NioIoHandler.newFactory());
        this.io = new MultiThreadIoEventLoopGroup(Math.max(1, Math.min(4, cores)),
                new DefaultThreadFactory("reasonir-http", false), NioIoHandler.newFactory());
        metrics.gauges(batcher::queuedInputs, batcher::queuedRequests, inFlight::get);
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
        LOG.log(System.Logger.Level.INFO, "serving {0} on http://{1}:{2} ({3})", resolved.modelName(),
                resolved.host(), String.valueOf(server.port), model.device());
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
        HttpHandler handler = new HttpHandler(this, endpoints, metrics);
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, io)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("idle", new IdleStateHandler(0, 0, HttpHandler.IDLE_TIMEOUT_SECONDS))
                                .addLast("http", new HttpServerCodec())
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

    /** Blocks until {@link #close()} has finished (for a main thread that has nothing else to do). */
    public void awaitClose() throws InterruptedException {
        closed.await();
    }

    /**
     * Graceful shutdown: stops listening (new connections are refused), answers new requests on open connections
     * with 503, waits for every request in flight to be answered, then stops the threads. Idempotent; a concurrent
     * call waits for the first. The model stays open.
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
        draining = true;
        try {
            serverChannel.close().syncUninterruptibly();
            long lastLog = System.nanoTime();
            boolean interrupted = false;
            while (inFlight.get() > 0) {
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
            if (interrupted) Thread.currentThread().interrupt();
        } finally {
            shutdownResources();
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
        draining = true;
        channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        io.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        batcher.close();
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
