package dev.reasonir.springai.autoconfigure;

/**
 * The {@code reasonir.*} properties cannot give a working model. The message says which property and why; {@link
 * #action()} says what to change. {@link ReasonIRFailureAnalyzer} turns it into Spring Boot's "APPLICATION FAILED TO
 * START" report instead of a stack of bean-creation exceptions.
 */
public class ReasonIRConfigurationException extends RuntimeException {
    private final String action;

    public ReasonIRConfigurationException(String message, String action, Throwable cause) {
        super(message, cause);
        this.action = action;
    }

    public String action() {
        return action;
    }
}
