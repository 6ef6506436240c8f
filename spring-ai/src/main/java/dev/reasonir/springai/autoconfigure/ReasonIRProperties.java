package dev.reasonir.springai.autoconfigure;

import dev.reasonir.Options;
import org.springframework.boot.context.properties.ConfigurationProperties;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The {@code reasonir.*} settings of {@link ReasonIRAutoConfiguration}. Set {@code model-dir} to run the engine in
 * this process, or {@code base-url} to use a ReasonIR server; not both. Documents always get the document prefix;
 * {@code query-task} or {@code bright-task} (not both) choose the instruction of queries.
 */
@ConfigurationProperties(prefix = "reasonir")
public class ReasonIRProperties {
    /** Whether to configure ReasonIR beans at all. */
    private boolean enabled = true;
    /**
     * In-process mode: the ReasonIR-8B checkpoint folder (config.json, the safetensors shards, tokenizer.json). The
     * model is opened at startup and closed with the application context.
     */
    private Path modelDir;
    /** In-process mode: "auto" (a CUDA device when usable, else the CPU), "cpu", "cuda" or "cuda:N". */
    private String device = "auto";
    /**
     * In-process mode: tokens per input including BOS; longer inputs are truncated (with a warning). Unset: the
     * engine's default, 512.
     */
    private Integer maxLength;
    /**
     * Texts longer than the max length, in process and through a server: "truncate" (keep the first max-length
     * tokens; each response counts them under the metadata key reasonir.truncated) or "fail" (refuse the request).
     * Unset: truncate.
     */
    private Options.Overflow overflow;
    /** Client mode: the URL of a ReasonIR server, e.g. http://localhost:8080 (it serves POST /v1/embeddings). */
    private String baseUrl;
    /** Client mode: how long one request may take. */
    private Duration timeout = Duration.ofMinutes(5);
    /** Client mode: the most texts sent in one request; longer lists are split. */
    private int maxInputsPerRequest = 256;
    /**
     * Client mode: the API key the server was started with (its REASONIR_API_KEY or --api-key-file), sent as
     * "Authorization: Bearer KEY". Unset (or empty): none. The environment variable REASONIR_API_KEY sets it too, by
     * Spring Boot's relaxed binding, so one variable can serve the server and its clients. Ignored in process.
     */
    private String apiKey;
    /**
     * The model name reported in response metadata and sent to a server. Unset: the checkpoint folder's name in
     * process, the name the server serves (its GET /v1/models) for a server.
     */
    private String modelName;
    /**
     * The task description of queries, made into the query prompt by Instructions.query(task). Unset (and no
     * bright-task): "Given a query, retrieve relevant passages that help answer the query".
     */
    private String queryTask;
    /**
     * Instead of query-task: a BRIGHT task key (biology, leetcode, ...) whose official prompt queries use. Empty means
     * unset, as for model-dir, model-name and query-task.
     */
    private String brightTask;

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public Path getModelDir() {
        return modelDir;
    }

    public void setModelDir(Path modelDir) {
        this.modelDir = modelDir;
    }

    public String getDevice() {
        return device;
    }

    public void setDevice(String device) {
        this.device = device;
    }

    public Integer getMaxLength() {
        return maxLength;
    }

    public void setMaxLength(Integer maxLength) {
        this.maxLength = maxLength;
    }

    public Options.Overflow getOverflow() {
        return overflow;
    }

    public void setOverflow(Options.Overflow overflow) {
        this.overflow = overflow;
    }

    public String getBaseUrl() {
        return baseUrl;
    }

    public void setBaseUrl(String baseUrl) {
        this.baseUrl = baseUrl;
    }

    public Duration getTimeout() {
        return timeout;
    }

    public void setTimeout(Duration timeout) {
        this.timeout = timeout;
    }

    public int getMaxInputsPerRequest() {
        return maxInputsPerRequest;
    }

    public void setMaxInputsPerRequest(int maxInputsPerRequest) {
        this.maxInputsPerRequest = maxInputsPerRequest;
    }

    public String getApiKey() {
        return apiKey;
    }

    public void setApiKey(String apiKey) {
        this.apiKey = blankIsUnset(apiKey);
    }

    public String getModelName() {
        return modelName;
    }

    public void setModelName(String modelName) {
        this.modelName = blankIsUnset(modelName);
    }

    public String getQueryTask() {
        return queryTask;
    }

    public void setQueryTask(String queryTask) {
        this.queryTask = blankIsUnset(queryTask);
    }

    public String getBrightTask() {
        return brightTask;
    }

    public void setBrightTask(String brightTask) {
        this.brightTask = blankIsUnset(brightTask);
    }

    /**
     * "reasonir.query-task=" (e.g. an empty environment variable in a container) is unset, as Spring Boot already
     * treats an empty model-dir; for text settings this has to be said.
     */
    private static String blankIsUnset(String value) {
        return value == null || value.isBlank() ? null : value;
    }
}
