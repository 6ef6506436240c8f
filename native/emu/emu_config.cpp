// emu_config.cpp: the CUDA emulator's configuration (README.md, "Configuration"): EMU_DEVICE_COUNT,
// EMU_DEVICE_MEMORY and EMU_FAULT, read once at the first call into the emulator (state::ensure_started), or given by
// emu::configure(); emu::reset() returns to the environment's (config::restore_startup). A bad value makes every call
// fail with cudaErrorInvalidValue, whose cudaGetErrorString carries the reason (config::invalid_value_text).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "emu_config.h"
#include "emu_state.h"

namespace emu {
using namespace state;

// ---------------------------------------------------------------------------------------------------------------
// Configuration: the environment (read once, at the first call into the emulator) or emu::configure().
namespace {

struct Fault {
    int device;
    unsigned long long after;
    int code;
};
struct Config {
    int device_count = 1;
    size_t limit[kMaxDevices];
    std::vector<Fault> faults;
    std::string error;  // empty: valid
    Config() {
        for (size_t &l : limit) l = kDefaultMemoryLimit;
    }
};

std::string trim(const std::string &v) {
    size_t a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : v.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string &v, char sep) {
    std::vector<std::string> out;
    size_t at = 0;
    for (;;) {
        size_t next = v.find(sep, at);
        out.push_back(trim(v.substr(at, next == std::string::npos ? std::string::npos : next - at)));
        if (next == std::string::npos) return out;
        at = next + 1;
    }
}

// A non-negative decimal integer, the whole string, without overflow.
bool parse_uint(const std::string &v, unsigned long long *out) {
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoull(v);
    return true;
}

// "8G", "512M", "1.5G", "65536", "8GiB", "8GB": binary units (K = 1024), case-insensitive; > 0.
bool parse_size(const std::string &v, size_t *out) {
    size_t i = 0;
    while (i < v.size() && (std::isdigit(static_cast<unsigned char>(v[i])) || v[i] == '.')) ++i;
    const std::string number = v.substr(0, i);
    std::string unit = v.substr(i);
    for (char &c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) return false;
    int shift = -1;
    if (unit.empty() || unit == "B") shift = 0;
    for (const char *u : {"K", "M", "G", "T"}) {
        const int s = u[0] == 'K' ? 10 : u[0] == 'M' ? 20 : u[0] == 'G' ? 30 : 40;
        if (unit == u || unit == std::string(u) + "B" || unit == std::string(u) + "IB") shift = s;
    }
    if (shift < 0) return false;
    // Parsed by hand, not with strtod: the decimal point of strtod follows the C locale, which a host program (a
    // JVM) may have set to one that writes 1,5.
    const size_t dot = number.find('.');
    const std::string whole = number.substr(0, dot), frac = dot == std::string::npos ? "" : number.substr(dot + 1);
    if (whole.size() > 19 || frac.size() > 18) return false;
    long double value = 0;
    for (char ch : whole) value = value * 10 + (ch - '0');
    long double scale = 1;
    for (char ch : frac) {
        scale /= 10;
        value += (ch - '0') * scale;
    }
    const long double bytes = value * std::ldexp(1.0L, shift);
    if (!(bytes >= 1.0L) || bytes > static_cast<long double>(SIZE_MAX / 2)) return false;
    *out = static_cast<size_t>(bytes);
    return true;
}

// An error code as a number (700) or a name (cudaErrorIllegalAddress).
bool parse_error_code(const std::string &v, int *out) {
    unsigned long long n = 0;
    if (parse_uint(v, &n)) {
        if (n == 0 || n > 100000) return false;
        *out = static_cast<int>(n);
        return true;
    }
    for (int code = 1; code <= 999; ++code) {
        if (v == cudaGetErrorName(static_cast<cudaError_t>(code)) && v != "cudaErrorUnknown") {
            *out = code;
            return true;
        }
    }
    if (v == "cudaErrorUnknown") {
        *out = cudaErrorUnknown;
        return true;
    }
    return false;
}

Config parse_config(const char *count_env, const char *memory_env, const char *fault_env) {
    Config c;
    auto bad = [&](const std::string &why) {
        Config b;
        b.error = why;
        return b;
    };
    const std::string count_s = count_env ? trim(count_env) : "", memory_s = memory_env ? trim(memory_env) : "",
                      fault_s = fault_env ? trim(fault_env) : "";
    bool count_given = false;
    if (!count_s.empty()) {
        unsigned long long n = 0;
        if (!parse_uint(count_s, &n) || n > static_cast<unsigned long long>(kMaxDevices))
            return bad("EMU_DEVICE_COUNT='" + count_s + "' is not a device count from 0 to " +
                       std::to_string(kMaxDevices));
        c.device_count = static_cast<int>(n);
        count_given = true;
    }
    if (!memory_s.empty()) {
        const std::vector<std::string> sizes = split(memory_s, ',');
        std::vector<size_t> bytes(sizes.size());
        for (size_t i = 0; i < sizes.size(); ++i)
            if (!parse_size(sizes[i], &bytes[i]))
                return bad("EMU_DEVICE_MEMORY='" + memory_s + "': '" + sizes[i] +
                           "' is not a size (a positive number of bytes, or with a unit K, M, G or T: 8G, 512M, 1.5G)");
        if (sizes.size() > 1) {
            if (!count_given) {
                if (sizes.size() > static_cast<size_t>(kMaxDevices))
                    return bad("EMU_DEVICE_MEMORY='" + memory_s + "' lists more than " + std::to_string(kMaxDevices) +
                               " devices");
                c.device_count = static_cast<int>(sizes.size());  // the list names the devices
            } else if (sizes.size() != static_cast<size_t>(c.device_count)) {
                return bad("EMU_DEVICE_MEMORY='" + memory_s + "' lists " + std::to_string(sizes.size()) +
                           " sizes but EMU_DEVICE_COUNT=" + count_s + ": give one size for all or one per device");
            }
            for (size_t i = 0; i < sizes.size(); ++i) c.limit[i] = bytes[i];
        } else {
            for (size_t &l : c.limit) l = bytes[0];
        }
    }
    if (!fault_s.empty()) {
        for (const std::string &f : split(fault_s, ',')) {
            const std::vector<std::string> parts = split(f, ':');
            unsigned long long dev = 0, after = 0;
            int code = 0;
            const std::string form = " (expected <device>:<launches before the fault>:<CUDA error code or name>, "
                                     "e.g. 2:40:700; several separated by commas)";
            if (parts.size() != 3 || !parse_uint(parts[0], &dev) || !parse_uint(parts[1], &after))
                return bad("EMU_FAULT='" + fault_s + "': '" + f + "' is malformed" + form);
            if (dev >= static_cast<unsigned long long>(c.device_count))
                return bad("EMU_FAULT='" + fault_s + "': device " + parts[0] + " does not exist (" +
                           std::to_string(c.device_count) + " emulated device" + (c.device_count == 1 ? "" : "s") +
                           ")");
            if (!parse_error_code(parts[2], &code))
                return bad("EMU_FAULT='" + fault_s + "': '" + parts[2] + "' is not a CUDA error code" + form);
            for (const Fault &g : c.faults)
                if (g.device == static_cast<int>(dev))
                    return bad("EMU_FAULT='" + fault_s + "': device " + parts[0] +
                               " has two faults (one pending fault per device)");
            c.faults.push_back({static_cast<int>(dev), after, code});
        }
    }
    return c;
}

}  // namespace

namespace config {
void arm(int device, int code, unsigned long long after) {
    DeviceState &s = devices()[device];
    std::lock_guard<std::mutex> lock(s.fault_mu);
    s.fault_code = code;
    s.fault_after = after;
}
}  // namespace config

namespace {

std::mutex g_config_mu;
std::deque<std::string> g_config_messages;  // never shrinks: cudaGetErrorString returns pointers into it
const char *g_invalid_value_text = nullptr;  // "invalid argument (...)" while the configuration is bad

// Makes `c` the emulator's state: device count, memory limits, no errors; arms its faults when asked.
void apply(const Config &c, bool arm_faults) {
    std::lock_guard<std::mutex> lock(g_config_mu);
    g_injected.store(0);
    g_device_count.store(c.error.empty() ? c.device_count : 1);
    {
        std::lock_guard<std::mutex> m(mem().mu);
        for (int d = 0; d < kMaxDevices; ++d) mem().limit[d] = c.limit[d];
    }
    for (int d = 0; d < kMaxDevices; ++d) {
        DeviceState &s = devices()[d];
        s.sticky.store(0);
        std::lock_guard<std::mutex> f(s.fault_mu);
        s.fault_code = 0;
        s.fault_after = 0;
    }
    if (arm_faults)
        for (const Fault &f : c.faults) config::arm(f.device, f.code, f.after);
    if (c.error.empty()) {
        g_invalid_value_text = nullptr;
    } else {
        g_config_messages.push_back("invalid argument (CUDA emulator configuration: " + c.error + ")");
        g_invalid_value_text = g_config_messages.back().c_str();
    }
    g_config_bad.store(!c.error.empty());
}

// The environment's configuration, parsed once; reset() returns to it.
const Config &startup_config() {
    static const Config c =
        parse_config(std::getenv("EMU_DEVICE_COUNT"), std::getenv("EMU_DEVICE_MEMORY"), std::getenv("EMU_FAULT"));
    return c;
}

}  // namespace

namespace state {
void ensure_started() {
    // A function-local static: initialized exactly once, thread-safe, and only a flag test afterwards.
    static const bool started = [] {
        const Config &c = startup_config();
        apply(c, /*arm_faults=*/true);
        if (!c.error.empty())
            std::fprintf(stderr,
                         "CUDA emulator: %s; every CUDA call fails with cudaErrorInvalidValue (see "
                         "native/emu/README.md, \"Configuration\")\n",
                         c.error.c_str());
        return true;
    }();
    (void)started;
}
}  // namespace state

std::string configure(const char *device_count, const char *device_memory, const char *fault) {
    ensure_started();
    const Config c = parse_config(device_count, device_memory, fault);
    apply(c, /*arm_faults=*/true);
    t_last_error = cudaSuccess;
    if (t_device >= g_device_count.load()) t_device = 0;
    return c.error;
}

namespace config {
void restore_startup() { apply(startup_config(), /*arm_faults=*/false); }
const char *invalid_value_text() {
    std::lock_guard<std::mutex> lock(g_config_mu);
    return g_invalid_value_text;
}
}  // namespace config

}  // namespace emu
