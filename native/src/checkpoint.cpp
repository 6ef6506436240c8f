// checkpoint.cpp: Checkpoint::open (checkpoint.h), the loading step: reads config.json (config.h), finds and checks
// the tensors (weight_scan.h, by the names and shapes of tensor_names.h), then binds each to ModelWeights, in place
// or converted/copied into memory the Checkpoint owns.
//
// Two ways to hold the weights (LoadOptions::copy_weights):
//  - mapped (default): each shard is mmap'ed read-only and aligned BF16 tensors are used in place; F32/F16 (and
//    misaligned BF16) are converted into Checkpoint::converted_. Nothing but the headers is read eagerly.
//    Hazard: the kernel reads mapped pages lazily, so if a shard is truncated while the model is open (an
//    interrupted re-download, `> file`, a copy over it in place), the next access to a page past the new end raises
//    SIGBUS and the process dies, in whatever thread happens to touch it; a shard rewritten in place at the same
//    size silently changes the weights under the running model. Replacing files by rename (what download tools do)
//    is safe: the mapping keeps the old inode alive.
//  - copied (RIR_OPEN_COPY_WEIGHTS): no shard is ever mapped. Headers and tensors are read with pread into memory
//    owned by the Checkpoint (64-byte aligned) and every file is closed before open() returns; a file that shrinks
//    while it is being read gives RIR_ERR_IO, never a signal. Costs resident memory equal to the weights.
// LoadOptions::scan_nonfinite checks every bound tensor (after any conversion to bf16) for NaN/Inf.
#include "checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include "bf16.h"
#include "error.h"
#include "json.h"
#include "parallel.h"
#include "safetensors.h"
#include "tensor_names.h"
#include "weight_scan.h"

namespace rir {

namespace {

// IEEE binary16 -> fp32, exact (every half value, subnormals included, is a float).
float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);  // inf / NaN (payload kept)
    } else if (exp != 0) {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;  // +-0
    } else {
        // Subnormal half: man * 2^-24. Normalize the mantissa into a float.
        int e = -1;
        do {
            man <<= 1;
            ++e;
        } while ((man & 0x400u) == 0);
        u = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// ---------------------------------------------------------------------------------------------------------------
// Non-finite scan

// Index of the first element of p[0, n) whose exponent bits are all ones (bf16 Inf or NaN), or n when none is.
// Per element t = (x & 0x7fff) + 0x0080 has bit 15 set exactly when the exponent field (bits 7..14) is all ones,
// so a block is clean when the OR of its t values has bit 15 clear: a branch-free loop the compiler vectorizes.
uint64_t first_nonfinite_serial(const bf16_t *p, uint64_t n) {
    constexpr uint64_t kBlock = 4096;  // elements per OR-reduced block (8 KiB)
    uint64_t i = 0;
    for (; i + kBlock <= n; i += kBlock) {
        uint16_t acc = 0;
        for (uint64_t j = 0; j < kBlock; ++j) acc |= static_cast<uint16_t>((p[i + j] & 0x7fffu) + 0x0080u);
        if (acc & 0x8000u) break;  // the culprit is in this block: find it below
    }
    for (; i < n; ++i)
        if ((p[i] & 0x7f80u) == 0x7f80u) return i;
    return n;
}

// first_nonfinite_serial over large tensors split across threads (memory bandwidth, or page-in of a mapped shard,
// is the limit; one thread reaches neither). Returns the smallest bad index, or n.
uint64_t first_nonfinite(const bf16_t *p, uint64_t n) {
    constexpr uint64_t kParallelFrom = uint64_t(16) << 20;  // elements (32 MiB)
    const unsigned threads = hardware_threads(16);
    if (n < kParallelFrom || threads < 2) return first_nonfinite_serial(p, n);
    std::vector<uint64_t> found(threads, n);  // per part: the first bad index in it, or n
    parallel_for(n, threads, [&](unsigned part, uint64_t begin, uint64_t end) {
        const uint64_t i = first_nonfinite_serial(p + begin, end - begin);
        if (i < end - begin) found[part] = begin + i;
    });
    return *std::min_element(found.begin(), found.end());
}

}  // namespace

class CheckpointLoader {
public:
    CheckpointLoader(Checkpoint &ck, const LoadOptions &options) : ck_(ck), options_(options) {}

