package dev.reasonir.retrieval;

import dev.reasonir.ReasonIR;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * What makes two model folders produce the same vectors, in a form an index can record and compare: the SHA-256 of
 * {@code config.json} and of {@code tokenizer.json}, and a fingerprint of the weights.
 *
 * <p>Hashing 15 GB of weights on every open would take longer than many searches, so the weights fingerprint hashes,
 * for every {@code *.safetensors} file (by name order), its name, size and header (which names every tensor, shape,
 * dtype and offset), plus {@value #SAMPLES} evenly spaced samples of {@value #SAMPLE_BYTES} bytes of its data. Two
 * checkpoints of the same shape with different weights differ in the samples; a copy of a folder elsewhere keeps its
 * identity. It is a guard against mixing indexes and models by mistake, not a cryptographic proof of the weights.
 *
 * @param name              the model folder's name (informational only, not compared)
 * @param configSha256      SHA-256 of config.json
 * @param tokenizerSha256   SHA-256 of tokenizer.json ("" when the folder has none)
 * @param weightsFingerprint SHA-256 over the safetensors headers and samples described above
 * @param dimension         embedding dimension (hidden size)
 */
public record ModelIdentity(String name, String configSha256, String tokenizerSha256, String weightsFingerprint,
                            int dimension) {
    static final int SAMPLES = 16;
    static final int SAMPLE_BYTES = 4096;

    /** The identity of an open model's folder. */
    public static ModelIdentity of(ReasonIR model) {
        return of(model.modelDir(), model.dimension());
    }

    /** The identity of a model folder whose embedding dimension is {@code dimension}. */
    public static ModelIdentity of(Path dir, int dimension) {
        try {
            Path tok = dir.resolve("tokenizer.json");
            return new ModelIdentity(dir.toAbsolutePath().normalize().getFileName().toString(),
                    sha256(Files.readAllBytes(dir.resolve("config.json"))),
                    Files.isRegularFile(tok) ? sha256(Files.readAllBytes(tok)) : "",
                    weightsFingerprint(dir), dimension);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fingerprint the model folder " + dir + ": " + e.getMessage(), e);
        }
    }

    /** A short id for cache folder names: the first 12 hex digits of a hash of the compared fields. */
    public String shortId() {
        return sha256((configSha256 + "/" + tokenizerSha256 + "/" + weightsFingerprint + "/" + dimension)
                .getBytes(StandardCharsets.UTF_8)).substring(0, 12);
    }

    /** Whether vectors of the two models are interchangeable (every field but the name matches). */
    public boolean sameModel(ModelIdentity o) {
        return configSha256.equals(o.configSha256) && tokenizerSha256.equals(o.tokenizerSha256)
                && weightsFingerprint.equals(o.weightsFingerprint) && dimension == o.dimension;
    }

    /** Which compared fields differ, for error messages ("config.json, weights"); "" when none. */
    public String differences(ModelIdentity o) {
        StringBuilder b = new StringBuilder();
        if (!configSha256.equals(o.configSha256)) b.append("config.json, ");
        if (!tokenizerSha256.equals(o.tokenizerSha256)) b.append("tokenizer.json, ");
        if (!weightsFingerprint.equals(o.weightsFingerprint)) b.append("weights, ");
        if (dimension != o.dimension) b.append("dimension ").append(dimension).append(" vs ").append(o.dimension)
                .append(", ");
        return b.isEmpty() ? "" : b.substring(0, b.length() - 2);
    }

    static String weightsFingerprint(Path dir) throws IOException {
        List<Path> shards;
        try (Stream<Path> s = Files.list(dir)) {
            shards = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        MessageDigest md = digest();
        for (Path shard : shards) {
            try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.READ)) {
                long size = ch.size();
                md.update((shard.getFileName() + "\0" + size + "\0").getBytes(StandardCharsets.UTF_8));
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, len, 0);
                len.flip();
                long headerLen = len.remaining() == 8 ? len.getLong() : -1;
                long dataStart = 8;
                if (headerLen >= 0 && headerLen <= size - 8 && headerLen <= (64 << 20)) {
                    ByteBuffer h = ByteBuffer.allocate((int) headerLen);
                    readFully(ch, h, 8);
                    md.update(h.flip());
                    dataStart = 8 + headerLen;
                }
                // A malformed header is the loader's business (ReasonIR.open refuses it); hash what is there.
                long data = size - dataStart;
                ByteBuffer sample = ByteBuffer.allocate(SAMPLE_BYTES);
                for (int i = 0; i < SAMPLES && data > 0; i++) {
                    long at = dataStart + (data <= SAMPLE_BYTES ? 0 : (data - SAMPLE_BYTES) * i / (SAMPLES - 1));
                    sample.clear().limit((int) Math.min(SAMPLE_BYTES, data));
                    readFully(ch, sample, at);
                    md.update(sample.flip());
                }
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        while (b.hasRemaining()) {
            int n = ch.read(b, at);
            if (n < 0) break;
            at += n;
        }
    }

    static String sha256(byte[] data) {
        return HexFormat.of().formatHex(digest().digest(data));
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }
}
