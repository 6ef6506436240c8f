// api.cpp: the C API of reasonir.h over Checkpoint (loading) and Backend (compute). Every entry point catches
// everything: no C++ exception crosses the C boundary. Batch validation lives here so that every backend receives
// only well-formed packed batches (model.h, PackedBatch).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "error.h"
#include "reasonir.h"

#ifndef REASONIR_VERSION
#define REASONIR_VERSION "0.0.0"
#endif

struct rir_model {
    std::unique_ptr<rir::Checkpoint> checkpoint;
    std::unique_ptr<rir::Backend> backend;
    std::string device;
    std::string last_error;
    std::vector<int32_t> zeros;  // pool_start substitute when the caller passes NULL
};

namespace {

void copy_message(const std::string &msg, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
    std::memcpy(buf, msg.data(), n);
    buf[n] = '\0';
}

// Runs fn, mapping exceptions to a status and a message.
template <class Fn>
rir_status guarded(std::string &message, Fn &&fn) {
    try {
        fn();
        message.clear();
        return RIR_OK;
    } catch (const rir::Error &e) {
        message = e.what();
        return e.status();
    } catch (const std::bad_alloc &) {
        message = "out of host memory";
        return RIR_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        message = std::string("internal error: ") + e.what();
        return RIR_ERR_INTERNAL;
    } catch (...) {
        message = "internal error: unknown exception";
        return RIR_ERR_INTERNAL;
    }
}

enum class DeviceKind { Cpu, Cuda };

// "auto" | "cpu" | "cuda" | "cuda:N"
DeviceKind parse_device(const char *device, int *ordinal) {
    std::string d = device && *device ? device : "auto";
    *ordinal = 0;
    if (d == "auto" || d == "cpu") return DeviceKind::Cpu;  // no CUDA backend in this build yet: auto means cpu
    if (d == "cuda") return DeviceKind::Cuda;
    if (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.size() <= 8 &&
        d.find_first_not_of("0123456789", 5) == std::string::npos) {
        *ordinal = std::stoi(d.substr(5));
        return DeviceKind::Cuda;
    }
    throw rir::Error(RIR_ERR_INVALID_ARGUMENT, "unknown device '" + d + "': expected auto, cpu, cuda or cuda:N");
}

void validate_batch(const rir_model &m, const int32_t *ids, const int32_t *cu, const int32_t *pool, int32_t n_seqs,
                    const float *out, int64_t out_len) {
    using rir::Error;
    if (n_seqs <= 0) throw Error(RIR_ERR_INVALID_ARGUMENT, "n_seqs must be > 0, got " + std::to_string(n_seqs));
    if (!ids || !cu || !out) throw Error(RIR_ERR_INVALID_ARGUMENT, "token_ids, cu_seqlens and out must not be NULL");
    const auto &cfg = m.checkpoint->config();
    const int64_t hidden = cfg.hidden;
    if (out_len < static_cast<int64_t>(n_seqs) * hidden)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "output buffer holds " + std::to_string(out_len) + " floats, needs " +
                                                  std::to_string(static_cast<int64_t>(n_seqs) * hidden) + " (" +
                                                  std::to_string(n_seqs) + " x " + std::to_string(hidden) + ")");
    if (cu[0] != 0) throw Error(RIR_ERR_INPUT, "cu_seqlens[0] must be 0, got " + std::to_string(cu[0]));
    for (int32_t i = 0; i < n_seqs; ++i) {
        const int64_t len = static_cast<int64_t>(cu[i + 1]) - cu[i];
        if (len <= 0)
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(i) + " is empty (cu_seqlens[" +
                                           std::to_string(i) + "]=" + std::to_string(cu[i]) + ", cu_seqlens[" +
                                           std::to_string(i + 1) + "]=" + std::to_string(cu[i + 1]) + ")");
        if (len > cfg.max_position)
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(i) + " has " + std::to_string(len) +
                                           " tokens, more than max_position_embeddings " +
                                           std::to_string(cfg.max_position));
        const int32_t ps = pool ? pool[i] : 0;
        if (ps < 0 || ps >= len)
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(i) + ": pool_start " + std::to_string(ps) +
                                           " leaves no token to pool (length " + std::to_string(len) +
                                           "; the instruction covers the whole input)");
    }
    const int64_t total = cu[n_seqs];
    if (total > m.backend->max_batch_tokens())
        throw Error(RIR_ERR_INPUT, "batch of " + std::to_string(total) + " tokens exceeds max_batch_tokens " +
                                       std::to_string(m.backend->max_batch_tokens()));
    for (int64_t t = 0; t < total; ++t) {
        if (ids[t] < 0 || ids[t] >= cfg.vocab) {
            // Name the sequence the bad token belongs to.
            int32_t seq = 0;
            while (seq + 1 < n_seqs && cu[seq + 1] <= t) ++seq;
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(seq) + ", position " +
                                           std::to_string(t - cu[seq]) + ": token id " + std::to_string(ids[t]) +
                                           " is outside the vocabulary [0, " + std::to_string(cfg.vocab) + ")");
        }
    }
}