    void load() {
        ck_.config_ = read_config(ck_.dir_);
        WeightScan scan(ck_.dir_, ck_.config_, !options_.copy_weights);
        // Mapped mode: the Checkpoint keeps the mappings (the bound weights point into them). Copy mode: there are
        // none, and the files close with the scan when load() returns.
        ck_.files_ = scan.take_mappings();
        bind_weights(scan);
    }

private:
    // Alignment of tensors the Checkpoint owns: a cache line, and the widest vector load.
    static constexpr size_t kAlign = 64;

    Checkpoint &ck_;
    const LoadOptions &options_;

    // numel bf16 elements of memory owned by the Checkpoint, 64-byte aligned (the vector is over-allocated by one
    // alignment unit and the pointer rounded up inside it).
    bf16_t *alloc_owned(uint64_t numel) {
        constexpr size_t kSlack = kAlign / sizeof(bf16_t);
        if (numel > (std::numeric_limits<size_t>::max() - kSlack) / sizeof(bf16_t))
            throw Error(RIR_ERR_OUT_OF_MEMORY, "tensor of " + std::to_string(numel) + " elements does not fit in memory");
        try {
            ck_.converted_.emplace_back(static_cast<size_t>(numel) + kSlack);
        } catch (const std::bad_alloc &) {
            throw Error(RIR_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(numel * sizeof(bf16_t)) +
                                                   " bytes for a weight tensor (RIR_OPEN_COPY_WEIGHTS or conversion)");
        }
        uintptr_t a = reinterpret_cast<uintptr_t>(ck_.converted_.back().data());
        return reinterpret_cast<bf16_t *>((a + kAlign - 1) / kAlign * kAlign);
    }

    // Calls fn(bytes, first, count) over the tensor's bytes in pieces: one piece from the mapping, or pieces of at
    // most 16 MiB read with pread (copy mode). Pieces start at multiples of 16 bytes from the tensor's start.
    template <class Fn>
    void for_each_piece(const Shard &s, const safetensors::TensorInfo &t, Fn fn) {
        if (s.map) {
            fn(s.map->data() + t.offset, uint64_t(0), t.nbytes);
            return;
        }
        constexpr uint64_t kPiece = uint64_t(16) << 20;
        std::vector<uint8_t> buf(static_cast<size_t>(std::min(kPiece, t.nbytes)));
        for (uint64_t b = 0; b < t.nbytes; b += kPiece) {
            uint64_t n = std::min(kPiece, t.nbytes - b);
            s.reader->read_at(t.offset + b, buf.data(), n);
            fn(buf.data(), b, n);
        }
    }

    // The element of a converted (F32/F16) tensor as a float, for messages.
    float source_element(const Shard &s, const safetensors::TensorInfo &t, uint64_t i) {
        unsigned width = t.dtype == safetensors::DType::F32 ? 4 : 2;
        uint8_t raw[4] = {0, 0, 0, 0};
        if (s.map) std::memcpy(raw, s.map->data() + t.offset + width * i, width);
        else s.reader->read_at(t.offset + width * i, raw, width);
        if (width == 4) {
            float f;
            std::memcpy(&f, raw, 4);
            return f;
        }
        uint16_t h;
        std::memcpy(&h, raw, 2);
        return f16_to_f32(h);
    }

    // Fails naming the tensor, the file and the first non-finite element of the bf16 data `p` bound for tensor t.
    void scan(const Shard &s, const safetensors::TensorInfo &t, const bf16_t *p) {
        uint64_t i = first_nonfinite(p, t.numel);
        if (i == t.numel) return;
        const bf16_t b = p[i];
        const char *what = (b & 0x007fu) ? "NaN" : (b & 0x8000u) ? "-Inf" : "Inf";
        std::string where = "element " + std::to_string(i);
        if (t.shape.size() == 2)
            where += " (row " + std::to_string(i / t.shape[1]) + ", column " + std::to_string(i % t.shape[1]) + ")";
        std::string note;
        if (t.dtype != safetensors::DType::BF16) {
            float f = source_element(s, t, i);
            if (std::isfinite(f)) {
                char num[32];
                std::snprintf(num, sizeof num, "%.9g", static_cast<double>(f));
                note = std::string(" (the ") + safetensors::dtype_name(t.dtype) + " value " + num +
                       " overflows bf16)";
            }
        }
        throw Error(RIR_ERR_CHECKPOINT, "tensor " + json::quote(t.name) + " in " + s.path + " holds " + what + " at " +
                                            where + note + "; the checkpoint is corrupt (non-finite weights make "
                                            "every embedding NaN)");
    }

