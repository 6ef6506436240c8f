// json.cpp: the strict JSON parser of json.h (recursive descent over a string_view, no copies of the input).
#include "json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <locale>
#include <sstream>

#include "error.h"
#include "safetensors.h"

namespace rir {
namespace json {

struct Value::Object {
    std::vector<std::string> keys;  // member keys in document order
    std::vector<Value> items;       // member values, parallel to keys
    std::vector<uint32_t> order;    // indices of keys sorted by key (binary search in find)
};

const char *type_name(Type t) {
    switch (t) {
        case Type::Null: return "null";
        case Type::Bool: return "boolean";
        case Type::Number: return "number";
        case Type::String: return "string";
        case Type::Array: return "array";
        case Type::Object: return "object";
    }
    return "?";
}

namespace {

[[noreturn]] void misuse(const Value &v, const char *wanted) {
    throw Error(RIR_ERR_INTERNAL, std::string("JSON value at byte ") + std::to_string(v.offset()) + " is " +
                                      type_name(v.type()) + ", not " + wanted);
}

}  // namespace

bool Value::as_bool() const {
    if (type_ != Type::Bool) misuse(*this, "boolean");
    return n_.b;
}

double Value::as_double() const {
    if (type_ != Type::Number) misuse(*this, "number");
    switch (num_) {
        case NumKind::Int64: return static_cast<double>(n_.i);
        case NumKind::UInt64: return static_cast<double>(n_.u);
        case NumKind::Double: return n_.d;
    }
    return n_.d;
}

const std::string &Value::as_string() const {
    if (type_ != Type::String) misuse(*this, "string");
    return str();
}

bool Value::get_int64(int64_t &out) const {
    if (type_ != Type::Number) return false;
    if (num_ == NumKind::Int64) { out = n_.i; return true; }
    return false;  // UInt64 values are above INT64_MAX by construction; Double is not an exact integer
}

bool Value::get_uint64(uint64_t &out) const {
    if (type_ != Type::Number) return false;
    if (num_ == NumKind::UInt64) { out = n_.u; return true; }
    if (num_ == NumKind::Int64 && n_.i >= 0) { out = static_cast<uint64_t>(n_.i); return true; }
    return false;
}

size_t Value::size() const {
    if (type_ == Type::Array) return arr().size();
    if (type_ == Type::Object) return obj().items.size();
    return 0;
}

const Value &Value::at(size_t i) const {
    if (type_ != Type::Array) misuse(*this, "array");
    if (i >= arr().size()) throw Error(RIR_ERR_INTERNAL, "JSON array index " + std::to_string(i) + " out of range");
    return arr()[i];
}

const std::string &Value::key(size_t i) const {
    if (type_ != Type::Object) misuse(*this, "object");
    if (i >= obj().keys.size()) throw Error(RIR_ERR_INTERNAL, "JSON member index " + std::to_string(i) + " out of range");
    return obj().keys[i];
}

const Value &Value::value(size_t i) const {
    if (type_ != Type::Object) misuse(*this, "object");
    if (i >= obj().items.size()) throw Error(RIR_ERR_INTERNAL, "JSON member index " + std::to_string(i) + " out of range");
    return obj().items[i];
}

const Value *Value::find(std::string_view key) const {
    if (type_ != Type::Object) return nullptr;
    const Object &o = obj();
    auto it = std::lower_bound(o.order.begin(), o.order.end(), key,
                               [&](uint32_t idx, std::string_view k) { return std::string_view(o.keys[idx]) < k; });
    if (it == o.order.end() || o.keys[*it] != key) return nullptr;
    return &o.items[*it];
}

std::string Value::describe() const {
    switch (type_) {
        case Type::Null: return "null";
        case Type::Bool: return n_.b ? "true" : "false";
        case Type::Number: {
            if (num_ == NumKind::Int64) return "number " + std::to_string(n_.i);
            if (num_ == NumKind::UInt64) return "number " + std::to_string(n_.u);
            char buf[40];
            std::snprintf(buf, sizeof buf, "%.17g", n_.d);
            return std::string("number ") + buf;
        }
        case Type::String: return "string " + quote(str(), 60);
        case Type::Array: return "array";
        case Type::Object: return "object";
    }
    return "?";
}

std::string quote(std::string_view s, size_t max_chars) {
    std::string out = "'";
    size_t n = 0;
    for (unsigned char ch : s) {
        if (n == max_chars) { out += "'..."; return out; }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            out += static_cast<char>(ch);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", ch);
            out += buf;
        }
        ++n;
    }
    out += "'";
    return out;
}

class Parser {
public:
    Parser(std::string_view text, const std::string &where, const Limits &limits)
        : s_(text), where_(where), limits_(limits) {}

