package dev.reasonir.server;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AttributeKey;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The Netty side of the server: checks the API key (every route but {@code /health} and {@code /metrics}, before
 * anything else), routes each aggregated request to {@link Endpoints}, admits work requests through
 * {@link EmbeddingServer#admit()}, and writes responses in request order (HTTP/1.1 pipelining) without ever blocking
 * an event-loop thread. A request's "client gone" signal is its channel being inactive: Netty keeps reading every
 * connection, so a client that closes while its request waits in the queue is noticed, and the batcher drops the
 * request before computing it.
 */
@ChannelHandler.Sharable
final class HttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final System.Logger LOG = System.getLogger(HttpHandler.class.getName());
    /** Completes when the channel's previous response was handed to Netty: responses leave in request order. */
    private static final AttributeKey<CompletableFuture<Void>> TAIL = AttributeKey.valueOf("reasonir.responseTail");
    /** Set once a request of the channel timed out: what the decoder still emits is not answered. */
    private static final AttributeKey<Boolean> TIMED_OUT = AttributeKey.valueOf("reasonir.timedOut");

    /** The routes; {@code label} is the metrics' {@code endpoint} value. */
    enum Route {
        OPENAI_EMBEDDINGS("/v1/embeddings", true, true, false), OPENAI_MODELS("/v1/models", true, false, false),
        EMBED("/embed", false, true, false), TOKENIZE("/tokenize", false, true, false),
        HEALTH("/health", false, false, true), INFO("/info", false, false, false),
        METRICS("/metrics", false, false, true), OTHER("other", false, false, false);

        final String label;
        final boolean openAi;
        /** Takes work (counts against maxConcurrentRequests, refused while shutting down). */
        final boolean work;
        /**
         * Answered without the API key: {@code /health}, which load balancers and orchestrators probe without
         * credentials, and {@code /metrics}, which holds only counts and latencies per fixed route name (no request
         * content, model name or setting) and which Prometheus scrapes; see docs/http-api.md.
         */
        final boolean open;

        Route(String label, boolean openAi, boolean work, boolean open) {
            this.label = label;
            this.openAi = openAi;
            this.work = work;
            this.open = open;
        }

        static Route of(String path) {
            String p = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
            for (Route r : values()) {
                if (r != OTHER && r.label.equals(p)) return r;
            }
            return OTHER;
        }

        HttpMethod method() {
            return work ? HttpMethod.POST : HttpMethod.GET;
        }
    }

    /** Idle keep-alive connections are closed after this long. */
    static final int IDLE_TIMEOUT_SECONDS = 300;
    /** How long a connection whose request timed out is kept half-closed after its 408. */
    private static final int LINGER_SECONDS = 2;

    private final EmbeddingServer server;
    private final Endpoints endpoints;
    private final Metrics metrics;
    private final ApiKeyAuth auth;  // null: no API key required

    HttpHandler(EmbeddingServer server, Endpoints endpoints, Metrics metrics, ApiKeyAuth auth) {
        this.server = server;
        this.endpoints = endpoints;
        this.metrics = metrics;
        this.auth = auth;
    }

    /** Null when {@code route} may be served with this {@code Authorization} header; else the 401. */
    ApiException denied(Route route, String authorization) {
        return auth == null || route.open ? null : auth.verify(authorization);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        server.track(ctx.channel());
        super.channelActive(ctx);
    }

    /**
     * What {@link Aggregator} passes on for a request over the payload limit (its body is discarded), with its
     * {@code Authorization} header: a client without the key gets 401, not 413.
     */
    record Oversized(String path, boolean closeAfter, String authorization) {}

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (ctx.channel().hasAttr(TIMED_OUT)) {
            io.netty.util.ReferenceCountUtil.release(msg);  // the rest of a request that timed out
        } else if (msg instanceof Oversized o) {
            Route route = Route.of(o.path());
            ApiException e = denied(route, o.authorization());
            Endpoints.Response r = endpoints.error(e != null ? e
                    : ApiException.payloadTooLarge(server.config().payloadLimitBytes()),
                    route.openAi || o.path().startsWith("/v1/"));
            respond(ctx, done(r), route, !o.closeAfter(), System.nanoTime(), false);
        } else {
            super.channelRead(ctx, msg);
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        long start = System.nanoTime();
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        String path = new QueryStringDecoder(req.uri()).path();
        Route route = Route.of(path);
        boolean openAi = route.openAi || path.startsWith("/v1/");
        if (!req.decoderResult().isSuccess()) {
            ApiException e = ApiException.badRequest(null, "invalid_http", "malformed HTTP request: "
                    + req.decoderResult().cause());
            respond(ctx, CompletableFuture.completedFuture(endpoints.error(e, openAi)), route, false, start, false);
            return;
        }
        CompletableFuture<Endpoints.Response> response;
        boolean admitted = false;
        // The key first: a client without it learns nothing of routes, methods or load.
        ApiException unauthorized = denied(route, req.headers().get(HttpHeaderNames.AUTHORIZATION));
        if (unauthorized != null) {
            response = done(endpoints.error(unauthorized, openAi));
        } else if (route == Route.OTHER) {
            response = done(endpoints.error(ApiException.notFound(path), openAi));
        } else if (!req.method().equals(route.method())) {
            response = done(endpoints.error(ApiException.methodNotAllowed(req.method().name(), path,
                    route.method().name()), openAi));
        } else if (route.work) {
            ApiException refused = server.admit();
            if (refused != null) {
                response = done(endpoints.error(refused, openAi));
            } else {
                admitted = true;
                response = dispatch(route, ByteBufUtil.getBytes(req.content()), ctx.channel());
            }
        } else {
            response = route == Route.HEALTH ? endpoints.health() : done(switch (route) {
                case INFO -> endpoints.info();
                case METRICS -> endpoints.metrics();
                case OPENAI_MODELS -> endpoints.openAiModels();
                default -> throw new IllegalStateException("unrouted " + route);
            });
        }
        respond(ctx, response, route, keepAlive, start, admitted);
    }

    private CompletableFuture<Endpoints.Response> dispatch(Route route, byte[] body, Channel channel) {
        try {
            return switch (route) {
                case OPENAI_EMBEDDINGS -> endpoints.openAiEmbeddings(body, () -> !channel.isActive());
                case EMBED -> endpoints.teiEmbed(body, () -> !channel.isActive());
                case TOKENIZE -> endpoints.teiTokenize(body);
                default -> throw new IllegalStateException("not a work route: " + route);
            };
        } catch (RuntimeException e) {  // e.g. the worker pool refused the task during shutdown
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Writes the response once it is ready and every earlier response of this connection has been written. Records
     * the metrics and releases the admission slot when Netty has finished writing (or the write failed).
     */
    private void respond(ChannelHandlerContext ctx, CompletableFuture<Endpoints.Response> response, Route route,
                         boolean keepAlive, long start, boolean admitted) {
        Channel ch = ctx.channel();
        CompletableFuture<Void> tail = ch.attr(TAIL).get();
        if (tail == null) tail = CompletableFuture.completedFuture(null);
        CompletableFuture<Endpoints.Response> safe = response.handle((r, t) -> {
            try {
                return t == null ? r : endpoints.failure(t, route.openAi);
            } catch (RuntimeException | Error e) {
                return new Endpoints.Response(500, Endpoints.JSON_TYPE, new byte[0]);
            }
        });
        CompletableFuture<Void> next = tail.thenCombine(safe, (v, r) -> r).thenAccept(r -> {
            try {
                write(ch, r, route, keepAlive, start, admitted);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot write a response", e);
                if (admitted) server.release();
                ch.close();
            }
        });
        ch.attr(TAIL).set(next);
    }

    private void write(Channel ch, Endpoints.Response r, Route route, boolean keepAlive, long start,
                       boolean admitted) {
        if (ch.eventLoop().isShuttingDown()) {
            // A batch that outlived the shutdown timeout: its connection is gone with the event loop.
            metrics.request(route.label, r.status(), System.nanoTime() - start);
            if (admitted) server.release();
            return;
        }
        boolean close = !keepAlive || server.draining();
        ch.writeAndFlush(response(r, close)).addListener((ChannelFutureListener) f -> {
            metrics.request(route.label, r.status(), System.nanoTime() - start);
            if (admitted) server.release();
            if (!f.isSuccess()) {
                f.channel().close();
            } else if (close) {
                closeAfterResponse(f.channel());
            }
        });
    }

    /**
     * Closes the connection after its last response. A client whose request timed out may still be sending: closing
     * with its bytes unread would make the kernel answer with a reset, which can destroy the 408 before the client
     * reads it. So that connection is half-closed (the client reads the 408 and end of stream) while what it still
     * sends is read and dropped, and closed for good when the client closes or after a few seconds.
     */
    private static void closeAfterResponse(Channel ch) {
        if (ch.hasAttr(TIMED_OUT) && ch instanceof SocketChannel socket && ch.isActive()) {
            socket.shutdownOutput();
            ch.eventLoop().schedule(() -> ch.close(), LINGER_SECONDS, TimeUnit.SECONDS);
        } else {
            ch.close();
        }
    }

    private static CompletableFuture<Endpoints.Response> done(Endpoints.Response r) {
        return CompletableFuture.completedFuture(r);
    }

    /**
     * Closes a connection that has been idle (nothing read or written) for {@link #IDLE_TIMEOUT_SECONDS}, unless a
     * response is still pending on it: a request may legitimately wait in the queue for long, but an unused
     * keep-alive connection would otherwise hold its resources forever. A request not received in full within the
     * request read timeout ({@link ConnectionLimits.ReadDeadline}) gets 408 after the responses before it, and the
     * connection closes; one that never sent a byte is closed without an answer.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            CompletableFuture<Void> tail = ctx.channel().attr(TAIL).get();
            if (tail == null || tail.isDone()) ctx.close();
        } else if (evt instanceof ConnectionLimits.RequestTimedOut t) {
            metrics.readTimeout();
            ctx.channel().attr(TIMED_OUT).set(Boolean.TRUE);
            if (!t.partial()) {
                ctx.close();
                return;
            }
            long seconds = server.config().requestReadTimeout().toSeconds();
            respond(ctx, done(endpoints.error(ApiException.requestTimeout(seconds), false)), Route.OTHER, false,
                    System.nanoTime(), false);
        } else {
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) {  // resets by clients are routine
            LOG.log(System.Logger.Level.DEBUG, "connection failed: " + cause, cause);
        }
        ctx.close();
    }

    /**
     * The body aggregator, with the 413 answered by {@link HttpHandler} in the route's JSON dialect (and in request
     * order) instead of Netty's empty one. Like Netty's own handling: a request that announced its oversize
     * (Content-Length) on a keep-alive connection gets the 413 and the rest of its body is discarded, so the client
     * can read the answer; otherwise the connection is closed after it.
     */
    static final class Aggregator extends HttpObjectAggregator {
        private final HttpHandler handler;

        Aggregator(HttpHandler handler, int limit) {
            super(limit);
            this.handler = handler;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
            if (!(oversized instanceof HttpRequest req)) {
                super.handleOversizedMessage(ctx, oversized);
                return;
            }
            boolean close = oversized instanceof FullHttpMessage
                    || (!HttpUtil.is100ContinueExpected(req) && !HttpUtil.isKeepAlive(req));
            ctx.fireChannelRead(new Oversized(new QueryStringDecoder(req.uri()).path(), close,
                    req.headers().get(HttpHeaderNames.AUTHORIZATION)));
        }

        /**
         * A client that sent {@code Expect: 100-continue} (curl does for bodies over 1 KiB) gets, instead of
         * "100 Continue", the JSON 401 when it lacks the API key, or the JSON 413 when its Content-Length is over the
         * limit; Netty then discards whatever body follows, so a client without the key cannot make the server read a
         * body at all.
         */
        @Override
        protected Object newContinueResponse(HttpMessage start, int maxContentLength, ChannelPipeline pipeline) {
            Object r = super.newContinueResponse(start, maxContentLength, pipeline);
            if (r instanceof FullHttpResponse res && start instanceof HttpRequest req) {
                String path = new QueryStringDecoder(req.uri()).path();
                Route route = Route.of(path);
                ApiException e = handler.denied(route, req.headers().get(HttpHeaderNames.AUTHORIZATION));
                if (e == null && res.status().code() == 413) e = ApiException.payloadTooLarge(maxContentLength);
                if (e != null) {
                    res.release();
                    Endpoints.Response body = handler.endpoints.error(e, route.openAi || path.startsWith("/v1/"));
                    handler.metrics.request(route.label, body.status(), 0);
                    return response(body, false);
                }
            }
            return r;
        }
    }

    static FullHttpResponse response(Endpoints.Response r, boolean close) {
        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(r.status()), Unpooled.wrappedBuffer(r.body()));
        resp.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
        resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.body().length);
        if (close) resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (r.truncated() >= 0) resp.headers().setInt(ServerConfig.TRUNCATED_HEADER, r.truncated());
        if (r.challenge() != null) resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, r.challenge());
        return resp;
    }
}
