package dev.reasonir.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bounds on connections that keep slow or idle clients from holding the server: a cap on open connections
 * ({@link Cap}) and a deadline for receiving each request ({@link ReadDeadline}). Without them, clients that open
 * connections and trickle a byte now and then are held forever (a byte resets any idle timer), each with its buffers.
 */
final class ConnectionLimits {
    private ConnectionLimits() {}

    /**
     * The user event {@link ReadDeadline} fires down the pipeline when a request was not received in time;
     * {@link HttpHandler} answers it (408, in request order) and closes the connection. {@code partial}: part of a
     * request had arrived (else the connection never sent a byte, and is closed without an answer).
     */
    record RequestTimedOut(boolean partial) {}

    /**
     * On the listening channel: counts open connections and, at {@code max}, stops accepting (the listening channel
     * stops reading) until one closes, so that further clients wait in the kernel's listen backlog, as Tomcat and
     * HAProxy do, rather than being refused. Netty accepts up to 16 connections per read of the listening socket, so
     * a few may arrive past the cap before accepting stops: those are closed at once, and counted.
     *
     * <p>The accepting switch is only ever flipped on the listening channel's event loop, so that a connection closing
     * on another loop cannot race with one being accepted and leave accepting off below the cap.
     */
    static final class Cap extends ChannelInboundHandlerAdapter {
        private final int max;
        private final Metrics metrics;
        private final AtomicInteger open = new AtomicInteger();

        Cap(int max, Metrics metrics) {
            this.max = max;
            this.metrics = metrics;
            metrics.connections(open::get);
        }

        int open() {
            return open.get();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel child = (Channel) msg;
            if (open.incrementAndGet() > max) {
                open.decrementAndGet();
                metrics.connectionRejected();
                child.unsafe().closeForcibly();  // not registered yet: nothing else to release
                return;
            }
            Channel listener = ctx.channel();
            child.closeFuture().addListener(f -> {
                open.decrementAndGet();
                try {
                    listener.eventLoop().execute(() -> updateAccepting(listener));
                } catch (RejectedExecutionException stopped) {
                    // the server has stopped (a connection closed after it): nothing left to accept
                }
            });
            updateAccepting(listener);
            ctx.fireChannelRead(child);
        }

        private void updateAccepting(Channel listener) {
            boolean accept = open.get() < max;
            if (listener.isOpen() && listener.config().isAutoRead() != accept) listener.config().setAutoRead(accept);
        }
    }

    /**
     * Per connection: a request must arrive in full (headers and body) within {@code timeoutNanos} of the
     * connection's opening (its first request) or of its first byte (later requests; the wait between requests of a
     * keep-alive connection is the idle timeout's business). Two handlers share the deadline: {@link #bytes} before
     * the HTTP codec sees every read, {@link #messages} after it sees a request's start and its end.
     */
    static final class ReadDeadline {
        private final long timeoutNanos;
        private ScheduledFuture<?> deadline;  // event loop only
        private boolean sawBytes;             // part of the awaited request has arrived (event loop only)
        private boolean fired;                // event loop only

        final ChannelHandler bytes = new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) throws Exception {
                arm(ctx, false);  // a connection that sends nothing at all is held no longer than a slow request
                super.channelActive(ctx);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (fired) {
                    // The rest of a late request: read (so that closing the connection does not reset it and destroy
                    // the 408 on its way) and dropped.
                    ReferenceCountUtil.release(msg);
                    return;
                }
                arm(ctx, true);
                super.channelRead(ctx, msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                disarm();
                super.channelInactive(ctx);
            }
        };

        final ChannelHandler messages = new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof HttpRequest) arm(ctx, true);  // the next pipelined request, read in the same buffer
                if (msg instanceof LastHttpContent) disarm();
                super.channelRead(ctx, msg);
            }
        };

        ReadDeadline(long timeoutNanos) {
            this.timeoutNanos = timeoutNanos;
        }

        private void arm(ChannelHandlerContext ctx, boolean bytesSeen) {
            if (fired) return;
            if (deadline != null) {
                sawBytes |= bytesSeen;
                return;
            }
            sawBytes = bytesSeen;
            deadline = ctx.executor().schedule(() -> {
                deadline = null;
                fired = true;
                ctx.pipeline().fireUserEventTriggered(new RequestTimedOut(sawBytes));
            }, timeoutNanos, TimeUnit.NANOSECONDS);
        }

        private void disarm() {
            sawBytes = false;
            if (deadline != null) {
                deadline.cancel(false);
                deadline = null;
            }
        }
    }
}
