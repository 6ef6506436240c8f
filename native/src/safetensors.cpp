// safetensors.cpp: safetensors header validation, shard index parsing and MappedFile (see safetensors.h).
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "error.h"
#include "json.h"

namespace rir {

// ---------------------------------------------------------------------------------------------------------------
// MappedFile

namespace {

const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a plain file";
}

}  // namespace

int open_regular_file(const std::string &path, uint64_t &size) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. The type is checked with
    // fstat on this very descriptor (not stat before open), so the check and the use concern the same file.
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw Error(RIR_ERR_IO, path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error(RIR_ERR_IO, path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(RIR_ERR_IO, path + ": is not a regular file (it is " + file_kind(st.st_mode) + ")");
    }
    size = static_cast<uint64_t>(st.st_size);
    return fd;
}

ReadOnlyFile::ReadOnlyFile(const std::string &path) : path_(path) { fd_ = open_regular_file(path, size_); }

ReadOnlyFile::~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
}

void ReadOnlyFile::read_at(uint64_t offset, void *dst, uint64_t length) const {
    uint8_t *out = static_cast<uint8_t *>(dst);
    uint64_t done = 0;
    while (done < length) {
        // Large reads in pieces of at most 1 GiB (Linux returns at most ~2 GiB per call anyway).
        size_t want = static_cast<size_t>(std::min<uint64_t>(length - done, uint64_t(1) << 30));
        ssize_t r = ::pread(fd_, out + done, want, static_cast<off_t>(offset + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            throw Error(RIR_ERR_IO, path_ + ": read of bytes " + std::to_string(offset) + ".." +
                                        std::to_string(offset + length) + " failed at byte " +
                                        std::to_string(offset + done) + ": " + std::strerror(errno));
        }
        if (r == 0)
            throw Error(RIR_ERR_IO, path_ + ": file ends at byte " + std::to_string(offset + done) + " while reading bytes " +
                                        std::to_string(offset) + ".." + std::to_string(offset + length) +
                                        " (it was " + std::to_string(size_) + " bytes when opened: truncated meanwhile?)");
        done += static_cast<uint64_t>(r);
    }
}

MappedFile::MappedFile(const std::string &path) : path_(path) {
    uint64_t size = 0;
    int fd = open_regular_file(path, size);
    if (size > std::numeric_limits<size_t>::max()) {
        ::close(fd);
        throw Error(RIR_ERR_IO, path + ": file of " + std::to_string(size) + " bytes cannot be mapped on this platform");
    }
    if (size > 0) {
        void *p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            throw Error(RIR_ERR_IO, path + ": cannot map " + std::to_string(size) + " bytes: " + std::strerror(e));
        }
        data_ = static_cast<const uint8_t *>(p);
    }
    size_ = size;
    ::close(fd);  // the mapping keeps the file referenced
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), static_cast<size_t>(size_));
}

void MappedFile::will_need(uint64_t offset, uint64_t length) const {
    if (!data_ || offset >= size_) return;
    length = std::min(length, size_ - offset);
    // madvise needs a page-aligned start.
    long page = ::sysconf(_SC_PAGESIZE);
    uint64_t ps = page > 0 ? static_cast<uint64_t>(page) : 4096;
    uint64_t start = offset / ps * ps;
    ::madvise(const_cast<uint8_t *>(data_) + start, static_cast<size_t>(length + (offset - start)), MADV_WILLNEED);
}

namespace safetensors {

// ---------------------------------------------------------------------------------------------------------------
// dtypes

namespace {

struct DTypeInfo {
    DType type;
    const char *name;
    unsigned bits;
};

// Names and widths as defined by the safetensors format (huggingface/safetensors, Dtype).
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 8},       {DType::U8, "U8", 8},           {DType::I8, "I8", 8},
    {DType::F8_E5M2, "F8_E5M2", 8}, {DType::F8_E4M3, "F8_E4M3", 8}, {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::I16, "I16", 16},        {DType::U16, "U16", 16},        {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},      {DType::I32, "I32", 32},        {DType::U32, "U32", 32},
    {DType::F32, "F32", 32},        {DType::F64, "F64", 64},        {DType::C64, "C64", 64},
    {DType::I64, "I64", 64},        {DType::U64, "U64", 64},        {DType::F4, "F4", 4},
    {DType::F6_E2M3, "F6_E2M3", 6}, {DType::F6_E3M2, "F6_E3M2", 6},
};

