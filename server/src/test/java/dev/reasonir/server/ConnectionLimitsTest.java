package dev.reasonir.server;

import dev.reasonir.ReasonIR;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bounds on connections: a request that trickles in slower than the request read timeout gets 408 and its
 * connection closes; a connection that never sends a byte is closed; an idle keep-alive connection is not a slow
 * request; at the connection cap, a new client waits until a connection closes.
 */
class ConnectionLimitsTest {
    static final String HEALTH = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    static ReasonIR model;

    @BeforeAll
    static void open() throws Exception {
        model = TestServer.open();
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    private static EmbeddingServer start(ServerConfig.Builder config) {
        return EmbeddingServer.start(model, config.build());
    }

    @Test
    void slowHeadersGet408AndTheConnectionCloses() throws Exception {
        try (EmbeddingServer server = start(TestServer.config().requestReadTimeout(Duration.ofSeconds(1)));
             Socket s = connect(server)) {
            OutputStream out = s.getOutputStream();
            out.write("POST /embed HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // A header line every 100 ms: each byte would reset an idle timer, not this deadline.
            AtomicBoolean stop = new AtomicBoolean();
            Thread trickle = new Thread(() -> {
                try {
                    for (int i = 0; i < 600 && !stop.get(); i++) {
                        out.write(("X-Slow-" + i + ": 1\r\n").getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                        Thread.sleep(100);
                    }
                } catch (IOException | InterruptedException closed) {
                    // the server closed the connection: what the test waits for
                }
            });
            trickle.start();
            try {
                String answer = readUntilClosed(s);
                assertTrue(answer.startsWith("HTTP/1.1 408 Request Timeout"), answer);
                assertTrue(answer.contains("connection: close"), answer);
                assertTrue(answer.contains("request read timeout of 1 s"), answer);
            } finally {
                stop.set(true);
                trickle.join(TimeUnit.SECONDS.toMillis(30));
            }
            assertEquals(1, server.metrics().readTimeouts());
            TestServer.expect(200, TestServer.get(server, "/health"));  // the server goes on
        }
    }

    @Test
    void aConnectionThatSendsNothingIsClosedWithoutAnAnswer() throws Exception {
        try (EmbeddingServer server = start(TestServer.config().requestReadTimeout(Duration.ofSeconds(1)));
             Socket s = connect(server)) {
            assertEquals("", readUntilClosed(s));
            assertEquals(1, server.metrics().readTimeouts());
        }
    }

    /** The deadline runs while a request arrives, not while a keep-alive connection waits for the next one. */
    @Test
    void anIdleKeepAliveConnectionIsNotASlowRequest() throws Exception {
        try (EmbeddingServer server = start(TestServer.config().requestReadTimeout(Duration.ofSeconds(1)));
             Socket s = connect(server)) {
            assertTrue(exchange(s, HEALTH).startsWith("HTTP/1.1 200"));
            Thread.sleep(1500);  // longer than the read timeout, with no request started
            assertTrue(exchange(s, HEALTH).startsWith("HTTP/1.1 200"));
            assertEquals(0, server.metrics().readTimeouts());
        }
    }

    @Test
    void atTheConnectionCapANewClientWaitsForAConnectionToClose() throws Exception {
        try (EmbeddingServer server = start(TestServer.config().maxConnections(2));
             Socket first = connect(server); Socket second = connect(server)) {
            assertTrue(exchange(first, HEALTH).startsWith("HTTP/1.1 200"));
            assertTrue(exchange(second, HEALTH).startsWith("HTTP/1.1 200"));
            assertTrue(server.metrics().render().contains("\nreasonir_connections_open 2\n"));
            try (Socket third = connect(server)) {
                // The kernel completes the handshake (listen backlog); the server does not accept it yet.
                third.getOutputStream().write(HEALTH.getBytes(StandardCharsets.US_ASCII));
                third.setSoTimeout(1000);
                assertThrows(SocketTimeoutException.class, () -> third.getInputStream().read(),
                        "no answer while two connections are open");
                first.close();
                third.setSoTimeout(30_000);
                String answer = readResponse(third.getInputStream());
                assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            }
        }
    }

    private static Socket connect(EmbeddingServer server) throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(30_000);
        return s;
    }

    /** Sends one request on the connection and returns its response (head and body). */
    private static String exchange(Socket s, String request) throws IOException {
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        return readResponse(s.getInputStream());
    }

    /** One response: the head up to the blank line, then Content-Length bytes of body. */
    private static String readResponse(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) throw new IOException("connection closed after: " + head);
            head.write(b);
        }
        String h = head.toString(StandardCharsets.US_ASCII);
        int length = 0;
        for (String line : h.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).strip());
            }
        }
        return h + new String(in.readNBytes(length), StandardCharsets.UTF_8);
    }

    /** Everything the server sends until it closes the connection (or its sending side). */
    private static String readUntilClosed(Socket s) throws IOException {
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
}
