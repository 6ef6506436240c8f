package dev.reasonir;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Deals the packed batches of embedding calls to the engines of a model, one engine per device.
 *
 * <p>The batches themselves are planned by the caller ({@link Embedder}) exactly as for one device, so a result
 * never depends on how many engines there are or which one ran a batch (each batch is a pure function of its
 * inputs, and every engine of a pool runs the same kernels). Scheduling:
 * <ul>
 * <li>One engine: the batches run on the caller's thread, one after the other, as before there was a pool. Concurrent
 * calls interleave batch by batch on the engine's own lock. A device fault reaches the caller as it is (there is no
 * other engine to retry on), and the engine stays in use.</li>
 * <li>Several engines: each has a worker thread (a daemon, started when work comes, ended after
 * {@link #WORKER_IDLE_SECONDS} idle or on close) that takes the next batch as soon as its engine is free. The calls
 * in progress take turns batch by batch (round robin), so a short call is not queued behind a long one, and one call
 * keeps every engine busy. The caller waits for its batches and gets its vectors in input order (each batch writes
 * its own rows).</li>
 * </ul>
 *
 * <p>Faults, with several engines: a batch that fails with {@link ReasonIRException.Kind#DEVICE} (a sticky CUDA
 * error poisons the native handle, and every later call on it fails so) takes its engine out of the pool for good,
 * with one WARN line and {@link DeviceInfo#failures()}; the batch goes back to the front of the queue and runs on a
 * healthy engine (embedding is a pure function, and a failed attempt returns nothing, so it is safe and the batch is
 * counted once). When no engine is left, the calls waiting and every later one fail with
 * {@link DevicesFailedException}, naming each device and its fault. Any other failure (a bad input, out of memory, a
 * closed engine) is not a device fault: it fails the call it belongs to, as with one engine, and the engine stays.
 *
 * <p>The owner guarantees that {@link #close()} does not race with {@link #run} (the facade's lifecycle lock), and
 * closes the engines itself after this.
 */
final class DevicePool implements AutoCloseable {
    /** Name prefix of the worker threads (tests look for leaked ones by it). */
    static final String WORKER_THREAD_PREFIX = "reasonir-device-";
    /** A worker with nothing to do ends after this; the next call starts a new one. */
    static final long WORKER_IDLE_SECONDS = 10;
    private static final AtomicInteger WORKER_THREADS = new AtomicInteger();
    /** The facade's logger: users and the CLI set the engine's log level by this name. */
    private static final System.Logger LOG = System.getLogger(ReasonIR.class.getName());

    /** One engine of the pool, with its counters (guarded by the pool's lock). */
    static final class Member {
        final String name;
        final String device;
        final Embedder.BatchEngine engine;
        final long loadNanos;
        final double loadGBps;
        boolean failed;
        long batches;
        long tokens;
        int failures;
        String lastFailure = "";
        Thread worker;  // null when none runs

        /**
         * @param name   the device as opened ("cuda:2", "cpu#1"), unique in the pool
         * @param device the engine's human-readable device
         */
        Member(String name, String device, Embedder.BatchEngine engine, long loadNanos, double loadGBps) {
            this.name = name;
            this.device = device;
            this.engine = engine;
            this.loadNanos = loadNanos;
            this.loadGBps = loadGBps;
        }
    }

    /** The batches of one window of one call. Guarded by the pool's lock. */
    private static final class Job {
        final TokenizedInput[] inputs;
        final boolean normalize;
        final float[][] vectors;
        final ArrayDeque<BatchPlanner.Batch> pending;
        int remaining;        // batches not yet embedded successfully
        int running;          // batches on an engine right now
        Throwable failure;    // the call's failure, once there is one

        Job(TokenizedInput[] inputs, List<BatchPlanner.Batch> batches, boolean normalize, float[][] vectors) {
            this.inputs = inputs;
            this.normalize = normalize;
            this.vectors = vectors;
            this.pending = new ArrayDeque<>(batches);
            this.remaining = batches.size();
        }

        /** Every batch embedded, or failed with nothing of it still running (its rows are no longer written). */
        boolean finished() {
            return failure != null ? running == 0 : remaining == 0;
        }

        void fail(Throwable t) {
            if (failure == null) failure = t;
            pending.clear();
        }
    }

    private final List<Member> members;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workAvailable = lock.newCondition();
    private final Condition progress = lock.newCondition();
    /** Jobs with batches left to start, in turn order (the head gives the next batch, then goes to the back). */
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private boolean closed;

    DevicePool(List<Member> members) {
        if (members.isEmpty()) throw new IllegalArgumentException("a device pool needs at least one engine");
        this.members = List.copyOf(members);
    }

    /** A pool of one engine (the seam's tests and any single-device user). */
    static DevicePool of(Embedder.BatchEngine engine) {
        return new DevicePool(List.of(new Member("engine", "engine", engine, 0, 0)));
    }

    int size() {
        return members.size();
    }

    /**
     * Embeds {@code batches} (indices into {@code inputs}; validated; rows written to {@code vectors}) and returns
     * when all are done. The first failure of one of them is rethrown as it is, after every batch of the call that
     * had started has ended.
     */
    void run(TokenizedInput[] inputs, List<BatchPlanner.Batch> batches, boolean normalize, float[][] vectors) {
        if (batches.isEmpty()) return;
        if (members.size() == 1) {
            runInline(members.get(0), inputs, batches, normalize, vectors);
            return;
        }
        Job job = new Job(inputs, batches, normalize, vectors);
        boolean interrupted = false;
        lock.lock();
        try {
            if (closed) throw new IllegalStateException("the device pool is closed");
            if (healthy() == 0) throw allFailed(null);
            queue.addLast(job);
            startWorkers();
            workAvailable.signalAll();
            while (!job.finished()) {
                try {
                    progress.await();
                } catch (InterruptedException e) {
                    interrupted = true;  // the workers write this call's rows: finish waiting, keep the flag
                }
            }
        } finally {
            lock.unlock();
            if (interrupted) Thread.currentThread().interrupt();
        }
        if (job.failure != null) throw rethrowable(job.failure);
    }

    /** What each engine is and has done, in pool order. */
    List<DeviceInfo> devices() {
        lock.lock();
        try {
            List<DeviceInfo> out = new ArrayList<>();
            for (Member m : members) {
                out.add(new DeviceInfo(m.name, m.device, m.failed ? DeviceInfo.State.FAILED : DeviceInfo.State.HEALTHY,
                        m.batches, m.tokens, m.failures, m.lastFailure, m.loadNanos, m.loadGBps));
            }
            return List.copyOf(out);
        } finally {
            lock.unlock();
        }
    }

    /** Ends the workers (idle by then: the owner guarantees that no call is in progress). Idempotent. */
    @Override
    public void close() {
        List<Thread> workers = new ArrayList<>();
        lock.lock();
        try {
            closed = true;
            // Nothing should be queued; if a caller is waiting anyway, it must not wait forever.
            for (Job j : queue) j.fail(new IllegalStateException("the device pool is closed"));
            queue.clear();
            for (Member m : members) {
                if (m.worker != null) workers.add(m.worker);
            }
            workAvailable.signalAll();
            progress.signalAll();
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        for (Thread t : workers) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;  // the engines are closed after this: the worker must be gone first
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    // ---------------------------------------------------------------------------------------------------------------

    private void runInline(Member m, TokenizedInput[] inputs, List<BatchPlanner.Batch> batches, boolean normalize,
                           float[][] vectors) {
        for (BatchPlanner.Batch b : batches) {
            try {
                m.engine.embedBatch(inputs, b.indices(), b.tokens(), normalize, vectors);
            } catch (RuntimeException | Error e) {
                if (isDeviceFault(e)) {
                    lock.lock();
                    try {
                        m.failed = true;
                        m.failures++;
                        m.lastFailure = String.valueOf(e.getMessage());
                    } finally {
                        lock.unlock();
                    }
                }
                throw e;
            }
            lock.lock();
            try {
                m.failed = false;
                m.batches++;
                m.tokens += b.tokens();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Starts a worker for each healthy engine that has none; with the lock held. */
    private void startWorkers() {
        for (Member m : members) {
            if (m.failed || m.worker != null) continue;
            Thread t = new Thread(() -> work(m), WORKER_THREAD_PREFIX + m.name + "-" + WORKER_THREADS.incrementAndGet());
            t.setDaemon(true);  // never keeps the JVM alive
            m.worker = t;
            t.start();
        }
    }

    /** The loop of one engine's worker: the next batch of the next call in turn, until idle, closed or failed. */
    private void work(Member m) {
        lock.lock();
        try {
            long idle = TimeUnit.SECONDS.toNanos(WORKER_IDLE_SECONDS);
            while (true) {
                Job job;
                while (!closed && !m.failed && (job = queue.peekFirst()) == null) {
                    if (idle <= 0) {
                        m.worker = null;
                        return;
                    }
                    try {
                        idle = workAvailable.awaitNanos(idle);
                    } catch (InterruptedException e) {
                        idle = 0;  // nobody interrupts a worker but a JVM on its way out: end when idle
                    }
                }
                job = queue.peekFirst();
                if (closed || m.failed || job == null) {
                    m.worker = null;
                    return;
                }
                idle = TimeUnit.SECONDS.toNanos(WORKER_IDLE_SECONDS);
                BatchPlanner.Batch b = job.pending.pollFirst();
                queue.pollFirst();
                if (!job.pending.isEmpty()) queue.addLast(job);  // the calls in progress take turns
                job.running++;
                Throwable error = null;
                lock.unlock();
                try {
                    m.engine.embedBatch(job.inputs, b.indices(), b.tokens(), job.normalize, job.vectors);
                } catch (Throwable t) {
                    error = t;
                } finally {
                    lock.lock();
                }
                job.running--;
                if (error == null) {
                    m.batches++;
                    m.tokens += b.tokens();
                    job.remaining--;
                } else if (isDeviceFault(error)) {
                    takeOut(m, error, job, b);
                } else {
                    // Not the device's fault (a bad input, memory, a closed engine): the call fails as with one
                    // engine, its batches not yet started are dropped, and this engine goes on.
                    job.fail(error);
                    queue.remove(job);
                }
                progress.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /** A device fault on {@code m} while it ran {@code b} of {@code job}; with the lock held. */
    private void takeOut(Member m, Throwable error, Job job, BatchPlanner.Batch b) {
        m.failed = true;
        m.failures++;
        m.lastFailure = String.valueOf(error.getMessage());
        int left = healthy();
        LOG.log(System.Logger.Level.WARNING, "device {0} taken out of the pool after a device fault ({1} of {2} "
                + "devices left; its batch is {3}): {4}", m.name, left, members.size(),
                left > 0 ? "retried on another" : "not retried", m.lastFailure);
        if (left == 0) {
            // No engine runs anything now (a healthy engine would count): fail this call and every waiting one.
            DevicesFailedException ex = allFailed(error);
            job.fail(ex);
            for (Job j : queue) j.fail(ex);
            queue.clear();
            return;
        }
        if (job.failure != null) return;  // the call has failed already: nothing to retry for
        job.pending.addFirst(b);            // its rows were not written: the retry is the batch's only result
        queue.remove(job);
        queue.addFirst(job);
        startWorkers();
        workAvailable.signalAll();
    }

    private int healthy() {
        int n = 0;
        for (Member m : members) {
            if (!m.failed) n++;
        }
        return n;
    }

    private DevicesFailedException allFailed(Throwable cause) {
        Map<String, String> failures = new LinkedHashMap<>();
        for (Member m : members) failures.put(m.name, m.lastFailure);
        return new DevicesFailedException(failures, cause);
    }

    private static boolean isDeviceFault(Throwable t) {
        return t instanceof ReasonIRException r && r.kind() == ReasonIRException.Kind.DEVICE
                && !(t instanceof DevicesFailedException);
    }

    private static RuntimeException rethrowable(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
