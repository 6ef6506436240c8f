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
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Dynamic batching across requests, after Text Embeddings Inference's queue: requests arrive tokenized and validated
 * and wait in one queue in arrival order; a batcher thread per engine of the model (one for a single device, one per
 * device of a pool such as {@code cuda:all}) packs their inputs into batches of at most
 * {@code maxBatchTokens} tokens (an input longer than the budget goes alone), calls
 * {@link ReasonIR#embedTokens(List, boolean)} once per batch, and completes a request when all its inputs are done.
 * Inputs of one request may span batches, and one batch mixes requests, so many small concurrent requests cost one
 * engine call instead of one each.
 *
 * <p><b>Fair share.</b> A strict FIFO makes a 1-input query wait behind every queued input of the 64-input document
 * requests ahead of it. So each batch is packed in two passes:
 * <ol>
 *   <li>a <i>fair pass</i> takes the next input of each queued request in turn, one per request, for up to half the
 *       token budget; it resumes where the previous batch's pass stopped, so every queued request gets an input into
 *       a batch within a number of batches bounded by the number of <i>requests</i> ahead of it, not their inputs: a
 *       short request is done after one or two batches under any flood;</li>
 *   <li>a <i>FIFO pass</i> fills the rest of the budget with the inputs of the oldest requests, in order, so large
 *       requests still finish one after another in arrival order (sharing every batch equally instead would make each
 *       of them finish only at the end of the flood).</li>
 * </ol>
 * Packing never changes a result: on the CPU backend the engine is batch-invariant (every sequence's result is
 * bit-identical whatever it is batched with), so a request gets exactly the vectors the Java API gives for that
 * request alone. A batch never mixes normalized and unnormalized requests (the engine takes the flag per call): it
 * takes the flag of the oldest request, so that one always progresses.
 *
 * <p>Why one thread per engine: an engine runs one batch at a time, so more threads than engines would only queue in
 * the engine, while fewer would leave devices of a pool idle (the pool deals each call's batches to whichever device
 * is free). Each thread packs its own batch from the shared queue, under one lock held only while packing (never
 * during an engine call); with one engine this is the single consumer it always was.
 *
 * <p><b>Dropped requests.</b> A request whose client went away, or whose future was cancelled, is dropped before any
 * more of its inputs are computed (checked before every batch). A request that is still waiting for its first input
 * to be computed when the queue timeout is up gets its 429 at that moment, from a timer, wherever it is in the queue.
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
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    /** Requests with inputs not yet put into a batch, in arrival order (guarded by lock). */
    private final List<Job> queue = new ArrayList<>();
    private long nextSeq;      // arrival number of the next request (guarded by lock)
    private long fairCursor;   // arrival number where the next fair pass starts (guarded by lock)
    private final AtomicInteger queuedInputs = new AtomicInteger();
    private final AtomicInteger queuedRequests = new AtomicInteger();
    /** Fires the queue timeouts; null when there is none. */
    private final ScheduledThreadPoolExecutor timer;
    private final List<Thread> threads = new ArrayList<>();
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
        if (queueTimeoutNanos > 0) {
            timer = new ScheduledThreadPoolExecutor(1, r -> {
                Thread t = new Thread(r, "reasonir-queue-timeout");
                t.setDaemon(true);
                return t;
            });
            // A request that starts in time cancels its timeout: drop it from the timer's heap at once, or a busy
            // server would keep one dead task per request for a whole queue timeout.
            timer.setRemoveOnCancelPolicy(true);
        } else {
            timer = null;
        }
        int engines = Math.max(1, model.devices().size());
        for (int i = 0; i < engines; i++) {
            Thread t = new Thread(this::loop, engines == 1 ? "reasonir-batcher" : "reasonir-batcher-" + i);
            t.setDaemon(true);
            threads.add(t);
        }
        for (Thread t : threads) t.start();
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
        lock.lock();
        try {
            if (!stopping) {
                job.seq = nextSeq++;
                queue.add(job);
                queuedInputs.addAndGet(job.inputs.size());
                queuedRequests.incrementAndGet();
                if (timer != null) {
                    job.timeout = timer.schedule(() -> expire(job), queueTimeoutNanos, TimeUnit.NANOSECONDS);
                }
                arrived.signal();
                return job.future;
            }
        } finally {
            lock.unlock();
        }
        job.fail(new Failure(ApiException.unhealthy("server is shutting down")));
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

    /**
     * Stops the threads, waiting up to 30 s for the batches in the engine; requests still queued fail with 503. Callers
     * drain the queue first for a graceful stop.
     */
    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    /**
     * {@link #close()}, waiting at most {@code wait} for the batch in the engine: an engine call cannot be
     * interrupted, and a server past its shutdown timeout must not wait for it. Each thread then finishes its batch
     * on its own (the caller's {@code ReasonIR.close()} waits for it).
     */
    void close(Duration wait) {
        List<Job> left;
        lock.lock();
        try {
            stopping = true;
            left = new ArrayList<>(queue);
            for (Job j : left) unqueue(j);
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        Failure shuttingDown = new Failure(ApiException.unhealthy("server is shutting down"));
        for (Job j : left) j.fail(shuttingDown);
        if (timer != null) timer.shutdownNow();
        for (Thread t : threads) t.interrupt();
        long deadline = System.nanoTime() + Math.max(1, wait.toMillis()) * 1_000_000L;
        try {
            for (Thread t : threads) t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
        long seq;                   // arrival number (guarded by lock)
        boolean queued;             // in the queue (guarded by lock)
        int next;                   // first input not yet put into a batch (guarded by lock)
        ScheduledFuture<?> timeout; // the queue timeout, until the first input is packed (guarded by lock)
        /** Inputs not yet computed; batches of one request may run on several batcher threads at once. */
        final java.util.concurrent.atomic.AtomicInteger remaining;

        Job(List<TokenizedInput> inputs, boolean normalize, BooleanSupplier clientGone) {
            this.inputs = inputs;
            this.normalize = normalize;
            this.clientGone = clientGone;
            this.vectors = new float[inputs.size()][];
            this.remaining = new java.util.concurrent.atomic.AtomicInteger(inputs.size());
            this.queued = true;
        }

        boolean packable() {
            return next < inputs.size();
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

    private void loop() {
        while (!stopping) {
            try {
                Batch batch = nextBatch();
                if (batch != null) run(batch);
            } catch (InterruptedException e) {
                if (stopping) break;
            } catch (RuntimeException | Error e) {
                // A bug here must not kill a batcher thread: with a single engine every queued request would hang.
                LOG.log(System.Logger.Level.ERROR, "batcher failed; continuing", e);
            }
        }
    }

    /** Blocks (up to a second) for a request, then packs what is queued now (never waits for more to arrive). */
    private Batch nextBatch() throws InterruptedException {
        List<Job> gone = new ArrayList<>();
        Batch batch;
        lock.lockInterruptibly();
        try {
            dropAbandoned(gone);
            if (queue.isEmpty() && !stopping) {
                arrived.await(1, TimeUnit.SECONDS);
                dropAbandoned(gone);
            }
            batch = queue.isEmpty() || stopping ? null : pack();
            // more than this batch is queued: wake another batcher thread (an idle engine of a pool) to pack it
            if (batch != null && threads.size() > 1 && !queue.isEmpty()) arrived.signal();
        } finally {
            lock.unlock();
        }
        for (Job j : gone) j.future.cancel(false);  // outside the lock: cancelling runs the request's callbacks
        return batch;
    }

    /**
     * Takes every request whose future is done (cancelled, or failed by its queue timeout) or whose client left off
     * the queue; those whose client left are collected in {@code gone} to be cancelled. Under the lock.
     */
    private void dropAbandoned(List<Job> gone) {
        for (int i = queue.size() - 1; i >= 0; i--) {
            Job job = queue.get(i);
            boolean done = job.future.isDone();
            if (!done && !job.clientGone.getAsBoolean()) continue;
            if (!done) gone.add(job);
            if (!done || job.future.isCancelled()) metrics.dropped("client_gone");
            unqueue(job);
        }
    }

    /** The two passes of the class comment, under the lock; the queue is not empty. */
    private Batch pack() {
        Batch batch = new Batch();
        batch.normalize = queue.get(0).normalize;
        // Fair pass: one input per request, from the cursor round the queue, for at most half the budget.
        long fairBudget = Math.max(1, maxBatchTokens / 2);
        int n = queue.size();
        int start = 0;
        while (start < n && queue.get(start).seq < fairCursor) start++;
        if (start == n) start = 0;
        long resumeAt = 0;  // a full round: the next pass starts at the oldest request again
        for (int k = 0; k < n; k++) {
            Job job = queue.get((start + k) % n);
            if (job.normalize != batch.normalize) continue;
            int len = job.inputs.get(job.next).length();
            if (batch.size() > 0 && batch.tokens + len > fairBudget) {
                resumeAt = job.seq;
                break;
            }
            add(batch, job);
        }
        fairCursor = resumeAt;
        // FIFO pass: the oldest requests' inputs in order, until the next one does not fit.
        fill:
        for (Job job : queue) {
            if (job.normalize != batch.normalize) continue;
            while (job.packable()) {
                int len = job.inputs.get(job.next).length();
                if (batch.size() > 0 && batch.tokens + len > maxBatchTokens) break fill;
                add(batch, job);
            }
        }
        for (int i = queue.size() - 1; i >= 0; i--) {
            Job job = queue.get(i);
            if (!job.packable()) {
                queue.remove(i);
                job.queued = false;
                queuedRequests.decrementAndGet();
            }
        }
        return batch;
    }

    /** Puts the job's next input into the batch; its first input stops its queue timeout. Under the lock. */
    private void add(Batch batch, Job job) {
        if (job.next == 0 && job.timeout != null) {
            job.timeout.cancel(false);
            job.timeout = null;
        }
        batch.jobs.add(job);
        batch.indices.add(job.next);
        batch.tokens += job.inputs.get(job.next).length();
        job.next++;
        queuedInputs.decrementAndGet();
    }

    /** Takes a job off the queue and its unpacked inputs off the counters. Under the lock. */
    private void unqueue(Job job) {
        if (!job.queued) return;
        job.queued = false;
        queue.remove(job);
        queuedInputs.addAndGet(-(job.inputs.size() - job.next));
        queuedRequests.decrementAndGet();
        job.next = job.inputs.size();
        if (job.timeout != null) {
            job.timeout.cancel(false);
            job.timeout = null;
        }
    }

    /**
     * The queue timeout of {@code job}, on the timer thread: a request none of whose inputs has been packed yet gets
     * its 429 now (or is cancelled, when its client has left meanwhile).
     */
    private void expire(Job job) {
        boolean clientGone;
        lock.lock();
        try {
            if (!job.queued || job.next > 0 || job.future.isDone()) return;  // started, dropped or cancelled
            clientGone = job.clientGone.getAsBoolean();
            unqueue(job);
        } finally {
            lock.unlock();
        }
        if (clientGone) {
            metrics.dropped("client_gone");
            job.future.cancel(false);
            return;
        }
        long waited = System.nanoTime() - job.enqueuedNanos;
        metrics.dropped("queue_timeout");
        job.fail(new Failure(ApiException.overloaded("request waited " + waited / 1_000_000 + " ms in the queue, "
                + "more than the queue timeout of " + queueTimeoutNanos / 1_000_000 + " ms")));
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
                // the atomic decrement orders every thread's writes to job.vectors before the completion
                if (job.remaining.decrementAndGet() == 0) job.future.complete(job.vectors);
            }
            return;
        }
    }

    private void failAll(Batch batch, ApiException api, Throwable cause) {
        lastBackendError = api.getMessage();
        LOG.log(System.Logger.Level.WARNING, api.getMessage(), cause);
        lock.lock();
        try {
            for (Job job : batch.jobs) unqueue(job);  // its other inputs must not run either
        } finally {
            lock.unlock();
        }
        Failure f = new Failure(api);
        for (Job job : batch.jobs) job.fail(f);
    }

    /** Removes every sequence of {@code job} from the batch (and its queued rest from the queue). */
    private void removeJob(Batch batch, Job job) {
        for (int s = batch.size() - 1; s >= 0; s--) {
            if (batch.jobs.get(s) == job) {
                batch.tokens -= job.inputs.get(batch.indices.get(s)).length();
                batch.jobs.remove(s);
                batch.indices.remove(s);
            }
        }
        lock.lock();
        try {
            unqueue(job);
        } finally {
            lock.unlock();
        }
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
