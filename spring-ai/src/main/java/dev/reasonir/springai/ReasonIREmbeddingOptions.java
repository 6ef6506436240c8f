package dev.reasonir.springai;

import dev.reasonir.Instructions;
import org.springframework.ai.embedding.EmbeddingOptions;

/**
 * Per-request choice of what ReasonIR prefixes to the texts of an
 * {@link org.springframework.ai.embedding.EmbeddingRequest}. At most one of {@link #role()}, {@link #task()},
 * {@link #brightTask()} and {@link #instruction()} is set; none set means the default of the method called (see
 * {@link ReasonIRSpringEmbeddingModel}: queries for strings, the document prefix for {@code Document}s).
 * <pre>{@code
 * model.call(new EmbeddingRequest(texts, ReasonIREmbeddingOptions.builder().brightTask("biology").build()));
 * model.call(new EmbeddingRequest(passages, ReasonIREmbeddingOptions.documents()));
 * }</pre>
 * The usual {@link #getModel()} and {@link #getDimensions()} are accepted when they match the model (ReasonIR
 * cannot shorten its vectors or switch models per request), and refused otherwise.
 */
public final class ReasonIREmbeddingOptions implements EmbeddingOptions {

    /** Which side of retrieval the texts are on. */
    public enum Role {
        /** Queries: the model's configured query instruction ({@code reasonir.query-task} / {@code bright-task}). */
        QUERY,
        /** Documents: {@link Instructions#DOCUMENT}, {@code "<|embed|>\n"}. */
        DOCUMENT
    }

    private final Role role;
    private final String task;
    private final String brightTask;
    private final String instruction;
    private final String model;
    private final Integer dimensions;

    private ReasonIREmbeddingOptions(Builder b) {
        this.role = b.role;
        this.task = b.task;
        this.brightTask = b.brightTask;
        this.instruction = b.instruction;
        this.model = b.model;
        this.dimensions = b.dimensions;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The texts are documents. */
    public static ReasonIREmbeddingOptions documents() {
        return builder().role(Role.DOCUMENT).build();
    }

    /** The texts are queries, embedded with the model's configured query instruction. */
    public static ReasonIREmbeddingOptions queries() {
        return builder().role(Role.QUERY).build();
    }

    public Role role() {
        return role;
    }

    /** A free-form task description, wrapped as {@link Instructions#query(String)}. */
    public String task() {
        return task;
    }

    /** A BRIGHT task key such as "biology", wrapped as {@link Instructions#bright(String)}. */
    public String brightTask() {
        return brightTask;
    }

    /** A complete prompt used as is, e.g. {@code "<|user|>\n...\n<|embed|>\n"}. */
    public String instruction() {
        return instruction;
    }

    /** Whether one of role, task, brightTask or instruction is set. */
    public boolean choosesInstruction() {
        return role != null || task != null || brightTask != null || instruction != null;
    }

    @Override
    public String getModel() {
        return model;
    }

    @Override
    public Integer getDimensions() {
        return dimensions;
    }

    /** The prefix these options select, or {@code queryInstruction}/the document prefix for a bare role. */
    String resolve(String queryInstruction) {
        if (instruction != null) return instruction;
        if (task != null) return Instructions.query(task);
        if (brightTask != null) return Instructions.bright(brightTask);
        if (role == Role.DOCUMENT) return Instructions.DOCUMENT;
        if (role == Role.QUERY) return queryInstruction;
        return null;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("ReasonIREmbeddingOptions[");
        if (role != null) s.append("role=").append(role).append(' ');
        if (task != null) s.append("task=").append(task).append(' ');
        if (brightTask != null) s.append("brightTask=").append(brightTask).append(' ');
        if (instruction != null) s.append("instruction=").append(instruction.replace("\n", "\\n")).append(' ');
        if (model != null) s.append("model=").append(model).append(' ');
        if (dimensions != null) s.append("dimensions=").append(dimensions).append(' ');
        return s.toString().strip() + "]";
    }

    /** Options builder; {@link #build()} refuses more than one way of choosing the instruction. */
    public static final class Builder implements EmbeddingOptions.Builder {
        private Role role;
        private String task;
        private String brightTask;
        private String instruction;
        private String model;
        private Integer dimensions;

        private Builder() {}

        public Builder role(Role role) {
            this.role = role;
            return this;
        }

        public Builder task(String taskDescription) {
            this.task = taskDescription;
            return this;
        }

        public Builder brightTask(String task) {
            this.brightTask = task;
            return this;
        }

        public Builder instruction(String instruction) {
            this.instruction = instruction;
            return this;
        }

        @Override
        public Builder model(String model) {
            this.model = model;
            return this;
        }

        @Override
        public Builder dimensions(Integer dimensions) {
            this.dimensions = dimensions;
            return this;
        }

        /**
         * Checks the choice now, so that a bad option fails where it is written rather than at the first call:
         * at most one of role, task, brightTask, instruction; a task non-empty; a BRIGHT task known.
         */
        @Override
        public ReasonIREmbeddingOptions build() {
            int chosen = (role != null ? 1 : 0) + (task != null ? 1 : 0) + (brightTask != null ? 1 : 0)
                    + (instruction != null ? 1 : 0);
            if (chosen > 1) {
                throw new IllegalArgumentException("set at most one of role, task, brightTask and instruction; got "
                        + "role=" + role + ", task=" + task + ", brightTask=" + brightTask + ", instruction="
                        + (instruction == null ? null : '"' + instruction.replace("\n", "\\n") + '"'));
            }
            if (task != null) Instructions.query(task);               // throws on an empty task
            if (brightTask != null) Instructions.bright(brightTask);  // throws on an unknown task, listing the known
            if (dimensions != null && dimensions < 1) {
                throw new IllegalArgumentException("dimensions must be >= 1, got " + dimensions);
            }
            return new ReasonIREmbeddingOptions(this);
        }
    }
}
