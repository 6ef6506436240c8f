package dev.reasonir.springai.autoconfigure;

import dev.reasonir.Instructions;
import dev.reasonir.Options;
import dev.reasonir.ReasonIR;
import dev.reasonir.springai.ReasonIRSpringEmbeddingModel;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.type.AnnotatedTypeMetadata;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Spring Boot auto-configuration of ReasonIR as the application's Spring AI {@link EmbeddingModel}, from the
 * {@code reasonir.*} properties ({@link ReasonIRProperties}).
 * <ul>
 *   <li>In-process mode ({@code reasonir.model-dir}): a {@link ReasonIR} bean, opened at startup so that a bad
 *       checkpoint fails the start rather than the first request, and closed with the context; an application may
 *       declare its own {@code ReasonIR} bean instead. The embedding model wraps it.</li>
 *   <li>Client mode ({@code reasonir.base-url}): no model in this process; the embedding model calls the server,
 *       with {@code reasonir.api-key} as its Bearer token when the server requires one.</li>
 * </ul>
 * The {@link ReasonIRSpringEmbeddingModel} bean embeds {@code Document}s with the document prefix and strings with
 * the query instruction of {@code reasonir.query-task} or {@code reasonir.bright-task}. Misconfiguration stops the
 * start with a {@link ReasonIRConfigurationException} naming the property ({@link ReasonIRFailureAnalyzer} prints
 * it); {@code reasonir.enabled=false} switches all of this off.
 */
@AutoConfiguration
@ConditionalOnClass({ReasonIR.class, EmbeddingModel.class})
@ConditionalOnBooleanProperty(name = "reasonir.enabled", matchIfMissing = true)
@EnableConfigurationProperties(ReasonIRProperties.class)
public class ReasonIRAutoConfiguration {
    private static final System.Logger LOG = System.getLogger(ReasonIRAutoConfiguration.class.getName());
    private static final String SET_MODE = "Set reasonir.model-dir to a ReasonIR-8B checkpoint folder (config.json, "
            + "the model*.safetensors shards, tokenizer.json) to embed in this process, or reasonir.base-url to the URL "
            + "of a ReasonIR server; or set reasonir.enabled=false to switch the ReasonIR auto-configuration off.";

    /** The engine, in-process mode only; closed when the context closes. */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @Conditional(InProcessMode.class)
    public ReasonIR reasonIR(ReasonIRProperties properties) {
        Path dir = properties.getModelDir();
        if (dir == null) {
            throw new ReasonIRConfigurationException("reasonir.model-dir is not set, and neither is reasonir.base-url: "
                    + "ReasonIR has no model to embed with.", SET_MODE, null);
        }
        if (!Files.isDirectory(dir)) {
            throw new ReasonIRConfigurationException("reasonir.model-dir=" + dir + " is not a folder"
                    + (Files.exists(dir) ? "." : " (it does not exist)."), SET_MODE, null);
        }
        Options options;
        try {
            options = Options.defaults().withDevice(properties.getDevice());
            if (properties.getMaxLength() != null) options = options.withMaxLength(properties.getMaxLength());
        } catch (IllegalArgumentException e) {
            throw new ReasonIRConfigurationException("invalid reasonir.device=" + properties.getDevice()
                    + " or reasonir.max-length=" + properties.getMaxLength() + ": " + e.getMessage(),
                    "Set reasonir.device to auto, cpu, cuda or cuda:N and reasonir.max-length to a positive number "
                            + "of tokens (or leave it unset).", e);
        }
        try {
            return ReasonIR.open(dir, options);
        } catch (RuntimeException e) {
            throw new ReasonIRConfigurationException("cannot open the ReasonIR model in reasonir.model-dir=" + dir
                    + " on device " + options.device() + ": " + e.getMessage(),
                    "Check that reasonir.model-dir holds a complete ReasonIR checkpoint with its tokenizer.json, and "
                            + "that reasonir.device names a device this machine has (or is auto).", e);
        }
    }

