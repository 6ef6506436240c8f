// fuzz_json_config.cpp: libFuzzer target for config.json parsing: json::parse over the bytes (walking the whole
// value tree through the public accessors), then parse_config. Only rir::Error is an acceptable failure; an
// accepted config must satisfy the checks parse_config promises.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config.h"
#include "error.h"
#include "json.h"

namespace {

void walk(const rir::json::Value &v) {
    (void)v.describe();
    int64_t i;
    uint64_t u;
    switch (v.type()) {
        case rir::json::Type::Number: {
            double d = v.as_double();
            if (v.get_int64(i) && static_cast<double>(i) != d) std::abort();
            if (v.get_uint64(u) && static_cast<double>(u) != d) std::abort();
            if (v.is_integer() != (v.get_int64(i) || v.get_uint64(u))) std::abort();
            break;
        }
        case rir::json::Type::Array:
            for (size_t k = 0; k < v.size(); ++k) walk(v.at(k));
            break;
        case rir::json::Type::Object:
            for (size_t k = 0; k < v.size(); ++k) {
                if (v.find(v.key(k)) != &v.value(k)) std::abort();  // keys are unique and findable
                walk(v.value(k));
            }
            break;
        default: break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size);
    try {
        walk(rir::json::parse(text, "fuzz.json"));
    } catch (const rir::Error &e) {
        if (e.status() != RIR_ERR_FORMAT) std::abort();
    }
    try {
        rir::LlamaConfig c = rir::parse_config(text, "config.json");
        if (c.hidden <= 0 || c.intermediate <= 0 || c.layers <= 0 || c.heads <= 0 || c.kv_heads <= 0 || c.vocab <= 0 ||
            c.head_dim <= 0 || c.head_dim % 2 != 0 || c.heads % c.kv_heads != 0 || c.max_position <= 0 ||
            !(c.rms_eps > 0) || !(c.rope_theta > 0))
            std::abort();
        if (c.rope_scaling.llama3 && !(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)) std::abort();
    } catch (const rir::Error &e) {
        if (e.status() != RIR_ERR_FORMAT && e.status() != RIR_ERR_CONFIG) std::abort();
    }
    return 0;
}
