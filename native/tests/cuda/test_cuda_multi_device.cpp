// test_cuda_multi_device.cpp: one process, several CUDA devices, driven through the C API the way a device pool
// drives them (issue 20): one handle per device ("cuda:N"), opened in parallel, embed calls from one worker thread
// per handle, close from yet another thread. It checks that every entry point selects its own device (a handle works
// whatever the calling thread's current device is, and leaves it unchanged), that the devices give bit-identical
// results for the same batch, that a device too small for the model is named in a typed error while the others
// open, that the memory check a pool makes before opening (rir_check_device_memory) names that device without
// allocating anything and agrees with the open's own check, and that a sticky fault on one device poisons that handle
// only.
//
// Against the emulator (test_cuda_multi_device_emu) each case configures 4 devices itself (emu::configure). When
// EMU_DEVICE_COUNT is set, only the case that takes its node and fault from the environment runs (ctest
// test_cuda_multi_device_emu_env: the path a Java test or CLI run in a fresh process takes). On a real GPU machine
// the cases that need emulator controls are left out and the rest runs on the devices present (skipped with fewer
// than 2).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cuda_test.h"
#include "fixture_inputs.h"
#include "reasonir.h"

using namespace cudatest;

namespace {

constexpr int kDevices = 4;    // the emulated node
constexpr int kSequences = 5;  // of the fixture's 8 (1 to 63 tokens): longer ones only slow the emulator down

std::string model_dir() { return check::env_or_die("REASONIR_GENERATED") + "/llama3_gqa"; }

FixtureSequences batch() {
    FixtureSequences all = load_fixture_inputs(check::env_or_die("REASONIR_FIXTURES") + "/llama3_gqa/inputs.json");
    FixtureSequences s;
    for (int i = 0; i < kSequences; ++i) {
        s.ids.insert(s.ids.end(), all.ids.begin() + all.cu[i], all.ids.begin() + all.cu[i + 1]);
        s.cu.push_back(static_cast<int32_t>(s.ids.size()));
        s.pool.push_back(all.pool[i]);
    }
    return s;
}

struct Handle {
    rir_model *m = nullptr;
    rir_status status = RIR_OK;
    std::string error;
};

Handle open_on(int device) {
    const std::string dir = model_dir(), name = "cuda:" + std::to_string(device);
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = name.c_str();
    o.max_batch_tokens = 4096;
    Handle h;
    char err[1024] = {0};
    h.status = rir_open(&o, &h.m, err, sizeof err);
    h.error = err;
    return h;
}

std::vector<float> embed(rir_model *m, const FixtureSequences &s, rir_status *status) {
    std::vector<float> out(static_cast<size_t>(s.n()) * rir_hidden_size(m));
    *status = rir_embed(m, s.ids.data(), s.cu.data(), s.pool.data(), s.n(), 0, out.data(),
                        static_cast<int64_t>(out.size()));
    return out;
}

int current_device() {
    int d = -1;
    if (cudaGetDevice(&d) != cudaSuccess) cudaGetLastError();
    return d;
}

// Devices to use: 4 on the emulator, what is there on a GPU machine (0: too few for this test).
int devices_for_test() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n >= 2 ? (n < kDevices ? n : kDevices) : 0;
}

#if defined(REASONIR_CUDA_EMU)
bool configured_by_environment() {
    const char *v = std::getenv("EMU_DEVICE_COUNT");
    return v && *v;
}

// The 4-device node for a case (device memory as in EMU_DEVICE_MEMORY), and back to the default after it.
struct EmulatedNode {
    explicit EmulatedNode(const char *memory = nullptr) { REQUIRE(emu::configure("4", memory, nullptr).empty()); }
    ~EmulatedNode() { emu::reset(); }
};
#else
struct EmulatedNode {
    explicit EmulatedNode(const char * = nullptr) {}
};
#endif

