package dev.reasonir.cli;

/** A usage or input-file error: printed without a stack trace, exit status 2. */
final class CliException extends RuntimeException {
    CliException(String message) {
        super(message);
    }
}
