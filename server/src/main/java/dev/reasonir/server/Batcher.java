package dev.reasonir.server;

import dev.reasonir.EmbeddingResult;
import dev.reasonir.InvalidInputException;
import dev.reasonir.ReasonIR;
import dev.reasonir.TokenizedInput;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * Dynamic batching across requests, after Text Embeddings Inference's queue: requests arrive tokenized and validated;
 * their inputs wait in one FIFO queue; a single batcher thread takes inputs in arrival order and packs them into
 * batches of at most {@code maxBatchTokens} tokens (an input longer than the budget goes alone), calls
 * {@link ReasonIR#embedTokens(List, boolean)} once per batch, and completes a request when all its inputs are done.
 * Inputs of one request may span batches, and one batch mixes requests, so many small concurrent requests cost one
 * engine call instead of one each.
 *
 * <p>Why one thread: the engine serializes calls on a model anyway, and a single consumer needs no coordination to
 * keep arrival order. A batch never mixes normalized and unnormalized requests (the engine takes the flag per call);
 * the batch ends where the flag changes, which keeps arrival order too.
 *
 * <p>On the CPU backend the engine is batch-invariant (every sequence's result is bit-identical whatever it is
 * batched with), so a request gets exactly the vectors the Java API gives for that request alone.
 *
 * <p>A request whose client went away, or that waited longer than the queue timeout, is dropped when the batcher
 * reaches it, before any more of its inputs are computed.
 */
final class Batcher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Batcher.class.getName());

    /** Why a request failed in the queue or in the engine; carries the HTTP mapping. */
    static final class Failure extends RuntimeException {
        final ApiException api;

        Failure(ApiException api) {
            super(api.getMessage(), null, false, false);
            this.api = api;
        }
    }

    private final ReasonIR model;
    private final int maxBatchTokens;
    private final long queueTimeoutNanos;  // 0: none
    private final Metrics metrics;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final AtomicInteger queuedInputs = new AtomicInteger();
    private final AtomicInteger queuedRequests = new AtomicInteger();
    private final Thread thread;
    private volatile boolean stopping;
    private volatile String lastBackendError;  // null after a batch succeeds
    /** Test hook: runs on the batcher thread before each engine call, with the batch's input count. */
    volatile java.util.function.IntConsumer beforeBatch;

    Batcher(ReasonIR model, int maxBatchTokens, Duration queueTimeout, Metrics metrics) {
        this.model = Objects.requireNonNull(model, "model");
        if (maxBatchTokens < 1) throw new IllegalArgumentException("maxBatchTokens must be >= 1");
        this.maxBatchTokens = maxBatchTokens;
        this.queueTimeoutNanos = queueTimeout.toNanos();
        this.metrics = metrics;
        this.thread = new Thread(this::loop, "reasonir-batcher");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Queues the inputs of one request. The future completes with one vector per input, in order; it fails with
     * {@link Failure} (422 input rejected by the engine, 424 engine failure, 429 queue timeout, 503 shutting down),
     * or is cancelled when {@code clientGone} turned true before the request was computed. Cancelling the future
     * drops the request too.
     */
    CompletableFuture<float[][]> submit(List<TokenizedInput> inputs, boolean normalize, BooleanSupplier clientGone) {
        Job job = new Job(List.copyOf(inputs), normalize, clientGone);
        if (inputs.isEmpty()) {
            job.future.complete(new float[0][]);
            return job.future;
        }
        if (stopping) {
            job.future.completeExceptionally(new Failure(ApiException.unhealthy("server is shutting down")));
            return job.future;
        }
        queuedInputs.addAndGet(job.inputs.size());
        queuedRequests.incrementAndGet();
        queue.add(job);
        return job.future;
    }

    int queuedInputs() {
        return queuedInputs.get();
    }

    int queuedRequests() {
        return queuedRequests.get();
    }

    /** The message of the last engine failure, or null when the last batch succeeded (or none ran yet). */
    String lastBackendError() {
        return lastBackendError;
    }

    /** Stops the thread; requests still queued fail with 503. Callers drain the queue first for a graceful stop. */
    @Override
    public void close() {
        stopping = true;
        thread.interrupt();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Job j;
        while ((j = queue.poll()) != null) {
            forget(j);
            j.fail(new Failure(ApiException.unhealthy("server is shutting down")));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    /** One request: its inputs, where the batcher is in them, and the results so far. */
    private static final class Job {
        final List<TokenizedInput> inputs;
        final boolean normalize;
        final BooleanSupplier clientGone;
        final CompletableFuture<float[][]> future = new CompletableFuture<>();
        final float[][] vectors;
        final long enqueuedNanos = System.nanoTime();
        int next;       // first input not yet put into a batch (batcher thread only)
        int remaining;  // inputs not yet computed (batcher thread only)

        Job(List<TokenizedInput> inputs, boolean normalize, BooleanSupplier clientGone) {
            this.inputs = inputs;
            this.normalize = normalize;
            this.clientGone = clientGone;
            this.vectors = new float[inputs.size()][];
            this.remaining = inputs.size();
        }

        boolean abandoned() {
            return future.isDone() || clientGone.getAsBoolean();
        }

        void fail(Throwable t) {
            future.completeExceptionally(t);
        }
    }

    /** A packed batch: the jobs and input indices of each sequence, in packing order. */
    private static final class Batch {
        final List<Job> jobs = new ArrayList<>();
        final List<Integer> indices = new ArrayList<>();
        long tokens;
        boolean normalize;

        int size() {
            return jobs.size();
        }
    }

    private Job current;  // partly batched job carried into the next batch (batcher thread only)

    private void loop() {
        while (!stopping) {
            try {
                Batch batch = nextBatch();
                if (batch != null) run(batch);
            } catch (InterruptedException e) {
                if (stopping) break;
            } catch (RuntimeException | Error e) {
                // A bug here must not kill the only batcher thread: every queued request would hang.
                LOG.log(System.Logger.Level.ERROR, "batcher failed; continuing", e);
            }
        }
        if (current != null) {
            current.fail(new Failure(ApiException.unhealthy("server is shutting down")));
            current = null;
        }
    }

    /** Blocks for the first input, then packs what is queued now (never waits for more to arrive). */
    private Batch nextBatch() throws InterruptedException {
        Batch batch = new Batch();
        while (true) {
            Job job = current;
            if (job == null) {
                job = batch.size() == 0 ? queue.poll(1, TimeUnit.SECONDS) : queue.poll();
                if (job == null) break;
                current = job;
            }
            if (drop(job)) {
                forget(job);
                current = null;
                continue;
            }
            if (batch.size() > 0 && batch.normalize != job.normalize) break;
            batch.normalize = job.normalize;
            while (job.next < job.inputs.size()) {
                int len = job.inputs.get(job.next).length();
                if (batch.size() > 0 && batch.tokens + len > maxBatchTokens) return batch;
                batch.jobs.add(job);
                batch.indices.add(job.next);
                batch.tokens += len;
                job.next++;
                queuedInputs.decrementAndGet();
            }
            queuedRequests.decrementAndGet();
            current = null;
        }
        return batch.size() == 0 ? null : batch;
    }

    /** Whether {@code job} must not be computed (further): its client left, or it waited too long to start. */
    private boolean drop(Job job) {
        if (job.future.isDone()) {
            if (job.future.isCancelled()) metrics.dropped("client_gone");
            return true;
        }
        if (job.clientGone.getAsBoolean()) {
            job.future.cancel(false);
            metrics.dropped("client_gone");
            return true;
        }
        if (job.next == 0 && queueTimeoutNanos > 0) {
            long waited = System.nanoTime() - job.enqueuedNanos;
            if (waited > queueTimeoutNanos) {
                metrics.dropped("queue_timeout");
                job.fail(new Failure(ApiException.overloaded("request waited " + waited / 1_000_000 + " ms in the "
                        + "queue, more than the queue timeout of " + queueTimeoutNanos / 1_000_000 + " ms")));
                return true;
            }
        }
        return false;
    }

    /** Takes a dropped job's uncomputed inputs off the queue counters. */
    private void forget(Job job) {
        queuedInputs.addAndGet(-(job.inputs.size() - job.next));
        queuedRequests.decrementAndGet();
        job.next = job.inputs.size();
    }

    private void run(Batch batch) {
        while (batch.size() > 0) {
            List<TokenizedInput> inputs = new ArrayList<>(batch.size());
            for (int s = 0; s < batch.size(); s++) inputs.add(batch.jobs.get(s).inputs.get(batch.indices.get(s)));
            java.util.function.IntConsumer hook = beforeBatch;
            if (hook != null) hook.accept(inputs.size());
            long t0 = System.nanoTime();
            EmbeddingResult result;
            try {
                result = model.embedTokens(inputs, batch.normalize);
            } catch (InvalidInputException e) {
                metrics.batchFailed();
                // The server validates before queuing, so this is rare; fail the one request, retry the rest.
                int bad = e.inputIndex();
                if (bad < 0 || bad >= batch.size()) {
                    failAll(batch, ApiException.backend("Backend error: " + e.getMessage()), e);
                    return;
                }
                Job job = batch.jobs.get(bad);
                String message = e.getMessage().replaceFirst("^input \\d+: ", "");
                job.fail(new Failure(ApiException.validation("input", "invalid_input",
                        "input " + batch.indices.get(bad) + ": " + message)));
                removeJob(batch, job);
                continue;
            } catch (RuntimeException | OutOfMemoryError e) {
                metrics.batchFailed();
                failAll(batch, ApiException.backend("Backend error: the engine failed on a batch of " + batch.size()
                        + " inputs (" + batch.tokens + " tokens): " + describe(e)), e);
                return;
            }
            lastBackendError = null;
            metrics.batch(inputs.size(), batch.tokens, System.nanoTime() - t0);
            float[][] vectors = result.vectors();
            for (int s = 0; s < batch.size(); s++) {
                Job job = batch.jobs.get(s);
                job.vectors[batch.indices.get(s)] = vectors[s];
                if (--job.remaining == 0) job.future.complete(job.vectors);
            }
            return;
        }
    }

    private void failAll(Batch batch, ApiException api, Throwable cause) {
        lastBackendError = api.getMessage();
        LOG.log(System.Logger.Level.WARNING, api.getMessage(), cause);
        Failure f = new Failure(api);
        for (Job job : batch.jobs) {
            if (job.next < job.inputs.size()) forget(job);  // its other inputs must not run either
            if (job == current) current = null;
            job.fail(f);
        }
    }

    /** Removes every sequence of {@code job} from the batch (and its queued rest from the queue counters). */
    private void removeJob(Batch batch, Job job) {
        for (int s = batch.size() - 1; s >= 0; s--) {
            if (batch.jobs.get(s) == job) {
                batch.tokens -= job.inputs.get(batch.indices.get(s)).length();
                batch.jobs.remove(s);
                batch.indices.remove(s);
            }
        }
        if (job.next < job.inputs.size()) forget(job);
        if (job == current) current = null;
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