// Embeds `rounds` times on every handle, one thread per handle, all at once; returns each thread's outputs and
// statuses (rounds x handles). The calling threads start on device 0 whatever handle they drive, as a pool's
// workers may: the library must select the handle's device itself.
struct Runs {
    std::vector<std::vector<std::vector<float>>> out;  // [handle][round]
    std::vector<std::vector<rir_status>> status;
    std::vector<std::vector<std::string>> error;
    std::vector<int> device_after;  // each thread's current device after its calls
};
Runs embed_concurrently(const std::vector<Handle> &handles, const FixtureSequences &s, int rounds) {
    const size_t n = handles.size();
    Runs r;
    r.out.assign(n, std::vector<std::vector<float>>(rounds));
    r.status.assign(n, std::vector<rir_status>(rounds, RIR_OK));
    r.error.assign(n, std::vector<std::string>(rounds));
    r.device_after.assign(n, -1);
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (size_t k = 0; k < n; ++k)
        workers.emplace_back([&, k] {
            ready.fetch_add(1);
            while (ready.load() < static_cast<int>(n)) std::this_thread::yield();  // start together
            for (int i = 0; i < rounds; ++i) {
                r.out[k][i] = embed(handles[k].m, s, &r.status[k][i]);
                r.error[k][i] = rir_last_error(handles[k].m);
            }
            r.device_after[k] = current_device();
        });
    for (auto &t : workers) t.join();
    return r;
}

// Closes every handle from one thread that is neither the opener nor a worker.
void close_from_another_thread(std::vector<Handle> &handles) {
    std::thread closer([&] {
        for (Handle &h : handles) rir_close(h.m);
    });
    closer.join();
    for (Handle &h : handles) h.m = nullptr;
}

TEST_CASE(every_device_embeds_bit_identically_from_concurrent_threads) {
    EmulatedNode node;
    const int n = devices_for_test();
    if (n == 0) {
        std::printf("  skipped: fewer than 2 CUDA devices\n");
        return;
    }
    const FixtureSequences s = batch();
    // The single-device reference, on the main thread.
    Handle ref = open_on(0);
    CHECK_MSG(ref.status == RIR_OK, ref.error);
    REQUIRE(ref.m != nullptr);
    rir_status st = RIR_OK;
    const std::vector<float> expected = embed(ref.m, s, &st);
    REQUIRE(st == RIR_OK);
    rir_close(ref.m);

    // Opened concurrently, each from a thread of its own (a pool may open its engines in parallel).
    std::vector<Handle> handles(static_cast<size_t>(n));
    std::vector<int> opener_device(static_cast<size_t>(n), -1);
    {
        std::vector<std::thread> openers;
        for (int d = 0; d < n; ++d)
            openers.emplace_back([&, d] {
                handles[d] = open_on(d);
                opener_device[d] = current_device();
            });
        for (auto &t : openers) t.join();
    }
    for (int d = 0; d < n; ++d) {
        CHECK_MSG(handles[d].status == RIR_OK, "cuda:" << d << ": " << handles[d].error);
        CHECK_MSG(opener_device[d] == 0, "the opener of cuda:" << d << " was left on device " << opener_device[d]);
    }
    for (const Handle &h : handles) REQUIRE(h.m != nullptr);
    for (int d = 0; d < n; ++d) {
        const std::string name = rir_device(handles[d].m);
        CHECK_MSG(name.rfind("cuda:" + std::to_string(d) + " ", 0) == 0, name);
    }
#if defined(REASONIR_CUDA_EMU)
    // Each engine's memory is on its own device.
    for (int d = 0; d < n; ++d) CHECK_MSG(emu::live_device_bytes(d) > 0, "device " << d);
    const unsigned long long before = emu::launches(1);
#endif
    const int rounds = 2;
    const Runs r = embed_concurrently(handles, s, rounds);
    for (int d = 0; d < n; ++d) {
        CHECK_MSG(r.device_after[d] == 0, "thread of cuda:" << d << " left on device " << r.device_after[d]);
        for (int i = 0; i < rounds; ++i) {
            CHECK_MSG(r.status[d][i] == RIR_OK, "cuda:" << d << " round " << i << ": " << r.error[d][i]);
            CHECK_MSG(r.out[d][i].size() == expected.size() &&
                          std::memcmp(r.out[d][i].data(), expected.data(), expected.size() * sizeof(float)) == 0,
                      "cuda:" << d << " round " << i << " differs from the single-device result");
        }
    }
#if defined(REASONIR_CUDA_EMU)
    CHECK(emu::launches(1) > before);  // the work of handle 1 ran on device 1
#endif
    close_from_another_thread(handles);
#if defined(REASONIR_CUDA_EMU)
    for (int d = 0; d < n; ++d) CHECK_MSG(emu::live_device_bytes(d) == 0, "device " << d << " leaks");
#endif
}

