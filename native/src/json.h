// json.h: a small strict JSON parser (RFC 8259) for config.json, safetensors headers, shard indexes and test inputs.
//
// Strict means: exactly one value plus surrounding whitespace, no comments, no trailing commas, no NaN/Infinity, no
// byte order mark, strings must be valid UTF-8 without raw control characters, lone surrogates in \u escapes are
// rejected, and an object may not repeat a key (a repeated tensor name in a safetensors header would be ambiguous).
// Integer tokens are kept exactly as int64/uint64 (safetensors offsets and shapes never go through a double).
// Hostile input is bounded: nesting depth, input size and the number of values are limited (Limits), so neither
// the stack nor the heap can be exhausted by a small file.
//
// Errors: rir::Error(RIR_ERR_FORMAT, "<where>: JSON syntax error at byte N: <what>"), N counted from 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rir {
namespace json {

enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

// "null", "boolean", "number", "string", "array", "object".
const char *type_name(Type t);

struct Limits {
    // Largest accepted text. The safetensors reference rejects headers above 100,000,000 bytes; config files and
    // shard indexes are a few kB. 128 MiB covers both with room.
    size_t max_bytes = size_t(128) << 20;
    // Deepest nesting of arrays/objects. Real inputs nest at most 3 levels; 128 keeps recursion far from the stack
    // limit even on small thread stacks (each level uses well under 1 kB).
    int max_depth = 128;
    // Most values (scalars, keys, containers) in one document. A safetensors header holds about 10 values per
    // tensor and a shard index 2 per tensor, so 1M values allow 100k tensors (ReasonIR-8B has 291; the largest public
    // checkpoints about 90k) while bounding the parsed tree to roughly 100 MB for the most hostile input.
    size_t max_values = size_t(1) << 20;
};

class Value {
public:
    Value() = default;  // null

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_number() const { return type_ == Type::Number; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }
    // A number token without fraction or exponent whose value fits int64 or uint64.
    bool is_integer() const { return type_ == Type::Number && num_ != NumKind::Double; }

    // Byte offset of the value's first character in the parsed text (for error messages).
    size_t offset() const { return offset_; }

    // Typed access. Calling one on a value of another type is a programming error: rir::Error(RIR_ERR_INTERNAL).
    bool as_bool() const;
    double as_double() const;  // any number; an integer token is converted to the nearest double
    const std::string &as_string() const;

    // Exact integer access: true and the value when the token is an integer in range, false otherwise.
    bool get_int64(int64_t &out) const;
    bool get_uint64(uint64_t &out) const;

    // Arrays and objects: number of elements / members (0 for other types).
    size_t size() const;
    // Array element i (i < size()).
    const Value &at(size_t i) const;
    // Object member i in document order (i < size()).
    const std::string &key(size_t i) const;
    const Value &value(size_t i) const;
    // Object member by key; nullptr when absent or when this is not an object. O(log n).
    const Value *find(std::string_view key) const;

    // Short human-readable rendering for messages: `string "abc"`, `number 1.5`, `true`, `array`, ...
    std::string describe() const;

private:
    friend class Parser;
    enum class NumKind : uint8_t { Int64, UInt64, Double };
    struct Object;  // member keys and values
    const std::string &str() const { return *static_cast<const std::string *>(c_.get()); }
    const std::vector<Value> &arr() const { return *static_cast<const std::vector<Value> *>(c_.get()); }
    const Object &obj() const { return *static_cast<const Object *>(c_.get()); }

    Type type_ = Type::Null;
    NumKind num_ = NumKind::Double;
    size_t offset_ = 0;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
    } n_{};
    // String: std::string; Array: std::vector<Value>; Object: Object. Shared so that Values copy cheaply; immutable
    // after parsing.
    std::shared_ptr<const void> c_;
};

// Parses `text`. `where` (usually a file name) prefixes every error message.
Value parse(std::string_view text, const std::string &where, const Limits &limits = Limits());

// Reads a whole file (at most max_bytes) into a string. RIR_ERR_IO naming the path and the errno text on failure.
// Only a regular file is read: a FIFO, directory or device is refused ("<path>: is not a regular file (it is a
// FIFO)") without blocking (opened with O_NONBLOCK, checked with fstat on the open descriptor).
std::string read_file(const std::string &path, size_t max_bytes = Limits().max_bytes);

// read_file + parse with `path` as `where`.
Value parse_file(const std::string &path, const Limits &limits = Limits());

// Quotes untrusted text for an error message: wraps it in single quotes, escapes control and non-ASCII bytes as
// \xNN and cuts it after max_chars characters (adding "...").
std::string quote(std::string_view s, size_t max_chars = 120);

}  // namespace json
}  // namespace rir
