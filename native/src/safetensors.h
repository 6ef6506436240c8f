// safetensors.h: the safetensors file format (header parsing and validation), the sharded-checkpoint index
// (model.safetensors.index.json) and a read-only memory-mapped file.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"<tensor name>": {"dtype": "BF16", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>", ...}}            (__metadata__ optional)
// then the data section; offsets are relative to its start (byte 8 + N of the file).
//
// Every entry is validated before anything touches the data: known dtype, non-negative integer dims whose product
// (and byte size) does not overflow 64 bits, begin <= end, end - begin == numel * dtype size, end within the data
// section, no two tensors overlapping. Gaps between tensors and bytes after the last tensor are accepted (the
// reference implementation requires a contiguous data section; nothing here depends on it).
// Errors: RIR_ERR_FORMAT naming the file, the tensor and the offending values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rir {

// A regular file opened read-only, for reading with pread (no mapping). The file is opened with
// O_RDONLY | O_NONBLOCK | O_CLOEXEC and checked with fstat on that descriptor, so a FIFO (or a device) in place of a
// checkpoint file is refused at once instead of blocking open(2) forever, and nothing can swap the file between the
// check and the use. O_NONBLOCK changes nothing for a regular file. Errors: RIR_ERR_IO naming the path
// ("<path>: is not a regular file (it is a FIFO)", "<path>: cannot open: <errno text>").
class ReadOnlyFile {
public:
    explicit ReadOnlyFile(const std::string &path);
    ~ReadOnlyFile();
    ReadOnlyFile(const ReadOnlyFile &) = delete;
    ReadOnlyFile &operator=(const ReadOnlyFile &) = delete;

    const std::string &path() const { return path_; }
    int fd() const { return fd_; }
    uint64_t size() const { return size_; }  // at open time
    // Reads exactly `length` bytes at `offset` into dst. A file that shrank since it was opened (or a read error)
    // gives RIR_ERR_IO naming the path and the byte range; never a signal.
    void read_at(uint64_t offset, void *dst, uint64_t length) const;

private:
    std::string path_;
    int fd_ = -1;
    uint64_t size_ = 0;
};

// Opens `path` like ReadOnlyFile and returns the descriptor (the caller closes it) and its fstat size; RIR_ERR_IO
// for anything but a regular file. Shared by ReadOnlyFile, MappedFile and json::read_file.
int open_regular_file(const std::string &path, uint64_t &size);

// A whole file mapped read-only (PROT_READ, MAP_PRIVATE). 64-bit sizes throughout. Errors (RIR_ERR_IO) name the path
// and the errno text. An empty file maps to data() == nullptr, size() == 0. Opened like ReadOnlyFile (a FIFO or a
// directory is refused, never waited on).
//
// Hazard: a mapping reads the file lazily. If the file is truncated (or rewritten in place to a smaller size) while
// it is mapped, the next access to a page past the new end raises SIGBUS and kills the process; a file rewritten in
// place at the same size silently changes the weights under a running model. Replacing the file by rename is safe
// (the mapping keeps the old inode). Checkpoint's LoadOptions::copy_weights (RIR_OPEN_COPY_WEIGHTS) avoids mappings.
class MappedFile {
public:
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const std::string &path() const { return path_; }
    const uint8_t *data() const { return data_; }
    uint64_t size() const { return size_; }
    // Asks the kernel to start reading [offset, offset + length) ahead (madvise MADV_WILLNEED). Best effort.
    void will_need(uint64_t offset, uint64_t length) const;

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    uint64_t size_ = 0;
};

namespace safetensors {

// The largest header the reference implementation (huggingface/safetensors, MAX_HEADER_SIZE) accepts.
constexpr uint64_t kMaxHeaderBytes = 100000000;

enum class DType : uint8_t {
    BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, C64, I64, U64,
    F4, F6_E2M3, F6_E3M2  // sub-byte types: the byte size is numel * bits / 8, which must be whole
};

const char *dtype_name(DType t);
unsigned dtype_bits(DType t);
// Parses a dtype string as written in headers ("BF16"); false if unknown.
bool dtype_from_name(const std::string &name, DType &out);

struct TensorInfo {
    std::string name;
    DType dtype = DType::U8;
    std::vector<uint64_t> shape;
    uint64_t numel = 0;
    uint64_t begin = 0;   // data_offsets[0], relative to the data section
    uint64_t end = 0;     // data_offsets[1]
    uint64_t offset = 0;  // absolute byte offset in the file (8 + N + begin)
    uint64_t nbytes = 0;  // end - begin

    std::string shape_str() const;  // "[4096, 128]"
};

struct Header {
    uint64_t header_bytes = 0;  // N
    uint64_t data_start = 0;    // 8 + N
    uint64_t data_bytes = 0;    // file size - 8 - N
    std::vector<TensorInfo> tensors;  // sorted by name
    std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__ in document order

    // nullptr when absent. O(log n).
    const TensorInfo *find(const std::string &name) const;
};

// Parses and validates the header of a safetensors file of `file_size` bytes whose first `available` bytes are at
// `bytes` (available may be less than file_size; it must cover 8 + N whenever 8 + N <= file_size). `where` names the
// file in messages.
Header parse_header(const uint8_t *bytes, uint64_t available, uint64_t file_size, const std::string &where);

// parse_header over a whole mapped file.
Header parse_header(const MappedFile &file);

// parse_header reading the length and the header with pread (the data section is not read).
Header parse_header(const ReadOnlyFile &file);

// model.safetensors.index.json: {"metadata": {...}, "weight_map": {"<tensor>": "<shard file>", ...}}.
struct ShardIndex {
    std::vector<std::pair<std::string, std::string>> weight_map;  // tensor -> shard, document order
    std::vector<std::string> shards;  // distinct shard file names, in order of first appearance
};

// Parses index text. Shard names must be relative paths inside the checkpoint folder (not empty, not absolute, no
// ".." component). RIR_ERR_FORMAT naming `where` on any violation.
ShardIndex parse_index(const std::string &text, const std::string &where);

}  // namespace safetensors
}  // namespace rir