// The memory check on every device present (a real GPU node too): the fixture fits, the need is the same on every
// device, and the free memory reported is at most the device's total.
TEST_CASE(the_memory_check_passes_every_device_that_holds_the_model) {
    EmulatedNode node;
    int n = 0;
    REQUIRE(cudaGetDeviceCount(&n) == cudaSuccess && n >= 1);
    uint64_t need = 0;
    for (int d = 0; d < n; ++d) {
        const std::string name = "cuda:" + std::to_string(d);
        rir_open_options o;
        rir_open_options_init(&o);
        const std::string dir = model_dir();
        o.model_dir = dir.c_str();
        o.device = name.c_str();
        o.max_batch_tokens = 4096;
        uint64_t nd = 0, free_b = 0;
        char err[1024] = {0};
        const rir_status st = rir_check_device_memory(&o, &nd, &free_b, err, sizeof err);
        CHECK_MSG(st == RIR_OK && err[0] == '\0', name << ": " << err);
        cudaDeviceProp p;
        REQUIRE(cudaGetDeviceProperties(&p, d) == cudaSuccess);
        CHECK_MSG(nd > 0 && free_b >= nd && free_b <= p.totalGlobalMem, name << ": need " << nd << " free " << free_b);
        if (d == 0) need = nd;
        CHECK(nd == need);
    }
}

#if defined(REASONIR_CUDA_EMU)
// Per-device memory: a device whose memory cannot hold the model is named in a typed error; the others open.
TEST_CASE(a_device_too_small_for_the_model_is_named) {
    EmulatedNode node("8G,8G,256M,8G");
    Handle small = open_on(2);
    CHECK(small.status == RIR_ERR_OUT_OF_MEMORY);
    CHECK(small.m == nullptr);
    CHECK_MSG(small.error.find("cuda:2") != std::string::npos && small.error.find("free of 0.25 GiB") != std::string::npos,
              small.error);
    Handle other = open_on(3);
    CHECK_MSG(other.status == RIR_OK, other.error);
    size_t free_b = 0, total_b = 0;
    REQUIRE(cudaSetDevice(2) == cudaSuccess);
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b == (size_t(256) << 20) && free_b == total_b);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    rir_close(other.m);
}

// rir_check_device_memory for device `device` with the options open_on uses.
struct MemoryCheck {
    rir_status status = RIR_OK;
    uint64_t need = 0, free = 0;
    std::string error;
};
MemoryCheck check_memory(const char *device, const std::string &dir = model_dir()) {
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = device;
    o.max_batch_tokens = 4096;
    MemoryCheck c;
    c.need = c.free = 12345;  // must be overwritten
    char err[1024];
    std::memset(err, 'x', sizeof err);  // must be overwritten too ("" when the model fits)
    err[sizeof err - 1] = '\0';
    c.status = rir_check_device_memory(&o, &c.need, &c.free, err, sizeof err);
    c.error = err;
    return c;
}

