// test_json.cpp: the strict JSON parser (json.h): values, exact integers, escapes and UTF-8, every syntax error with
// its byte offset, duplicate keys, the depth / size / value-count limits, and file reading errors.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "check.h"
#include "error.h"
#include "json.h"

using rir::json::Value;

namespace {

Value parse(const std::string &s) { return rir::json::parse(s, "test.json"); }

// Expects a FORMAT error whose message is "test.json: JSON syntax error at byte <at>: ...<needle>...".
void expect_syntax_error(const std::string &text, size_t at, const std::string &needle) {
    std::string prefix = "test.json: JSON syntax error at byte " + std::to_string(at) + ": ";
    bool thrown = false;
    try {
        parse(text);
    } catch (const rir::Error &e) {
        thrown = true;
        std::string msg = e.what();
        CHECK_MSG(e.status() == RIR_ERR_FORMAT, "status " << e.status() << " for " << text);
        CHECK_MSG(msg.rfind(prefix, 0) == 0, "message '" << msg << "' does not start with '" << prefix << "'");
        CHECK_MSG(msg.find(needle) != std::string::npos, "message '" << msg << "' lacks '" << needle << "'");
    }
    CHECK_MSG(thrown, "no error for " << text);
}

}  // namespace

TEST_CASE(scalars) {
    CHECK(parse("null").is_null());
    CHECK(parse(" \t\r\n true \n").as_bool() == true);
    CHECK(parse("false").as_bool() == false);
    CHECK(parse("\"hi\"").as_string() == "hi");
    CHECK(parse("0").is_integer());
    CHECK(parse("-0").is_integer());
    CHECK(parse("1.5").as_double() == 1.5);
    CHECK(parse("-0.25e2").as_double() == -25.0);
    CHECK(parse("1E-5").as_double() == 1e-5);
    CHECK(parse("1e+3").as_double() == 1000.0);
    CHECK(!parse("1.0").is_integer());
    CHECK(!parse("1e2").is_integer());
    CHECK(parse("5e-324").as_double() > 0);  // smallest subnormal double
}

TEST_CASE(integers_are_exact) {
    int64_t i = 0;
    uint64_t u = 0;
    // 2^53 + 1 is not representable as a double: it must survive exactly.
    REQUIRE(parse("9007199254740993").get_int64(i));
    CHECK(i == 9007199254740993LL);
    REQUIRE(parse("9223372036854775807").get_int64(i));
    CHECK(i == std::numeric_limits<int64_t>::max());
    REQUIRE(parse("-9223372036854775808").get_int64(i));
    CHECK(i == std::numeric_limits<int64_t>::min());
    // Above INT64_MAX: only uint64 access works.
    Value big = parse("18446744073709551615");
    CHECK(big.is_integer());
    CHECK(!big.get_int64(i));
    REQUIRE(big.get_uint64(u));
    CHECK(u == std::numeric_limits<uint64_t>::max());
    REQUIRE(parse("9223372036854775808").get_uint64(u));
    CHECK(u == 9223372036854775808ULL);
    // Negative values have no uint64; values beyond 64 bits are doubles only.
    CHECK(!parse("-1").get_uint64(u));
    Value huge = parse("18446744073709551616");
    CHECK(!huge.is_integer());
    CHECK(!huge.get_uint64(u));
    CHECK(huge.as_double() == 18446744073709551616.0);
    CHECK(!parse("-9223372036854775809").get_int64(i));
    CHECK(!parse("1.0").get_int64(i));
    CHECK(!parse("\"1\"").get_int64(i));
}

TEST_CASE(string_escapes_and_utf8) {
    CHECK(parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
    CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
    // Surrogate pair U+1F600 -> F0 9F 98 80.
    CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
    CHECK(parse(R"("a\u0000b")").as_string() == std::string("a\0b", 3));
    // Raw multi-byte UTF-8 passes through.
    CHECK(parse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").as_string() == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    CHECK(parse("\"\xF4\x8F\xBF\xBF\"").as_string().size() == 4);  // U+10FFFF, the largest code point
}

