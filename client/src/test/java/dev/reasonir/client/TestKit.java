package dev.reasonir.client;

import dev.reasonir.ReasonIR;
import dev.reasonir.server.EmbeddingServer;
import dev.reasonir.server.ServerConfig;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;
import org.junit.platform.commons.support.ModifierSupport;

import java.io.IOException;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.stream.Stream;

/**
 * The test harness every module that talks to a ReasonIR model shares (this module's tests and, through its test-jar,
 * reasonir-langchain4j's and reasonir-spring-ai's): a JUnit extension that fills a test class's annotated static
 * fields before the class's own {@code @BeforeAll} methods run and closes what it opened, in reverse order, after its
 * {@code @AfterAll} methods.
 *
 * <pre>{@code
 * class MyTest {
 *     @TestKit.Model static ReasonIR model;                 // the h256_l4 fixture on the CPU (TestSupport.CPU)
 *     @TestKit.Model static Path dir;                       // its folder, named "model" (the name servers report)
 *     @TestKit.Stub static StubReasonIRServer stub;         // answers with model's vectors
 *     @TestKit.Server static EmbeddingServer server;        // the real reasonir-server on a free loopback port
 *     @TestKit.Server(apiKey = "sk-test") static EmbeddingServer guarded;  // one that requires that API key
 * }
 * }</pre>
 *
 * Each test class gets its own folder and model, so classes stay independent of each other and of the order they
 * run in. The folder is a fresh temporary one that the kit deletes itself: it holds links to the checkpoint and
 * tokenizer files, and JUnit's {@code @TempDir} cleanup warns about every link that points outside it.
 */
public final class TestKit implements BeforeAllCallback, AfterAllCallback {
    /** The fixture model on the CPU ({@link ReasonIR} field), or its folder ({@link Path} field). */
    @Target(ElementType.FIELD)
    @Retention(RetentionPolicy.RUNTIME)
    @ExtendWith(TestKit.class)
    public @interface Model {
        /** The engine's max length in tokens; 0 keeps {@link TestSupport#CPU}'s default. */
        int maxLength() default 0;
    }

    /** A {@link StubReasonIRServer} on the class's {@link Model} ({@link StubReasonIRServer#reset} between uses). */
    @Target(ElementType.FIELD)
    @Retention(RetentionPolicy.RUNTIME)
    @ExtendWith(TestKit.class)
    public @interface Stub {}

    /** The real {@link EmbeddingServer} over the class's {@link Model}, default config, on a free loopback port. */
    @Target(ElementType.FIELD)
    @Retention(RetentionPolicy.RUNTIME)
    @ExtendWith(TestKit.class)
    public @interface Server {
        /** The API key the server requires ({@code Authorization: Bearer <key>}); empty: none. */
        String apiKey() default "";
    }

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(TestKit.class);
    private static final String OPENED = "opened";

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        Class<?> testClass = context.getRequiredTestClass();
        // Registered before anything opens, so that afterAll closes what a failing beforeAll left open.
        Deque<AutoCloseable> opened = new ArrayDeque<>();
        context.getStore(NAMESPACE).put(OPENED, opened);

        List<Field> modelFields = fields(testClass, Model.class);
        List<Field> stubFields = fields(testClass, Stub.class);
        List<Field> serverFields = fields(testClass, Server.class);
        ReasonIR model = null;
        Path dir = null;
        for (Field f : modelFields) {
            if (dir == null) {
                Path root = Files.createTempDirectory("reasonir-test-");
                opened.push(() -> deleteTree(root));
                dir = TestSupport.modelDir(root, "model");
            }
            if (f.getType() == Path.class) {
                set(f, dir);
            } else if (f.getType() == ReasonIR.class) {
                if (model != null) throw misuse(f, "a second @TestKit.Model ReasonIR field; one model per class");
                int maxLength = f.getAnnotation(Model.class).maxLength();
                model = ReasonIR.open(dir, maxLength > 0 ? TestSupport.CPU.withMaxLength(maxLength) : TestSupport.CPU);
                opened.push(model);
                set(f, model);
            } else {
                throw misuse(f, "@TestKit.Model goes on a ReasonIR or a Path field");
            }
        }
        for (Field f : stubFields) {
            if (f.getType() != StubReasonIRServer.class) throw misuse(f, "@TestKit.Stub goes on a StubReasonIRServer");
            StubReasonIRServer stub = StubReasonIRServer.start(required(model, f));
            opened.push(stub);
            set(f, stub);
        }
        for (Field f : serverFields) {
            // A nested class: EmbeddingServer is loaded only by classes that ask for a real server.
            opened.push(RealServer.startInto(f, required(model, f)));
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        @SuppressWarnings("unchecked")
        Deque<AutoCloseable> opened = context.getStore(NAMESPACE).remove(OPENED, Deque.class);
        if (opened == null) return;
        Exception first = null;
        while (!opened.isEmpty()) {
            try {
                opened.pop().close();
            } catch (Exception e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
    }

    /** The class's (and its superclasses') static fields with {@code annotation}. */
    private static List<Field> fields(Class<?> testClass, Class<? extends java.lang.annotation.Annotation> annotation) {
        List<Field> found = AnnotationSupport.findAnnotatedFields(testClass, annotation);
        for (Field f : found) {
            if (!ModifierSupport.isStatic(f)) throw misuse(f, "the test kit fills static fields only");
        }
        return found;
    }

    private static ReasonIR required(ReasonIR model, Field f) {
        if (model == null) throw misuse(f, "needs a @TestKit.Model ReasonIR field in the same class to serve");
        return model;
    }

    private static void set(Field f, Object value) throws IllegalAccessException {
        f.setAccessible(true);
        f.set(null, value);
    }

    private static ExtensionConfigurationException misuse(Field f, String what) {
        return new ExtensionConfigurationException(f.getDeclaringClass().getName() + "." + f.getName() + ": " + what);
    }

    /** Deletes the folder and the links in it, never what they point to. */
    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static final class RealServer {
        static AutoCloseable startInto(Field f, ReasonIR model) throws IllegalAccessException {
            if (f.getType() != EmbeddingServer.class) throw misuse(f, "@TestKit.Server goes on an EmbeddingServer");
            String key = f.getAnnotation(Server.class).apiKey();
            EmbeddingServer server = EmbeddingServer.start(model, ServerConfig.builder().port(0)
                    .apiKey(key.isEmpty() ? null : key).build());
            set(f, server);
            return server;
        }
    }
}
