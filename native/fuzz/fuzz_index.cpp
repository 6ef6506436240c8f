// fuzz_index.cpp: libFuzzer target for model.safetensors.index.json parsing (safetensors::parse_index). Only
// RIR_ERR_FORMAT is an acceptable failure; an accepted index must name only safe relative shard paths.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "error.h"
#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size);
    try {
        auto idx = rir::safetensors::parse_index(text, "model.safetensors.index.json");
        if (idx.weight_map.empty() || idx.shards.empty()) std::abort();
        std::set<std::string> shards(idx.shards.begin(), idx.shards.end());
        if (shards.size() != idx.shards.size()) std::abort();  // distinct
        for (const auto &entry : idx.weight_map)
            if (!shards.count(entry.second)) std::abort();
        for (const auto &s : idx.shards) {
            if (s.empty() || s[0] == '/' || s.find('\0') != std::string::npos) std::abort();
            if (s == ".." || s.rfind("../", 0) == 0 || s.find("/../") != std::string::npos ||
                (s.size() >= 3 && s.compare(s.size() - 3, 3, "/..") == 0))
                std::abort();
        }
    } catch (const rir::Error &e) {
        if (e.status() != RIR_ERR_FORMAT) std::abort();
    }
    return 0;
}