// A NaN/Inf embedding must not pass silently into an index: name the first bad row.
void check_finite(const float *out, int32_t n_seqs, int hidden) {
    for (int32_t i = 0; i < n_seqs; ++i) {
        const float *row = out + static_cast<int64_t>(i) * hidden;
        for (int j = 0; j < hidden; ++j) {
            if (!std::isfinite(row[j]))
                throw rir::Error(RIR_ERR_CHECKPOINT, "sequence " + std::to_string(i) +
                                                         " produced a non-finite embedding (NaN or Inf at dimension " +
                                                         std::to_string(j) +
                                                         "): the checkpoint's weights hold NaN/Inf values or "
                                                         "activations overflowed");
        }
    }
}

}  // namespace

extern "C" {

void rir_open_options_init(rir_open_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
    o->device = "auto";
    o->precision = RIR_PRECISION_DEFAULT;
}

rir_status rir_open(const rir_open_options *options, rir_model **out, char *error_buf, size_t error_cap) {
    std::string message;
    if (out) *out = nullptr;
    rir_status st = guarded(message, [&] {
        using rir::Error;
        if (!options || !out) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_open: options and out must not be NULL");
        if (options->struct_size < sizeof(rir_open_options))
            throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_open: options.struct_size " +
                                                      std::to_string(options->struct_size) + " is smaller than " +
                                                      std::to_string(sizeof(rir_open_options)) +
                                                      " (call rir_open_options_init)");
        if (!options->model_dir || !*options->model_dir)
            throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_open: model_dir is empty");
        if (options->num_threads < 0 || options->max_batch_tokens < 0)
            throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_open: num_threads and max_batch_tokens must be >= 0");
        if (options->precision < RIR_PRECISION_DEFAULT || options->precision > RIR_PRECISION_BF16)
            throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_open: unknown precision " + std::to_string(options->precision));
        int ordinal = 0;
        DeviceKind kind = parse_device(options->device, &ordinal);
        if (kind == DeviceKind::Cuda)
            throw Error(RIR_ERR_DEVICE, std::string("device '") + options->device +
                                            "' requested, but this build of libreasonir has no CUDA backend");
        auto model = std::make_unique<rir_model>();
        model->checkpoint = rir::Checkpoint::open(options->model_dir);
        rir::CpuOptions cpu;
        cpu.num_threads = options->num_threads;
        cpu.precision = options->precision == RIR_PRECISION_BF16 ? RIR_PRECISION_BF16 : RIR_PRECISION_FP32;
        cpu.max_batch_tokens = options->max_batch_tokens;
        model->backend = rir::make_cpu_backend(model->checkpoint->config(), model->checkpoint->weights(), cpu);
        model->device = model->backend->device();
        *out = model.release();
    });
    copy_message(message, error_buf, error_cap);
    return st;
}

void rir_close(rir_model *model) { delete model; }

rir_status rir_embed(rir_model *model, const int32_t *token_ids, const int32_t *cu_seqlens, const int32_t *pool_start,
                     int32_t n_seqs, uint32_t flags, float *out, int64_t out_len) {
    if (!model) return RIR_ERR_INVALID_ARGUMENT;
    return guarded(model->last_error, [&] {
        if (flags & ~RIR_EMBED_NO_NORMALIZE)
            throw rir::Error(RIR_ERR_INVALID_ARGUMENT, "rir_embed: unknown flags " + std::to_string(flags));
        validate_batch(*model, token_ids, cu_seqlens, pool_start, n_seqs, out, out_len);
        if (!pool_start) {
            model->zeros.assign(static_cast<size_t>(n_seqs), 0);
            pool_start = model->zeros.data();
        }
        rir::PackedBatch batch;
        batch.token_ids = token_ids;
        batch.cu_seqlens = cu_seqlens;
        batch.pool_start = pool_start;
        batch.n_seqs = n_seqs;
        model->backend->embed(batch, (flags & RIR_EMBED_NO_NORMALIZE) == 0, out);
        check_finite(out, n_seqs, model->checkpoint->config().hidden);
    });
}

int32_t rir_hidden_size(const rir_model *m) { return m ? m->checkpoint->config().hidden : 0; }
int32_t rir_vocab_size(const rir_model *m) { return m ? m->checkpoint->config().vocab : 0; }
int32_t rir_num_layers(const rir_model *m) { return m ? m->checkpoint->config().layers : 0; }
int64_t rir_max_position(const rir_model *m) { return m ? m->checkpoint->config().max_position : 0; }
int64_t rir_max_batch_tokens(const rir_model *m) { return m ? m->backend->max_batch_tokens() : 0; }
const char *rir_backend(const rir_model *m) { return m ? m->backend->name() : ""; }
const char *rir_device(const rir_model *m) { return m ? m->device.c_str() : ""; }
int32_t rir_precision_of(const rir_model *m) { return m ? static_cast<int32_t>(m->backend->precision()) : 0; }
const char *rir_last_error(const rir_model *m) { return m ? m->last_error.c_str() : "invalid (NULL) model handle"; }
const char *rir_version(void) { return REASONIR_VERSION; }

}  // extern "C"