const DTypeInfo &info(DType t) {
    for (const auto &d : kDTypes)
        if (d.type == t) return d;
    throw Error(RIR_ERR_INTERNAL, "unknown safetensors dtype enum value " + std::to_string(static_cast<int>(t)));
}

}  // namespace

const char *dtype_name(DType t) { return info(t).name; }
unsigned dtype_bits(DType t) { return info(t).bits; }

bool dtype_from_name(const std::string &name, DType &out) {
    for (const auto &d : kDTypes) {
        if (name == d.name) {
            out = d.type;
            return true;
        }
    }
    return false;
}

std::string TensorInfo::shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

const TensorInfo *Header::find(const std::string &name) const {
    auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                               [](const TensorInfo &t, const std::string &n) { return t.name < n; });
    return it != tensors.end() && it->name == name ? &*it : nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// Header

namespace {

std::string range_str(uint64_t a, uint64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; }

// Validates one header entry (everything except the range against the file and overlaps).
TensorInfo parse_entry(const std::string &name, const json::Value &entry, const std::string &where) {
    std::string ctx = where + ": tensor " + json::quote(name) + " (header byte " + std::to_string(8 + entry.offset()) + ")";
    if (!entry.is_object())
        throw Error(RIR_ERR_FORMAT, ctx + ": entry is " + entry.describe() + ", expected an object with dtype, shape "
                                          "and data_offsets");
    TensorInfo t;
    t.name = name;

    const json::Value *dtype = entry.find("dtype");
    if (!dtype) throw Error(RIR_ERR_FORMAT, ctx + ": missing 'dtype'");
    if (!dtype->is_string()) throw Error(RIR_ERR_FORMAT, ctx + ": 'dtype' is " + dtype->describe() + ", expected a string");
    if (!dtype_from_name(dtype->as_string(), t.dtype))
        throw Error(RIR_ERR_FORMAT, ctx + ": unknown dtype " + json::quote(dtype->as_string()));

    const json::Value *shape = entry.find("shape");
    if (!shape) throw Error(RIR_ERR_FORMAT, ctx + ": missing 'shape'");
    if (!shape->is_array()) throw Error(RIR_ERR_FORMAT, ctx + ": 'shape' is " + shape->describe() + ", expected an array");
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < shape->size(); ++i) {
        uint64_t d;
        if (!shape->at(i).get_uint64(d))
            throw Error(RIR_ERR_FORMAT, ctx + ": shape[" + std::to_string(i) + "] is " + shape->at(i).describe() +
                                            ", expected a non-negative integer");
        t.shape.push_back(d);
        if (__builtin_mul_overflow(numel, d, &numel)) overflow = true;
    }
    // A zero dim makes the product 0 even if an earlier partial product overflowed; that tensor is legitimately empty.
    bool has_zero = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
    if (has_zero) numel = 0, overflow = false;
    if (overflow) throw Error(RIR_ERR_FORMAT, ctx + ": shape " + t.shape_str() + " has more elements than fit in 64 bits");
    t.numel = numel;

    const json::Value *offs = entry.find("data_offsets");
    if (!offs) throw Error(RIR_ERR_FORMAT, ctx + ": missing 'data_offsets'");
    if (!offs->is_array() || offs->size() != 2)
        throw Error(RIR_ERR_FORMAT, ctx + ": 'data_offsets' must be an array of 2 integers [begin, end], found " +
                                        (offs->is_array() ? "an array of " + std::to_string(offs->size()) : offs->describe()));
    for (size_t i = 0; i < 2; ++i) {
        uint64_t v;
        if (!offs->at(i).get_uint64(v))
            throw Error(RIR_ERR_FORMAT, ctx + ": data_offsets[" + std::to_string(i) + "] is " + offs->at(i).describe() +
                                            ", expected a non-negative integer");
        (i == 0 ? t.begin : t.end) = v;
    }
    if (t.end < t.begin)
        throw Error(RIR_ERR_FORMAT, ctx + ": data_offsets " + range_str(t.begin, t.end) + " end before they begin");
    t.nbytes = t.end - t.begin;

