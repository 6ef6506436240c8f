package dev.reasonir;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The devices named by {@link Options#device()}: one device, or a set of them that {@link ReasonIR#open} serves with
 * one engine per member (a device pool). This is the one place where device sets are parsed and validated; each
 * member is a plain single device ("cuda:2", "cpu"), which the native engine validates and opens as it always did.
 *
 * <ul>
 * <li>{@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}: one device, passed to the engine as is (it also
 * reports a name it does not know). {@code auto} stays one device (the first usable GPU, else the CPU): every
 * engine of a pool holds its own copy of the weights, so taking every GPU of a shared node is something a user asks
 * for, not a default.</li>
 * <li>{@code cuda:all}: every usable CUDA device ({@link ReasonIR#cudaDeviceCount()}); with one device this is
 * exactly {@code cuda:0}; with none, open fails with {@link ReasonIRException.Kind#DEVICE} and the engine's reason.</li>
 * <li>{@code cuda:0,2,3}: these CUDA devices, in this order. A device listed twice is refused (two engines on one
 * GPU would only compete for it); so is an ordinal the machine does not have, before any weights are read.</li>
 * <li>{@code cpu*N}: N engines on the CPU (N &gt;= 1), each with {@code threads / N} threads (with threads 0: the
 * cores divided among the engines, at least one each). Mostly for tests of the pool without a GPU; on a CPU one
 * engine with every core is usually as fast. Quote it in a shell ({@code --device 'cpu*4'}).</li>
 * </ul>
 * A malformed set fails with {@link ReasonIRException.Kind#INVALID_ARGUMENT} naming the string.
 */
public final class DeviceSet {
    /** Engines a {@code cpu*N} pool may have: more than this is a typo, not a plan. */
    public static final int MAX_CPU_ENGINES = 256;
    /** Highest CUDA ordinal accepted in a list (the native engine accepts cuda:N up to 3 digits). */
    static final int MAX_CUDA_ORDINAL = 999;

    private enum Form { SINGLE, CUDA_ALL, CUDA_LIST, CPU_ENGINES }

    private final String text;
    private final Form form;
    private final List<Integer> ordinals;  // CUDA_LIST only
    private final int cpuEngines;          // CPU_ENGINES only

    private DeviceSet(String text, Form form, List<Integer> ordinals, int cpuEngines) {
        this.text = text;
        this.form = form;
        this.ordinals = ordinals;
        this.cpuEngines = cpuEngines;
    }

    /**
     * Parses a device string (syntax only: nothing is asked of the machine here, so a CLI or a server can check its
     * flag early).
     *
     * @throws ReasonIRException {@link ReasonIRException.Kind#INVALID_ARGUMENT} for a malformed set
     */
    public static DeviceSet parse(String device) {
        Objects.requireNonNull(device, "device");
        String d = device.trim();
        if (d.equals("cuda:all")) return new DeviceSet(d, Form.CUDA_ALL, List.of(), 0);
        if (d.startsWith("cpu*")) {
            int n = number(d, d.substring(4), MAX_CPU_ENGINES, "the number of CPU engines");
            if (n < 1) throw invalid(d, "the number of CPU engines must be at least 1");
            return n == 1 ? new DeviceSet("cpu", Form.SINGLE, List.of(), 0) : new DeviceSet(d, Form.CPU_ENGINES,
                    List.of(), n);
        }
        if (d.startsWith("cuda:") && d.indexOf(',') >= 0) {
            List<Integer> list = new ArrayList<>();
            Set<Integer> seen = new LinkedHashSet<>();
            // split with limit -1 keeps empty entries ("cuda:0,,2", "cuda:0,"), which are refused below
            for (String part : d.substring(5).split(",", -1)) {
                int ordinal = number(d, part, MAX_CUDA_ORDINAL, "a CUDA ordinal");
                if (!seen.add(ordinal)) {
                    throw invalid(d, "cuda:" + ordinal + " is listed twice (one engine per device: two on one GPU "
                            + "would only compete for it)");
                }
                list.add(ordinal);
            }
            return new DeviceSet(d, Form.CUDA_LIST, List.copyOf(list), 0);
        }
        if (d.indexOf(',') >= 0 || d.indexOf('*') >= 0 || d.endsWith(":all")) {
            throw invalid(d, "expected auto, cpu, cuda, cuda:N, cuda:all, a list such as cuda:0,2,3, or cpu*N");
        }
        return new DeviceSet(device, Form.SINGLE, List.of(), 0);  // the engine validates single devices
    }

    /** The string this set was parsed from. */
    public String text() {
        return text;
    }

    /**
     * True when the string names a pool form ({@code cuda:all}, a list, {@code cpu*N}), even if it resolves to one
     * device on this machine.
     */
    public boolean isSet() {
        return form != Form.SINGLE;
    }

    /**
     * The single devices to open, one engine each, in pool order. {@code cudaCount} is asked only for the CUDA
     * forms (it is {@link ReasonIR#cudaDeviceCount()}: loading the native library); an unusable CUDA fails here,
     * before any weights are read.
     *
     * @throws ReasonIRException {@link ReasonIRException.Kind#DEVICE} when a named GPU does not exist
     */
    public List<String> members(Supplier<ReasonIR.CudaDeviceCount> cudaCount) {
        switch (form) {
            case SINGLE:
                return List.of(text);
            case CPU_ENGINES: {
                List<String> out = new ArrayList<>();
                for (int i = 0; i < cpuEngines; i++) out.add("cpu");
                return List.copyOf(out);
            }
            default:
                break;
        }
        ReasonIR.CudaDeviceCount c = cudaCount.get();
        if (c.count() == 0) {
            throw new ReasonIRException(ReasonIRException.Kind.DEVICE, "device '" + text + "' requested, but "
                    + c.reason());
        }
        List<String> out = new ArrayList<>();
        if (form == Form.CUDA_ALL) {
            for (int i = 0; i < c.count(); i++) out.add("cuda:" + i);
            return List.copyOf(out);
        }
        for (int ordinal : ordinals) {
            if (ordinal >= c.count()) {
                throw new ReasonIRException(ReasonIRException.Kind.DEVICE, "device '" + text + "': cuda:" + ordinal
                        + " does not exist: there " + (c.count() == 1 ? "is 1 usable CUDA device (cuda:0)"
                        : "are " + c.count() + " usable CUDA devices (cuda:0 .. cuda:" + (c.count() - 1) + ")"));
            }
            out.add("cuda:" + ordinal);
        }
        return List.copyOf(out);
    }

    /** {@link #members(Supplier)} with a count known already (tests; callers that asked themselves). */
    List<String> members(int cudaCount, String reason) {
        return members(() -> new ReasonIR.CudaDeviceCount(cudaCount, reason));
    }

    /**
     * CPU threads for each engine of a pool of {@code engines} from {@code threads} (0 = one per core): the cores are
     * divided among the CPU engines, so that a {@code cpu*N} pool does not run N times as many threads as cores.
     * CUDA engines get the option as given (it only matters to a CPU backend).
     */
    static int threadsPerEngine(int threads, int engines, IntSupplier cores) {
        if (engines <= 1) return threads;
        int total = threads > 0 ? threads : cores.getAsInt();
        return Math.max(1, total / engines);
    }

    /** True when the members run on the CPU (a {@code cpu*N} pool). */
    boolean onCpu() {
        return form == Form.CPU_ENGINES;
    }

    @Override
    public String toString() {
        return text;
    }

    private static int number(String device, String digits, int max, String what) {
        if (digits.isEmpty() || digits.length() > 4 || !digits.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
            throw invalid(device, "'" + digits + "' is not " + what
                    + " (expected auto, cpu, cuda, cuda:N, cuda:all, a list such as cuda:0,2,3, or cpu*N)");
        }
        int n = Integer.parseInt(digits);
        if (n > max) throw invalid(device, what + " " + n + " is larger than " + max);
        return n;
    }

    private static ReasonIRException invalid(String device, String why) {
        return new ReasonIRException(ReasonIRException.Kind.INVALID_ARGUMENT, "device '" + device + "': " + why);
    }
}