// The pool's check before any open (issue 20): it names a device too small for the model, passes the others, and
// allocates and launches nothing on any of them; the calling thread's device is left as it was.
TEST_CASE(the_memory_check_names_a_small_device_and_allocates_nothing) {
    EmulatedNode node("8G,8G,512M,8G");
    const size_t allocations = emu::live_allocations();
    std::vector<size_t> bytes(kDevices);
    std::vector<unsigned long long> launches(kDevices);
    for (int d = 0; d < kDevices; ++d) {
        bytes[d] = emu::live_device_bytes(d);
        launches[d] = emu::launches(d);
    }
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    std::vector<MemoryCheck> checks;
    for (int d = 0; d < kDevices; ++d) checks.push_back(check_memory(("cuda:" + std::to_string(d)).c_str()));
    CHECK_MSG(current_device() == 1, "the check left the caller on device " << current_device());
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    for (int d = 0; d < kDevices; ++d) {
        const MemoryCheck &c = checks[d];
        CHECK_MSG(c.need > (uint64_t(512) << 20) && c.need == checks[0].need, "cuda:" << d << " need " << c.need);
        if (d == 2) continue;
        CHECK_MSG(c.status == RIR_OK && c.error.empty(), "cuda:" << d << ": " << c.error);
        CHECK_MSG(c.free == (uint64_t(8) << 30), "cuda:" << d << " free " << c.free);
    }
    const MemoryCheck &small = checks[2];
    CHECK(small.status == RIR_ERR_OUT_OF_MEMORY);
    CHECK(small.free == (uint64_t(512) << 20));
    CHECK_MSG(small.error.rfind("cuda:2 (CUDA emulator (CPU)) has 0.50 GiB free of 0.50 GiB; the model needs ", 0) == 0 &&
                  small.error.find("max_batch_tokens 4096") != std::string::npos,
              small.error);
    CHECK(emu::live_allocations() == allocations);
    for (int d = 0; d < kDevices; ++d) {
        CHECK_MSG(emu::live_device_bytes(d) == bytes[d], "device " << d);
        CHECK_MSG(emu::launches(d) == launches[d], "device " << d);
    }
    // The open's own check says the same, word for word (one formula, one message).
    Handle h = open_on(2);
    CHECK(h.status == RIR_ERR_OUT_OF_MEMORY);
    CHECK_MSG(h.error == small.error, h.error << " | " << small.error);
}

// The check's need is the open's, to the byte: a device with exactly that much memory passes the check and opens;
// one byte less fails both.
TEST_CASE(the_memory_check_and_the_open_agree_to_the_byte) {
    EmulatedNode node;
    const MemoryCheck probe = check_memory("cuda:0");
    REQUIRE(probe.status == RIR_OK);
    REQUIRE(emu::set_memory_limit(1, probe.need));
    REQUIRE(emu::set_memory_limit(2, probe.need - 1));
    const MemoryCheck exact = check_memory("cuda:1"), short_by_one = check_memory("cuda:2");
    CHECK_MSG(exact.status == RIR_OK && exact.free == probe.need, exact.error);
    CHECK_MSG(short_by_one.status == RIR_ERR_OUT_OF_MEMORY && short_by_one.free == probe.need - 1, short_by_one.error);
    Handle fits = open_on(1), fails = open_on(2);
    CHECK_MSG(fits.status == RIR_OK, fits.error);
    CHECK(fails.status == RIR_ERR_OUT_OF_MEMORY);
    CHECK_MSG(fails.error == short_by_one.error, fails.error << " | " << short_by_one.error);
    rir_close(fits.m);
    CHECK(emu::live_device_bytes(1) == 0);
}