    unsigned bits = dtype_bits(t.dtype);
    uint64_t total_bits;
    if (__builtin_mul_overflow(t.numel, static_cast<uint64_t>(bits), &total_bits))
        throw Error(RIR_ERR_FORMAT, ctx + ": shape " + t.shape_str() + " of dtype " + dtype_name(t.dtype) +
                                        " is larger than 2^64 bits");
    if (total_bits % 8 != 0)
        throw Error(RIR_ERR_FORMAT, ctx + ": shape " + t.shape_str() + " of " + std::to_string(bits) +
                                        "-bit dtype " + dtype_name(t.dtype) + " is not a whole number of bytes");
    uint64_t need = total_bits / 8;
    if (need != t.nbytes)
        throw Error(RIR_ERR_FORMAT, ctx + ": data_offsets " + range_str(t.begin, t.end) + " hold " +
                                        std::to_string(t.nbytes) + " bytes but dtype " + dtype_name(t.dtype) +
                                        " with shape " + t.shape_str() + " needs " + std::to_string(need) + " bytes");
    return t;
}

}  // namespace

Header parse_header(const uint8_t *bytes, uint64_t available, uint64_t file_size, const std::string &where) {
    constexpr uint64_t kLenBytes = 8;  // the little-endian uint64 header length that starts every file
    if (available > file_size) available = file_size;
    if (file_size < kLenBytes)
        throw Error(RIR_ERR_FORMAT, where + ": file is " + std::to_string(file_size) +
                                        " bytes, too short for a safetensors file (the header length alone is 8 bytes)");
    if (available < kLenBytes) throw Error(RIR_ERR_INTERNAL, where + ": parse_header given fewer than 8 bytes");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];

    Header h;
    h.header_bytes = n;
    if (n == 0) throw Error(RIR_ERR_FORMAT, where + ": safetensors header length is 0 (bytes 0..7 of the file)");
    if (n > kMaxHeaderBytes)
        throw Error(RIR_ERR_FORMAT, where + ": safetensors header length " + std::to_string(n) + " (bytes 0..7) exceeds the " +
                                        std::to_string(kMaxHeaderBytes) + "-byte limit; not a safetensors file?");
    if (n > file_size - kLenBytes)
        throw Error(RIR_ERR_FORMAT, where + ": safetensors header length " + std::to_string(n) +
                                        " runs past the end of the file (file is " + std::to_string(file_size) +
                                        " bytes, the header would end at byte " + std::to_string(kLenBytes + n) + ")");
    if (available < kLenBytes + n)
        throw Error(RIR_ERR_INTERNAL, where + ": parse_header given " + std::to_string(available) +
                                          " bytes, fewer than the header's " + std::to_string(kLenBytes + n));
    h.data_start = kLenBytes + n;
    h.data_bytes = file_size - h.data_start;

    std::string_view text(reinterpret_cast<const char *>(bytes + kLenBytes), static_cast<size_t>(n));
    json::Limits limits;
    limits.max_bytes = static_cast<size_t>(kMaxHeaderBytes);
    json::Value root = json::parse(text, where + ": safetensors header (JSON starting at file byte 8)", limits);
    if (!root.is_object())
        throw Error(RIR_ERR_FORMAT, where + ": safetensors header is " + root.describe() + ", expected a JSON object");

    h.tensors.reserve(root.size());
    for (size_t i = 0; i < root.size(); ++i) {
        const std::string &name = root.key(i);
        const json::Value &entry = root.value(i);
        if (name == "__metadata__") {
            if (!entry.is_object())
                throw Error(RIR_ERR_FORMAT, where + ": safetensors __metadata__ is " + entry.describe() +
                                                ", expected an object of strings");
            for (size_t k = 0; k < entry.size(); ++k) {
                if (!entry.value(k).is_string())
                    throw Error(RIR_ERR_FORMAT, where + ": safetensors __metadata__ " + json::quote(entry.key(k)) +
                                                    " is " + entry.value(k).describe() + ", expected a string");
                h.metadata.emplace_back(entry.key(k), entry.value(k).as_string());
            }
            continue;
        }
        TensorInfo t = parse_entry(name, entry, where);
        if (t.end > h.data_bytes)
            throw Error(RIR_ERR_FORMAT,
                        where + ": tensor " + json::quote(name) + ": data_offsets " + range_str(t.begin, t.end) +
                            " end past the data section, which holds " + std::to_string(h.data_bytes) +
                            " bytes (file bytes " + std::to_string(h.data_start) + ".." + std::to_string(file_size) +
                            "); the tensor would end at file byte " + std::to_string(h.data_start + t.end) +
                            ": the file is truncated or the offsets are wrong");
        t.offset = h.data_start + t.begin;
        h.tensors.push_back(std::move(t));
    }

    // Overlaps: sort by begin; every non-empty tensor must start at or after the furthest end seen so far.
    std::vector<const TensorInfo *> by_begin;
    by_begin.reserve(h.tensors.size());
    for (const auto &t : h.tensors)
        if (t.nbytes > 0) by_begin.push_back(&t);
    std::sort(by_begin.begin(), by_begin.end(), [](const TensorInfo *a, const TensorInfo *b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    const TensorInfo *reach = nullptr;  // the tensor with the largest end so far
    for (const TensorInfo *t : by_begin) {
        if (reach && t->begin < reach->end)
            throw Error(RIR_ERR_FORMAT, where + ": tensors " + json::quote(reach->name) + " data_offsets " +
                                            range_str(reach->begin, reach->end) + " and " + json::quote(t->name) +
                                            " data_offsets " + range_str(t->begin, t->end) + " overlap");
        if (!reach || t->end > reach->end) reach = t;
    }

    std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo &a, const TensorInfo &b) { return a.name < b.name; });
    return h;
}

