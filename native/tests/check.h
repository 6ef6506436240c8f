// check.h: the minimal test harness shared by native/tests/test_*.cpp (one executable per file, run by ctest).
// CHECK records a failure and continues; REQUIRE stops the current test. main() = RUN_TESTS(...) prints
// "N passed, N failed" and exits non-zero on any failure.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace check {

struct Stop {};
inline int &failures() { static int n = 0; return n; }

inline void fail(const char *file, int line, const std::string &what) {
    std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
    ++failures();
}

struct Case { const char *name; std::function<void()> fn; };
inline std::vector<Case> &cases() { static std::vector<Case> c; return c; }
struct Register { Register(const char *n, std::function<void()> f) { cases().push_back({n, std::move(f)}); } };

inline std::string env_or_die(const char *name) {
    const char *v = std::getenv(name);
    if (!v || !*v) { std::fprintf(stderr, "environment variable %s is not set (run through ctest)\n", name); std::exit(2); }
    return v;
}

// filter: run only the cases whose name contains it (e.g. `test_cuda_ops attention`, for compute-sanitizer's racecheck
// on the attention kernels alone); a filter that matches nothing is a failure, not a silent pass.
inline int run_all(const char *filter = nullptr) {
    int passed = 0, failed = 0;
    for (auto &c : cases()) {
        if (filter && std::string(c.name).find(filter) == std::string::npos) continue;
        int before = failures();
        std::fprintf(stderr, "[ RUN  ] %s\n", c.name);
        try { c.fn(); } catch (const Stop &) {
        } catch (const std::exception &e) { fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what()); }
        bool ok = failures() == before;
        std::fprintf(stderr, "[ %s ] %s\n", ok ? " OK " : "FAIL", c.name);
        (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    if (passed + failed == 0) { std::fprintf(stderr, "no test case matches '%s'\n", filter ? filter : ""); return 1; }
    return failed ? 1 : 0;
}

}  // namespace check

#define TEST_CASE(name) \
    static void name(); \
    static check::Register name##_reg(#name, name); \
    static void name()
#define CHECK(cond) do { if (!(cond)) check::fail(__FILE__, __LINE__, #cond); } while (0)
#define REQUIRE(cond) do { if (!(cond)) { check::fail(__FILE__, __LINE__, #cond); throw check::Stop{}; } } while (0)
#define CHECK_MSG(cond, msg) do { if (!(cond)) { std::ostringstream os_; os_ << #cond << ": " << msg; \
    check::fail(__FILE__, __LINE__, os_.str()); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); if (!(std::fabs(a_ - b_) <= (tol))) { \
    std::ostringstream os_; os_ << #a " = " << a_ << " vs " #b " = " << b_ << " (tol " << (tol) << ")"; \
    check::fail(__FILE__, __LINE__, os_.str()); } } while (0)
// Expects `expr` to throw rir::Error with status `st` and a message containing `needle`.
#define CHECK_THROWS(expr, st, needle) do { bool thrown_ = false; try { expr; } catch (const rir::Error &e_) { \
    thrown_ = true; CHECK_MSG(e_.status() == (st), "status " << e_.status() << ", message: " << e_.what()); \
    CHECK_MSG(std::string(e_.what()).find(needle) != std::string::npos, "message '" << e_.what() \
        << "' lacks '" << needle << "'"); } \
    CHECK_MSG(thrown_, #expr " did not throw"); } while (0)
#define RUN_TESTS() int main() { return check::run_all(); }