// What the check refuses, with the status rir_open would give, and nothing allocated.
TEST_CASE(the_memory_check_refuses_what_it_cannot_judge) {
    EmulatedNode node;
    const MemoryCheck cpu = check_memory("cpu"), autod = check_memory("auto");
    CHECK(cpu.status == RIR_ERR_DEVICE && cpu.need == 0 && cpu.free == 0);
    CHECK_MSG(cpu.error.find("checks CUDA devices") != std::string::npos && cpu.error.find("'cpu'") != std::string::npos,
              cpu.error);
    CHECK_MSG(autod.status == RIR_ERR_DEVICE && autod.error.find("'auto'") != std::string::npos, autod.error);
    const MemoryCheck missing = check_memory("cuda:4");
    CHECK_MSG(missing.status == RIR_ERR_DEVICE && missing.error.find("4 usable CUDA devices") != std::string::npos,
              missing.error);
    const MemoryCheck bad = check_memory("cuda:x");
    CHECK_MSG(bad.status == RIR_ERR_INVALID_ARGUMENT, bad.error);
    const MemoryCheck no_model = check_memory("cuda:0", model_dir() + "/no-such-folder");
    CHECK_MSG(no_model.status == RIR_ERR_IO && no_model.need == 0 && no_model.error.find("config.json") != std::string::npos,
              no_model.error);
    CHECK(rir_check_device_memory(nullptr, nullptr, nullptr, nullptr, 0) == RIR_ERR_INVALID_ARGUMENT);
    // need_bytes, free_bytes and error_buf may all be NULL.
    const std::string dir = model_dir();
    rir_open_options o;
    rir_open_options_init(&o);
    o.model_dir = dir.c_str();
    o.device = "cuda:3";
    CHECK(rir_check_device_memory(&o, nullptr, nullptr, nullptr, 0) == RIR_OK);
    o.max_batch_tokens = INT64_C(1) << 40;  // a budget the backend refuses, refused here alike
    char err[256] = {0};
    CHECK(rir_check_device_memory(&o, nullptr, nullptr, err, sizeof err) == RIR_ERR_INVALID_ARGUMENT);
    CHECK_MSG(std::string(err).find("too large") != std::string::npos, err);
    for (int d = 0; d < kDevices; ++d) CHECK_MSG(emu::live_device_bytes(d) == 0, "device " << d);
}

// How many launches an open and one embed of the test batch take on a device (for placing a fault inside an embed).
struct LaunchCounts {
    unsigned long long open = 0, embed = 0;
};
LaunchCounts count_launches(const FixtureSequences &s, int device) {
    LaunchCounts c;
    const unsigned long long t0 = emu::launches(device);
    Handle h = open_on(device);
    REQUIRE(h.status == RIR_OK);
    const unsigned long long t1 = emu::launches(device);
    rir_status st = RIR_OK;
    embed(h.m, s, &st);
    REQUIRE(st == RIR_OK);
    c.open = t1 - t0;
    c.embed = emu::launches(device) - t1;
    rir_close(h.m);
    return c;
}

// Checks a run in which device 2 fails with a sticky error at some round: handle 2 reports RIR_ERR_DEVICE naming
// the error, then "unusable"; every other handle's every round is the single-device result.
void check_poisoned_run(const Runs &r, const std::vector<float> &expected, int rounds, int first_failure_at_most) {
    for (int d = 0; d < kDevices; ++d) {
        if (d == 2) continue;
        for (int i = 0; i < rounds; ++i)
            CHECK_MSG(r.status[d][i] == RIR_OK &&
                          std::memcmp(r.out[d][i].data(), expected.data(), expected.size() * sizeof(float)) == 0,
                      "cuda:" << d << " round " << i << ": " << r.error[d][i]);
    }
    int failed_at = -1;
    for (int i = 0; i < rounds && failed_at < 0; ++i)
        if (r.status[2][i] != RIR_OK) failed_at = i;
    CHECK_MSG(failed_at >= 0 && failed_at <= first_failure_at_most, "device 2 failed at round " << failed_at);
    if (failed_at < 0) return;
    for (int i = 0; i < failed_at; ++i)  // before the fault: the same result as everywhere
        CHECK(std::memcmp(r.out[2][i].data(), expected.data(), expected.size() * sizeof(float)) == 0);
    CHECK(r.status[2][failed_at] == RIR_ERR_DEVICE);
    CHECK_MSG(r.error[2][failed_at].find("cudaErrorIllegalAddress") != std::string::npos, r.error[2][failed_at]);
    for (int i = failed_at + 1; i < rounds; ++i) {
        CHECK(r.status[2][i] == RIR_ERR_DEVICE);
        CHECK_MSG(r.error[2][i].find("unusable after an earlier CUDA error") != std::string::npos, r.error[2][i]);
    }
    CHECK(emu::sticky_error(2) == cudaErrorIllegalAddress);
    for (int d = 0; d < kDevices; ++d)
        if (d != 2) CHECK_MSG(emu::sticky_error(d) == cudaSuccess, "device " << d);
}