Header parse_header(const MappedFile &file) {
    return parse_header(file.data(), file.size(), file.size(), file.path());
}

Header parse_header(const ReadOnlyFile &file) {
    const uint64_t size = file.size();
    if (size < 8) return parse_header(nullptr, 0, size, file.path());  // "file is N bytes, too short"
    std::vector<uint8_t> buf(8);
    file.read_at(0, buf.data(), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | buf[static_cast<size_t>(i)];
    // Read the header only when it is in range; otherwise parse_header reports the bad length from the 8 bytes.
    if (n > 0 && n <= kMaxHeaderBytes && n <= size - 8) {
        buf.resize(static_cast<size_t>(8 + n));
        file.read_at(8, buf.data() + 8, n);
    }
    return parse_header(buf.data(), buf.size(), size, file.path());
}

// ---------------------------------------------------------------------------------------------------------------
// Shard index

namespace {

// Relative path inside the checkpoint folder: not empty, not absolute, no "." / ".." / empty component, no NUL.
bool safe_relative_path(const std::string &p) {
    if (p.empty() || p.front() == '/' || p.find('\0') != std::string::npos) return false;
    size_t start = 0;
    for (;;) {
        size_t slash = p.find('/', start);
        std::string comp = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (comp.empty() || comp == "." || comp == "..") return false;
        if (slash == std::string::npos) return true;
        start = slash + 1;
    }
}

}  // namespace

ShardIndex parse_index(const std::string &text, const std::string &where) {
    json::Value root = json::parse(text, where);
    if (!root.is_object())
        throw Error(RIR_ERR_FORMAT, where + ": shard index is " + root.describe() + ", expected a JSON object");
    const json::Value *map = root.find("weight_map");
    if (!map) throw Error(RIR_ERR_FORMAT, where + ": shard index has no 'weight_map'");
    if (!map->is_object())
        throw Error(RIR_ERR_FORMAT, where + ": 'weight_map' is " + map->describe() + ", expected an object");
    if (map->size() == 0) throw Error(RIR_ERR_FORMAT, where + ": 'weight_map' is empty");
    ShardIndex idx;
    idx.weight_map.reserve(map->size());
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < map->size(); ++i) {
        const json::Value &v = map->value(i);
        if (!v.is_string())
            throw Error(RIR_ERR_FORMAT, where + ": weight_map entry " + json::quote(map->key(i)) + " is " + v.describe() +
                                            ", expected a shard file name");
        const std::string &shard = v.as_string();
        if (!safe_relative_path(shard))
            throw Error(RIR_ERR_FORMAT, where + ": weight_map entry " + json::quote(map->key(i)) + " names shard " +
                                            json::quote(shard) + ", which is not a relative path inside the checkpoint "
                                            "folder");
        idx.weight_map.emplace_back(map->key(i), shard);
        if (seen.insert(shard).second) idx.shards.push_back(shard);
    }
    return idx;
}

}  // namespace safetensors
}  // namespace rir