    // The bf16 data of tensor `spec` (found and checked by the scan), scanned for NaN/Inf when asked.
    const bf16_t *take(const WeightScan &weights, const TensorSpec &spec) {
        const TensorLocation where = weights.find(spec);
        const Shard &s = *where.shard;
        const safetensors::TensorInfo &t = *where.info;
        const bf16_t *p = bf16_data(s, t);
        if (options_.scan_nonfinite) scan(s, t, p);
        return p;
    }

    const bf16_t *bf16_data(const Shard &s, const safetensors::TensorInfo &t) {
        switch (t.dtype) {
            case safetensors::DType::BF16:
                // Used in place when mapped and aligned (the mapping is page aligned, so the file offset decides).
                if (s.map && t.offset % alignof(bf16_t) == 0) {
                    s.map->will_need(t.offset, t.nbytes);
                    return reinterpret_cast<const bf16_t *>(s.map->data() + t.offset);
                }
                return convert(s, t, 2, [](const uint8_t *src) {
                    bf16_t b;
                    std::memcpy(&b, src, 2);
                    return b;
                });
            case safetensors::DType::F32:
                return convert(s, t, 4, [](const uint8_t *src) {
                    float f;
                    std::memcpy(&f, src, 4);
                    return f32_to_bf16(f);
                });
            case safetensors::DType::F16:
                return convert(s, t, 2, [](const uint8_t *src) {
                    uint16_t h;
                    std::memcpy(&h, src, 2);
                    return f32_to_bf16(f16_to_f32(h));
                });
            default:  // WeightScan::find lets only the three above through
                throw Error(RIR_ERR_INTERNAL, "tensor " + json::quote(t.name) + " in " + s.path + " has dtype " +
                                                  safetensors::dtype_name(t.dtype) + ", which the loader cannot convert");
        }
    }

    // Copies/converts the tensor into owned memory; `element` turns the `width` source bytes of one element into bf16.
    template <class Element>
    const bf16_t *convert(const Shard &s, const safetensors::TensorInfo &t, unsigned width, Element element) {
        bf16_t *out = alloc_owned(t.numel);
        if (t.dtype == safetensors::DType::BF16 && !s.map) {
            // Copy mode, BF16: straight into place.
            s.reader->read_at(t.offset, out, t.nbytes);
            return out;
        }
        for_each_piece(s, t, [&](const uint8_t *src, uint64_t first, uint64_t count) {
            bf16_t *dst = out + first / width;
            for (uint64_t i = 0; i < count / width; ++i) dst[i] = element(src + width * i);
        });
        return out;
    }

    void bind_weights(const WeightScan &weights) {
        const LlamaConfig &c = ck_.config_;
        ModelWeights &w = ck_.weights_;
        w.embed = take(weights, embed_tensor(c));
        w.layers.assign(static_cast<size_t>(c.layers), LayerWeights{});
        for (int l = 0; l < c.layers; ++l)
            for (int s = 0; s < kLayerTensors; ++s)
                w.layers[static_cast<size_t>(l)].*kLayerSlots[s] = take(weights, layer_tensor(c, l, s));
        w.final_norm = take(weights, final_norm_tensor(c));
    }
};

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &model_dir, const LoadOptions &options) {
    std::unique_ptr<Checkpoint> ck(new Checkpoint());
    ck->dir_ = model_dir;
    CheckpointLoader(*ck, options).load();
    return ck;
}

Checkpoint::~Checkpoint() = default;

uint64_t Checkpoint::weight_bytes() const {
    if (!weights_.embed) return 0;  // released (or never bound)
    return weight_elements(config_) * sizeof(bf16_t);
}

void Checkpoint::release_weights() {
    weights_.embed = nullptr;
    weights_.final_norm = nullptr;
    for (LayerWeights &l : weights_.layers) l = LayerWeights{};  // the layer count stays; every pointer is null
    files_.clear();  // unmaps every shard
    std::vector<std::vector<bf16_t>>().swap(converted_);
}

}  // namespace rir