// A sticky fault on device 2 in the middle of an embed: handle 2 is poisoned, the other three keep producing the
// single-device result, before and after, from their threads.
TEST_CASE(a_sticky_fault_on_one_device_poisons_that_handle_only) {
    EmulatedNode node;
    const FixtureSequences s = batch();
    const LaunchCounts per = count_launches(s, 2);
    CHECK(per.open > 0 && per.embed > 0);
    std::printf("  launches on a device: open %llu, one embed of the batch %llu\n", per.open, per.embed);

    Handle ref = open_on(0);
    REQUIRE(ref.status == RIR_OK);
    rir_status st = RIR_OK;
    const std::vector<float> expected = embed(ref.m, s, &st);
    REQUIRE(st == RIR_OK);
    rir_close(ref.m);

    std::vector<Handle> handles;
    for (int d = 0; d < kDevices; ++d) handles.push_back(open_on(d));
    for (const Handle &h : handles) REQUIRE(h.status == RIR_OK);
    // The second embed on device 2 fails halfway (after one whole embed and half of the next one's launches).
    REQUIRE(emu::inject_error(2, cudaErrorIllegalAddress, per.embed + per.embed / 2));
    const int rounds = 3;
    const Runs r = embed_concurrently(handles, s, rounds);
    CHECK(!emu::fault_pending(2));
    check_poisoned_run(r, expected, rounds, 1);
    CHECK(r.status[2][0] == RIR_OK);
    close_from_another_thread(handles);  // closing the poisoned handle must neither touch its context nor crash
    for (int d = 0; d < kDevices; ++d)
        if (d != 2) CHECK_MSG(emu::live_device_bytes(d) == 0, "device " << d << " leaks");
}

// The same, configured by the environment of a fresh process as a Java test or a CLI run would: ctest runs this
// binary again with EMU_DEVICE_COUNT=4 and EMU_FAULT=2:<n>:cudaErrorIllegalAddress (see CMakeLists.txt), n placing
// the fault after the open and inside one of the first embeds.
TEST_CASE(a_fault_from_the_environment_poisons_its_device_only) {
    if (!configured_by_environment()) {
        std::printf("  (runs as ctest test_cuda_multi_device_emu_env, with the node and fault in the environment)\n");
        return;
    }
    const char *fault = std::getenv("EMU_FAULT");
    REQUIRE(fault && std::string(fault).rfind("2:", 0) == 0);
    REQUIRE(devices_for_test() == kDevices);
    CHECK(emu::fault_pending(2));
    const FixtureSequences s = batch();
    std::vector<Handle> handles;
    for (int d = 0; d < kDevices; ++d) handles.push_back(open_on(d));
    for (const Handle &h : handles) CHECK_MSG(h.status == RIR_OK, h.error);
    for (const Handle &h : handles) REQUIRE(h.m != nullptr);
    // The reference from device 0 (healthy whatever happens on device 2).
    rir_status st = RIR_OK;
    const std::vector<float> expected = embed(handles[0].m, s, &st);
    REQUIRE(st == RIR_OK);
    const int rounds = 4;
    const Runs r = embed_concurrently(handles, s, rounds);
    check_poisoned_run(r, expected, rounds, rounds - 2);
    close_from_another_thread(handles);
}
#endif

}  // namespace

int main() {
    require_gpu();
#if defined(REASONIR_CUDA_EMU)
    // Configured by the environment (ctest test_cuda_multi_device_emu_env): only the case written for it; the others
    // configure the emulator themselves, which would replace the environment's node and fault.
    if (configured_by_environment()) return check::run_all("environment");
#endif
    return check::run_all();
}
