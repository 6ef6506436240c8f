package dev.reasonir.springai.autoconfigure;

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
    /** Client mode: the URL of a ReasonIR server, e.g. http://localhost:8080 (it serves POST /v1/embeddings). */
    private String baseUrl;
    /** Client mode: how long one request may take. */
    private Duration timeout = Duration.ofMinutes(5);
    /** Client mode: the most texts sent in one request; longer lists are split. */
    private int maxInputsPerRequest = 256;
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
     * unset, as for model-dir.
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

    public String getModelName() {
        return modelName;
    }

    public void setModelName(String modelName) {
        this.modelName = modelName;
    }

    public String getQueryTask() {
        return queryTask;
    }

    public void setQueryTask(String queryTask) {
        this.queryTask = queryTask;
    }

    public String getBrightTask() {
        return brightTask;
    }

    public void setBrightTask(String brightTask) {
        // "reasonir.bright-task=" (e.g. an empty environment variable) is unset, like an empty model-dir
        this.brightTask = brightTask == null || brightTask.isBlank() ? null : brightTask;
    }
}