    /** The Spring AI embedding model: over the {@link ReasonIR} bean, or a client of {@code reasonir.base-url}. */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public ReasonIRSpringEmbeddingModel reasonIREmbeddingModel(ReasonIRProperties properties,
                                                               ObjectProvider<ReasonIR> reasonIR) {
        ReasonIRSpringEmbeddingModel.Builder builder = ReasonIRSpringEmbeddingModel.builder()
                .queryInstruction(queryInstruction(properties));
        if (properties.getModelName() != null) builder.modelName(properties.getModelName());
        if (properties.getOverflow() != null) builder.overflow(properties.getOverflow());
        if (clientMode(properties.getBaseUrl())) {
            if (properties.getModelDir() != null) {
                throw new ReasonIRConfigurationException("both reasonir.model-dir (" + properties.getModelDir()
                        + ") and reasonir.base-url (" + properties.getBaseUrl() + ") are set.",
                        "Keep reasonir.model-dir to embed in this process, or reasonir.base-url to use a ReasonIR "
                                + "server, not both.", null);
            }
            try {
                builder.baseUrl(properties.getBaseUrl()).timeout(properties.getTimeout())
                        .maxInputsPerRequest(properties.getMaxInputsPerRequest()).apiKey(properties.getApiKey());
                return logged(builder.build());
            } catch (RuntimeException e) {
                // The key itself is never part of the message: a failed start is logged.
                throw new ReasonIRConfigurationException("invalid client settings (reasonir.base-url="
                        + properties.getBaseUrl() + ", reasonir.timeout=" + properties.getTimeout()
                        + ", reasonir.max-inputs-per-request=" + properties.getMaxInputsPerRequest()
                        + ", reasonir.api-key " + (properties.getApiKey() == null ? "unset" : "set") + "): "
                        + e.getMessage(), "Set reasonir.base-url to the http(s) URL of a ReasonIR server, such as "
                        + "http://localhost:8080, with a positive timeout and max-inputs-per-request, and "
                        + "reasonir.api-key (if the server requires one) to its key: printable ASCII, no spaces.", e);
            }
        }
        ReasonIR model = reasonIR.getObject();
        LOG.log(System.Logger.Level.INFO, "ReasonIR model {0} on {1}", model.modelDir(), model.device());
        return logged(builder.model(model).build());
    }

    /** One line at startup saying which backend, model name and query instruction the application got. */
    private static ReasonIRSpringEmbeddingModel logged(ReasonIRSpringEmbeddingModel model) {
        LOG.log(System.Logger.Level.INFO, "Spring AI EmbeddingModel: {0}", model);
        return model;
    }

    /** The query prefix from reasonir.query-task or reasonir.bright-task, else the generic default task. */
    static String queryInstruction(ReasonIRProperties properties) {
        String task = properties.getQueryTask();
        String bright = properties.getBrightTask();
        if (task != null && bright != null) {
            throw new ReasonIRConfigurationException("both reasonir.query-task and reasonir.bright-task are set.",
                    "Keep one: reasonir.bright-task for a BRIGHT task's official prompt, reasonir.query-task for "
                            + "your own task description.", null);
        }
        try {
            if (bright != null) return Instructions.bright(bright);
            return Instructions.query(task != null ? task : ReasonIRSpringEmbeddingModel.DEFAULT_QUERY_TASK);
        } catch (IllegalArgumentException e) {
            String which = bright != null ? "reasonir.bright-task=" + bright : "reasonir.query-task=" + task;
            throw new ReasonIRConfigurationException("invalid " + which + ": " + e.getMessage(),
                    "Set reasonir.bright-task to one of " + Instructions.BRIGHT_TASKS + ", or reasonir.query-task to "
                            + "a non-empty task description.", e);
        }
    }

    static boolean clientMode(String baseUrl) {
        return baseUrl != null && !baseUrl.isBlank();
    }

    /** In-process mode: {@code reasonir.base-url} is not set. */
    static final class InProcessMode extends SpringBootCondition {
        @Override
        public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
            String baseUrl = context.getEnvironment().getProperty("reasonir.base-url");
            return clientMode(baseUrl)
                    ? ConditionOutcome.noMatch("reasonir.base-url is set (" + baseUrl + "): client mode")
                    : ConditionOutcome.match("reasonir.base-url is not set: in-process mode");
        }
    }
}
