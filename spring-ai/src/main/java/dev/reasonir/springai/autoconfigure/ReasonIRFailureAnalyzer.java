package dev.reasonir.springai.autoconfigure;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * Reports a {@link ReasonIRConfigurationException} anywhere in a startup failure's causes as Spring Boot's
 * description + action block. Registered in {@code META-INF/spring.factories}.
 */
public class ReasonIRFailureAnalyzer extends AbstractFailureAnalyzer<ReasonIRConfigurationException> {
    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, ReasonIRConfigurationException cause) {
        return new FailureAnalysis(cause.getMessage(), cause.action(), cause);
    }
}
