// fuzz_safetensors.cpp: libFuzzer target for safetensors header parsing (safetensors::parse_header).
// The input is a whole file. It is parsed once as is, and once as the head of a larger file (the size taken from
// the input), as when a large shard is mapped. Any exception other than rir::Error, any sanitizer report, or a
// header accepted while violating the validation guarantees is a crash.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "error.h"
#include "safetensors.h"

namespace {

// What parse_header promises about an accepted header.
void check_invariants(const rir::safetensors::Header &h, uint64_t file_size) {
    if (h.data_start != 8 + h.header_bytes || h.data_start > file_size || h.data_bytes != file_size - h.data_start)
        std::abort();
    std::vector<const rir::safetensors::TensorInfo *> live;
    for (size_t i = 0; i < h.tensors.size(); ++i) {
        const auto &t = h.tensors[i];
        if (i > 0 && !(h.tensors[i - 1].name < t.name)) std::abort();  // sorted by name, unique
        if (h.find(t.name) != &t) std::abort();
        if (t.begin > t.end || t.end > h.data_bytes || t.nbytes != t.end - t.begin) std::abort();
        if (t.offset != h.data_start + t.begin || t.offset + t.nbytes > file_size) std::abort();
        unsigned __int128 bits = static_cast<unsigned __int128>(t.numel) * rir::safetensors::dtype_bits(t.dtype);
        if (bits != static_cast<unsigned __int128>(t.nbytes) * 8) std::abort();
        // numel is the exact product of the dims (an accepted shape cannot overflow unless a dim is 0).
        unsigned __int128 n = 1;
        bool zero = false;
        for (uint64_t d : t.shape) {
            if (d == 0) zero = true;
            else if (n <= UINT64_MAX) n *= d;
        }
        if (zero ? t.numel != 0 : n != t.numel) std::abort();
        if (t.nbytes > 0) live.push_back(&t);
    }
    for (size_t i = 0; i < live.size(); ++i)
        for (size_t j = i + 1; j < live.size() && j < i + 64; ++j)
            if (live[i]->begin < live[j]->end && live[j]->begin < live[i]->end) std::abort();  // overlap
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        auto h = rir::safetensors::parse_header(data, size, size, "fuzz.safetensors");
        check_invariants(h, size);
    } catch (const rir::Error &e) {
        // With the whole file in memory, an internal error means a bug in the parser.
        if (e.status() == RIR_ERR_INTERNAL) std::abort();
    }
    if (size >= 12) {
        // The last 4 bytes choose how much larger the file is than the bytes in memory.
        uint32_t extra;
        std::memcpy(&extra, data + size - 4, sizeof extra);
        uint64_t file_size = static_cast<uint64_t>(size) + extra;
        try {
            auto h = rir::safetensors::parse_header(data, size, file_size, "fuzz.safetensors");
            check_invariants(h, file_size);
        } catch (const rir::Error &) {
            // RIR_ERR_INTERNAL is expected here when the header reaches past the bytes given.
        }
    }
    return 0;
}