TEST_CASE(arrays_and_objects) {
    Value v = parse(R"({"b": [1, 2, {"x": null}], "a": "s", "c": {}, "d": []})");
    REQUIRE(v.is_object());
    CHECK(v.size() == 4);
    CHECK(v.key(0) == "b");  // document order
    CHECK(v.key(3) == "d");
    REQUIRE(v.find("b") && v.find("b")->is_array());
    CHECK(v.find("b")->size() == 3);
    int64_t x = 0;
    CHECK(v.find("b")->at(1).get_int64(x) && x == 2);
    CHECK(v.find("b")->at(2).find("x")->is_null());
    CHECK(v.find("a")->as_string() == "s");
    CHECK(v.find("c")->is_object() && v.find("c")->size() == 0);
    CHECK(v.find("d")->is_array() && v.find("d")->size() == 0);
    CHECK(v.find("zz") == nullptr);
    CHECK(v.find("a")->find("a") == nullptr);  // find on a non-object
    CHECK(v.find("a")->offset() == 32);
    // Lookup in a larger object (binary search over sorted keys).
    std::string big = "{";
    for (int k = 0; k < 500; ++k) big += (k ? "," : "") + std::string("\"k") + std::to_string(k) + "\":" + std::to_string(k);
    big += "}";
    Value b = parse(big);
    for (int k = 0; k < 500; k += 37) CHECK(b.find("k" + std::to_string(k))->get_int64(x) && x == k);
}

TEST_CASE(syntax_errors_name_the_byte) {
    expect_syntax_error("", 0, "empty document");
    expect_syntax_error("   ", 3, "empty document");
    expect_syntax_error("[1,]", 3, "unexpected character ']'");
    expect_syntax_error("{\"a\":1,}", 7, "expected a string key");
    expect_syntax_error("{\"a\" 1}", 5, "expected ':'");
    expect_syntax_error("{a:1}", 1, "expected a string key");
    expect_syntax_error("[1 2]", 3, "expected ',' or ']'");
    expect_syntax_error("[1", 2, "unexpected end of input inside an array");
    expect_syntax_error("{\"a\":1", 6, "unexpected end of input inside an object");
    expect_syntax_error("01", 1, "leading zeros");
    expect_syntax_error("1.", 2, "after the decimal point");
    expect_syntax_error(".5", 0, "expected a value");
    expect_syntax_error("+1", 0, "expected a value");
    expect_syntax_error("-", 1, "expected a digit");
    expect_syntax_error("1e", 2, "exponent");
    expect_syntax_error("NaN", 0, "expected a value");
    expect_syntax_error("Infinity", 0, "expected a value");
    expect_syntax_error("[tru]", 1, "expected 'true'");
    expect_syntax_error("nul", 0, "expected 'null'");
    expect_syntax_error("{} x", 3, "after the JSON value");
    expect_syntax_error("1 2", 2, "after the JSON value");
    expect_syntax_error("\"abc", 0, "unterminated string");
    expect_syntax_error("\"a\nb\"", 2, "raw control character");
    expect_syntax_error("\"\\x\"", 1, "invalid escape");
    expect_syntax_error("\"\\u12G4\"", 5, "invalid hex digit");
    expect_syntax_error("\"\\u12\"", 3, "truncated \\u escape");
    expect_syntax_error("\"\\udc00\"", 1, "lone low surrogate");
    expect_syntax_error("\"\\ud800\"", 1, "not followed by a low surrogate");
    expect_syntax_error("\"\\ud800\\u0041\"", 7, "non-low-surrogate");
    expect_syntax_error("\"\xC0\x80\"", 1, "invalid UTF-8");          // overlong NUL
    expect_syntax_error("\"\xED\xA0\x80\"", 1, "invalid UTF-8");      // encoded surrogate
    expect_syntax_error("\"\xF4\x90\x80\x80\"", 1, "invalid UTF-8");  // above U+10FFFF
    expect_syntax_error("\"\xE2\x82\"", 1, "invalid UTF-8");          // truncated sequence
    expect_syntax_error("\xEF\xBB\xBF{}", 0, "byte order mark");
    expect_syntax_error("// c\n{}", 0, "expected a value");
    expect_syntax_error("['a']", 1, "expected a value");
    expect_syntax_error("1e400", 0, "out of the range of a double");
    expect_syntax_error("{\"k\":1,\"j\":2,\"k\":3}", 13, "duplicate object key 'k'");
}