    Value run() {
        if (s_.size() > limits_.max_bytes)
            throw Error(RIR_ERR_FORMAT, where_ + ": JSON text is " + std::to_string(s_.size()) +
                                            " bytes, more than the limit of " + std::to_string(limits_.max_bytes));
        if (s_.size() >= 3 && static_cast<unsigned char>(s_[0]) == 0xEF && static_cast<unsigned char>(s_[1]) == 0xBB &&
            static_cast<unsigned char>(s_[2]) == 0xBF)
            fail(0, "byte order mark (U+FEFF) not allowed");
        skip_ws();
        if (pos_ == s_.size()) fail(pos_, "empty document, expected a value");
        Value v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size()) fail(pos_, "unexpected " + what_here() + " after the JSON value");
        return v;
    }

private:
    std::string_view s_;
    const std::string &where_;
    const Limits &limits_;
    size_t pos_ = 0;
    size_t values_ = 0;

    [[noreturn]] void fail(size_t at, const std::string &what) const {
        throw Error(RIR_ERR_FORMAT, where_ + ": JSON syntax error at byte " + std::to_string(at) + ": " + what);
    }

    // Describes the byte at pos_ for a message.
    std::string what_here() const {
        if (pos_ >= s_.size()) return "end of input";
        unsigned char c = static_cast<unsigned char>(s_[pos_]);
        char buf[24];
        if (c >= 0x21 && c < 0x7f) std::snprintf(buf, sizeof buf, "character '%c'", c);
        else std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
        return buf;
    }

    void skip_ws() {
        while (pos_ < s_.size()) {
            char c = s_[pos_];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++pos_;
            else break;
        }
    }

    void count_value(size_t at) {
        if (++values_ > limits_.max_values)
            fail(at, "more than " + std::to_string(limits_.max_values) + " values (limit)");
    }

