package dev.reasonir.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The server's API-key check: {@code Authorization: Bearer <key>}, as OpenAI, vLLM and TEI clients send it.
 *
 * <p>The comparison is in constant time: both the configured key and the presented token are hashed with SHA-256 and
 * the digests compared with {@link MessageDigest#isEqual}, which looks at every byte whatever the first difference.
 * Hashing first also makes the comparison independent of the token's length, which a byte-by-byte comparison of
 * different-length strings would leak. Only the digest of the key is kept.
 */
final class ApiKeyAuth {
    /** The {@code WWW-Authenticate} challenge of a request without credentials (RFC 6750 section 3). */
    static final String CHALLENGE = "Bearer realm=\"reasonir\"";
    /** The challenge of a request whose token was refused (RFC 6750 section 3.1). */
    static final String CHALLENGE_INVALID = "Bearer realm=\"reasonir\", error=\"invalid_token\"";

    private final byte[] keyDigest;

    ApiKeyAuth(String apiKey) {
        check(apiKey);
        this.keyDigest = sha256(apiKey);
    }

    /**
     * Refuses a key that an HTTP header cannot carry as a Bearer token: empty, or with characters other than printable
     * ASCII (spaces and control characters included: a trailing newline from a key file is the usual mistake). The
     * message never contains the key.
     */
    static void check(String apiKey) {
        if (apiKey.isEmpty()) throw new IllegalArgumentException("apiKey must not be empty (null: no API key)");
        for (int i = 0; i < apiKey.length(); i++) {
            char c = apiKey.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw new IllegalArgumentException("apiKey may hold printable ASCII characters only (no spaces, "
                        + "control characters or non-ASCII); character " + (i + 1) + " of " + apiKey.length()
                        + " is " + (c < 0x21 || c == 0x7f ? String.format("U+%04X", (int) c) : "non-ASCII"));
            }
        }
    }

    /**
     * Null when {@code authorization} (the request's {@code Authorization} header, or null) carries the key; else
     * the 401 to answer, saying whether the key was missing, not a Bearer token, or wrong.
     */
    ApiException verify(String authorization) {
        if (authorization == null || authorization.isBlank()) {
            return ApiException.unauthorized(false, "missing API key: this server requires the header "
                    + "\"Authorization: Bearer <key>\"");
        }
        String value = authorization.strip();
        int space = indexOfWhitespace(value);
        // The scheme is case-insensitive (RFC 7235 section 2.1); "Bearer" alone is a token-less header.
        String scheme = space < 0 ? value : value.substring(0, space);
        if (!scheme.equalsIgnoreCase("Bearer")) {
            return ApiException.unauthorized(false, "missing API key: the Authorization header is not a Bearer "
                    + "token; send \"Authorization: Bearer <key>\"");
        }
        String token = space < 0 ? "" : value.substring(space + 1).strip();
        if (token.isEmpty()) {
            return ApiException.unauthorized(false, "missing API key: the Authorization header has no token after "
                    + "\"Bearer\"");
        }
        if (!MessageDigest.isEqual(keyDigest, sha256(token))) {
            return ApiException.unauthorized(true, "invalid API key: the key sent in the Authorization header is "
                    + "not this server's");
        }
        return null;
    }

    private static int indexOfWhitespace(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isWhitespace(s.charAt(i))) return i;
        }
        return -1;
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM, which every Java SE must provide", e);
        }
    }
}