TEST_CASE(where_prefixes_the_message) {
    CHECK_THROWS(rir::json::parse("[", "/some/dir/config.json"), RIR_ERR_FORMAT,
                 "/some/dir/config.json: JSON syntax error at byte 1");
}

TEST_CASE(depth_limit) {
    std::string ok(128, '['), bad(129, '[');
    ok += std::string(128, ']');
    bad += std::string(129, ']');
    CHECK(parse(ok).is_array());
    expect_syntax_error(bad, 128, "nesting deeper than 128 levels");
    // A hostile document far deeper than the stack could take fails cleanly at the limit.
    expect_syntax_error(std::string(1000000, '['), 128, "nesting deeper");
    expect_syntax_error(std::string(1000000, '{'), 1, "expected a string key");
    std::string objs;
    for (int k = 0; k < 200000; ++k) objs += "{\"a\":";
    expect_syntax_error(objs, 128 * 5, "nesting deeper");
}

TEST_CASE(size_and_value_limits) {
    rir::json::Limits lim;
    lim.max_values = 10;
    CHECK(rir::json::parse("[1,2,3,4,5,6,7,8,9]", "x", lim).size() == 9);  // 10 values including the array
    CHECK_THROWS(rir::json::parse("[1,2,3,4,5,6,7,8,9,10]", "x", lim), RIR_ERR_FORMAT, "more than 10 values");
    CHECK_THROWS(rir::json::parse("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}", "x", lim), RIR_ERR_FORMAT,
                 "more than 10 values");  // keys count too
    lim = rir::json::Limits();
    lim.max_bytes = 4;
    CHECK_THROWS(rir::json::parse("[1, 2]", "x", lim), RIR_ERR_FORMAT, "x: JSON text is 6 bytes, more than the limit of 4");
}

TEST_CASE(describe_and_quote) {
    CHECK(parse("\"ab\"").describe() == "string 'ab'");
    CHECK(parse("12").describe() == "number 12");
    CHECK(parse("0.5").describe() == "number 0.5");
    CHECK(parse("true").describe() == "true");
    CHECK(parse("[]").describe() == "array");
    CHECK(rir::json::quote("a\nb") == "'a\\x0ab'");
    CHECK(rir::json::quote("abcdef", 3) == "'abc'...");
}

TEST_CASE(wrong_type_access_is_internal_error) {
    CHECK_THROWS(parse("1").as_string(), RIR_ERR_INTERNAL, "is number, not string");
    CHECK_THROWS(parse("[]").at(0), RIR_ERR_INTERNAL, "out of range");
    CHECK_THROWS(parse("{}").as_bool(), RIR_ERR_INTERNAL, "is object, not boolean");
}

TEST_CASE(files) {
    namespace fs = std::filesystem;
    fs::path dir = fs::path(check::env_or_die("REASONIR_SCRATCH")) / "test_json";
    fs::create_directories(dir);
    std::string missing = (dir / "nope.json").string();
    CHECK_THROWS(rir::json::read_file(missing), RIR_ERR_IO, missing + ": cannot open: No such file or directory");
    CHECK_THROWS(rir::json::read_file(dir.string()), RIR_ERR_IO, "not a regular file");
    std::string good = (dir / "good.json").string();
    { std::ofstream(good) << "{\"n\": [1, 2.5]}\n"; }
    Value v = rir::json::parse_file(good);
    CHECK(v.find("n")->at(1).as_double() == 2.5);
    std::string bad = (dir / "bad.json").string();
    { std::ofstream(bad) << "{\"n\": [1, 2.5}\n"; }
    CHECK_THROWS(rir::json::parse_file(bad), RIR_ERR_FORMAT, bad + ": JSON syntax error at byte 13");
    CHECK_THROWS(rir::json::read_file(good, 3), RIR_ERR_IO, "more than the limit of 3");
}

RUN_TESTS()