    Value parse_value(int depth) {
        size_t start = pos_;
        count_value(start);
        if (pos_ >= s_.size()) fail(pos_, "unexpected end of input, expected a value");
        char c = s_[pos_];
        Value v;
        v.offset_ = start;
        switch (c) {
            case '{': parse_object(v, depth + 1); break;
            case '[': parse_array(v, depth + 1); break;
            case '"': {
                auto text = std::make_shared<std::string>();
                parse_string(*text);
                v.type_ = Type::String;
                v.c_ = std::move(text);
                break;
            }
            case 't': literal("true"); v.type_ = Type::Bool; v.n_.b = true; break;
            case 'f': literal("false"); v.type_ = Type::Bool; v.n_.b = false; break;
            case 'n': literal("null"); break;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) parse_number(v);
                else fail(pos_, "unexpected " + what_here() + ", expected a value");
        }
        return v;
    }

    void literal(const char *word) {
        size_t n = std::strlen(word);
        if (s_.substr(pos_, n) != word) fail(pos_, std::string("invalid literal, expected '") + word + "'");
        pos_ += n;
    }

    void enter(int depth) const {
        if (depth > limits_.max_depth)
            fail(pos_, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels (limit)");
    }

    void parse_array(Value &v, int depth) {
        enter(depth);
        auto items = std::make_shared<std::vector<Value>>();
        ++pos_;  // '['
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
        } else {
            for (;;) {
                skip_ws();
                items->push_back(parse_value(depth));
                skip_ws();
                if (pos_ >= s_.size()) fail(pos_, "unexpected end of input inside an array, expected ',' or ']'");
                if (s_[pos_] == ',') { ++pos_; continue; }
                if (s_[pos_] == ']') { ++pos_; break; }
                fail(pos_, "unexpected " + what_here() + " inside an array, expected ',' or ']'");
            }
        }
        items->shrink_to_fit();
        v.type_ = Type::Array;
        v.c_ = std::move(items);
    }

    void parse_object(Value &v, int depth) {
        enter(depth);
        auto comp = std::make_shared<Value::Object>();
        std::vector<size_t> key_at;  // key offsets, for the duplicate-key message
        ++pos_;  // '{'
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
        } else {
            for (;;) {
                skip_ws();
                if (pos_ >= s_.size()) fail(pos_, "unexpected end of input inside an object, expected a key");
                if (s_[pos_] != '"') fail(pos_, "unexpected " + what_here() + " inside an object, expected a string key");
                key_at.push_back(pos_);
                count_value(pos_);
                comp->keys.emplace_back();
                parse_string(comp->keys.back());
                skip_ws();
                if (pos_ >= s_.size() || s_[pos_] != ':')
                    fail(pos_, "unexpected " + what_here() + " after an object key, expected ':'");
                ++pos_;
                skip_ws();
                comp->items.push_back(parse_value(depth));
                skip_ws();
                if (pos_ >= s_.size()) fail(pos_, "unexpected end of input inside an object, expected ',' or '}'");
                if (s_[pos_] == ',') { ++pos_; continue; }
                if (s_[pos_] == '}') { ++pos_; break; }
                fail(pos_, "unexpected " + what_here() + " inside an object, expected ',' or '}'");
            }
        }
        // max_values (< 2^32 by construction of Limits use) bounds the member count; check anyway for uint32 indices.
        if (comp->keys.size() > std::numeric_limits<uint32_t>::max()) fail(v.offset_, "object has too many members");
        comp->order.resize(comp->keys.size());
        for (size_t i = 0; i < comp->order.size(); ++i) comp->order[i] = static_cast<uint32_t>(i);
        const auto &keys = comp->keys;
        std::stable_sort(comp->order.begin(), comp->order.end(),
                         [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
        for (size_t i = 1; i < comp->order.size(); ++i) {
            if (keys[comp->order[i]] == keys[comp->order[i - 1]])
                fail(key_at[comp->order[i]], "duplicate object key " + quote(keys[comp->order[i]]));
        }
        comp->keys.shrink_to_fit();
        comp->items.shrink_to_fit();
        v.type_ = Type::Object;
        v.c_ = std::move(comp);
    }

    static int hex_digit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // Reads the 4 hex digits of a \u escape starting at pos_ (just after "\u").
    uint32_t read_hex4() {
        if (s_.size() - pos_ < 4) fail(pos_, "truncated \\u escape");
        uint32_t cp = 0;
        for (int k = 0; k < 4; ++k) {
            int d = hex_digit(s_[pos_ + k]);
            if (d < 0) fail(pos_ + k, "invalid hex digit in \\u escape");
            cp = cp * 16 + static_cast<uint32_t>(d);
        }
        pos_ += 4;
        return cp;
    }

    static void append_utf8(std::string &out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // Length of the valid UTF-8 sequence (2..4 bytes) starting at pos_ with lead byte c >= 0x80, or 0 if invalid
    // (RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF).
    size_t utf8_sequence() const {
        auto at = [&](size_t k) -> unsigned { return pos_ + k < s_.size() ? static_cast<unsigned char>(s_[pos_ + k]) : 0u; };
        unsigned c = at(0);
        auto cont = [](unsigned b) { return (b & 0xC0u) == 0x80u; };
        if (c >= 0xC2 && c <= 0xDF) return cont(at(1)) ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
            unsigned b1 = at(1);
            unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            return (b1 >= lo && b1 <= hi && cont(at(2))) ? 3 : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
            unsigned b1 = at(1);
            unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            return (b1 >= lo && b1 <= hi && cont(at(2)) && cont(at(3))) ? 4 : 0;
        }
        return 0;
    }

    // Parses a string token at pos_ (on the opening quote) into out.
    void parse_string(std::string &out) {
        size_t open = pos_;
        ++pos_;
        for (;;) {
            // Copy the longest run of plain bytes in one go.
            size_t run = pos_;
            while (run < s_.size()) {
                unsigned char c = static_cast<unsigned char>(s_[run]);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++run;
            }
            out.append(s_.data() + pos_, run - pos_);
            pos_ = run;
            if (pos_ >= s_.size()) fail(open, "unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') { ++pos_; return; }
            if (c < 0x20) fail(pos_, "raw control character in a string (must be escaped)");
            if (c >= 0x80) {
                size_t n = utf8_sequence();
                if (n == 0) fail(pos_, "invalid UTF-8 in a string");
                out.append(s_.data() + pos_, n);
                pos_ += n;
                continue;
            }
            // Backslash escape.
            size_t esc = pos_;
            if (++pos_ >= s_.size()) fail(esc, "unterminated escape sequence");
            char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = read_hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail(esc, "lone low surrogate in \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                            fail(esc, "high surrogate in \\u escape not followed by a low surrogate");
                        size_t esc2 = pos_;
                        pos_ += 2;
                        uint32_t lo = read_hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail(esc2, "high surrogate followed by a non-low-surrogate escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail(esc, "invalid escape sequence");
            }
        }
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    void parse_number(Value &v) {
        size_t start = pos_;
        bool negative = false;
        if (s_[pos_] == '-') { negative = true; ++pos_; }
        if (pos_ >= s_.size() || !is_digit(s_[pos_])) fail(pos_, "expected a digit in a number");
        if (s_[pos_] == '0') {
            ++pos_;
            if (pos_ < s_.size() && is_digit(s_[pos_])) fail(pos_, "leading zeros are not allowed in a number");
        } else {
            while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
        }
        size_t int_end = pos_;
        bool integral = true;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            ++pos_;
            if (pos_ >= s_.size() || !is_digit(s_[pos_])) fail(pos_, "expected a digit after the decimal point");
            while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (pos_ >= s_.size() || !is_digit(s_[pos_])) fail(pos_, "expected a digit in the exponent");
            while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
        }
        v.type_ = Type::Number;
        if (integral) {
            // Exact: accumulate the magnitude in uint64 with overflow detection.
            uint64_t mag = 0;
            bool overflow = false;
            for (size_t k = start + (negative ? 1 : 0); k < int_end; ++k) {
                uint64_t d = static_cast<uint64_t>(s_[k] - '0');
                if (mag > (std::numeric_limits<uint64_t>::max() - d) / 10) { overflow = true; break; }
                mag = mag * 10 + d;
            }
            if (!overflow) {
                const uint64_t int64_max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
                if (!negative && mag <= int64_max) { v.num_ = Value::NumKind::Int64; v.n_.i = static_cast<int64_t>(mag); return; }
                if (!negative) { v.num_ = Value::NumKind::UInt64; v.n_.u = mag; return; }
                if (mag <= int64_max + 1) {
                    v.num_ = Value::NumKind::Int64;
                    v.n_.i = mag == int64_max + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(mag);
                    return;
                }
            }
            // Integer beyond 64 bits: only its nearest double is kept (is_integer() is false).
        }
        v.num_ = Value::NumKind::Double;
        v.n_.d = to_double(start, pos_);
    }

    double to_double(size_t begin, size_t end) const {
        double d = 0;
#if defined(__cpp_lib_to_chars) || (defined(__GLIBCXX__) && _GLIBCXX_RELEASE >= 11)
        auto r = std::from_chars(s_.data() + begin, s_.data() + end, d);
        if (r.ec == std::errc::result_out_of_range) fail(begin, "number out of the range of a double");
        if (r.ec != std::errc() || r.ptr != s_.data() + end) fail(begin, "malformed number");
#else
        // Locale-independent fallback for standard libraries without floating-point from_chars.
        std::istringstream in(std::string(s_.substr(begin, end - begin)));
        in.imbue(std::locale::classic());
        in >> d;
        if (in.fail()) fail(begin, "number out of the range of a double");
#endif
        return d;
    }
};

Value parse(std::string_view text, const std::string &where, const Limits &limits) {
    return Parser(text, where, limits).run();
}

std::string read_file(const std::string &path, size_t max_bytes) {
    // Opened with O_NONBLOCK and checked with fstat on the descriptor (safetensors.h, open_regular_file): a FIFO or a
    // directory in place of config.json or the shard index is refused at once, never waited on.
    uint64_t size = 0;
    int fd = open_regular_file(path, size);
    struct FdGuard { int fd; ~FdGuard() { ::close(fd); } } guard{fd};
    if (size > max_bytes)
        throw Error(RIR_ERR_IO, path + ": file is " + std::to_string(size) + " bytes, more than the limit of " +
                                    std::to_string(max_bytes));
    std::string out(static_cast<size_t>(size), '\0');
    size_t got = 0;
    while (got < out.size()) {
        ssize_t r = ::read(fd, &out[got], out.size() - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw Error(RIR_ERR_IO, path + ": read failed at byte " + std::to_string(got) + ": " + std::strerror(errno));
        }
        if (r == 0) break;  // the file shrank while reading: use what is there
        got += static_cast<size_t>(r);
    }
    out.resize(got);
    return out;
}

Value parse_file(const std::string &path, const Limits &limits) {
    return parse(read_file(path, limits.max_bytes), path, limits);
}

}  // namespace json
}  // namespace rir
