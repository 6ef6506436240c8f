// api.cpp: the C API of reasonir.h over Checkpoint (loading) and Backend (compute). Every entry point catches
// everything: no C++ exception crosses the C boundary. Batch validation lives here so that every backend receives
// only well-formed packed batches (model.h, PackedBatch).
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "cpu/isa.h"
#include "cpu/score.h"
#include "error.h"
#include "reasonir.h"

#ifndef REASONIR_VERSION
#define REASONIR_VERSION "0.0.0"
#endif

struct rir_model {
    std::mutex mutex;  // serializes calls on this handle (reasonir.h, "Thread safety")
    std::unique_ptr<rir::Checkpoint> checkpoint;  // config always; weights only while the backend reads them
    std::unique_ptr<rir::Backend> backend;
    rir::LlamaConfig config;
    std::string device;
    std::string device_note;
    std::string last_error;
    int32_t last_error_sequence = -1;
    std::vector<int32_t> zeros;  // pool_start substitute when the caller passes NULL
};

namespace {

void copy_message(const std::string &msg, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
    std::memcpy(buf, msg.data(), n);
    buf[n] = '\0';
}

// Runs fn, mapping exceptions to a status and a message (and the sequence an error names, when it names one).
template <class Fn>
rir_status guarded(std::string &message, Fn &&fn, int32_t *sequence = nullptr) {
    if (sequence) *sequence = -1;
    try {
        fn();
        message.clear();
        return RIR_OK;
    } catch (const rir::Error &e) {
        message = e.what();
        if (sequence) *sequence = e.sequence();
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

void validate_batch(const rir_model &m, const int32_t *ids, const int32_t *cu, const int32_t *pool, int32_t n_seqs,
                    const float *out, int64_t out_len) {
    using rir::Error;
    if (n_seqs <= 0) throw Error(RIR_ERR_INVALID_ARGUMENT, "n_seqs must be > 0, got " + std::to_string(n_seqs));
    if (!ids || !cu || !out) throw Error(RIR_ERR_INVALID_ARGUMENT, "token_ids, cu_seqlens and out must not be NULL");
    const auto &cfg = m.config;
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
                                           std::to_string(i + 1) + "]=" + std::to_string(cu[i + 1]) + ")", i);
        if (len > cfg.max_position)
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(i) + " has " + std::to_string(len) +
                                           " tokens, more than max_position_embeddings " +
                                           std::to_string(cfg.max_position), i);
        const int32_t ps = pool ? pool[i] : 0;
        if (ps < 0 || ps >= len)
            throw Error(RIR_ERR_INPUT, "sequence " + std::to_string(i) + ": pool_start " + std::to_string(ps) +
                                           " leaves no token to pool (length " + std::to_string(len) +
                                           "; the instruction covers the whole input)", i);
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
                                           " is outside the vocabulary [0, " + std::to_string(cfg.vocab) + ")", seq);
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
                                                         "activations overflowed", i);
        }
    }
}

// rir_score has no handle: its last error is per thread.
thread_local std::string score_last_error;

void validate_score(const void *rows, int32_t dtype, int64_t n_rows, int32_t dim, const float *queries,
                    int32_t n_queries, const float *scores, int64_t ld_scores) {
    using rir::Error;
    if (dtype != RIR_DTYPE_F16 && dtype != RIR_DTYPE_F32)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: unknown dtype " + std::to_string(dtype) +
                                                  " (RIR_DTYPE_F16 = 1, RIR_DTYPE_F32 = 2)");
    if (dim < 1) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: dim must be >= 1, got " + std::to_string(dim));
    if (n_rows < 0)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: n_rows must be >= 0, got " + std::to_string(n_rows));
    if (n_queries < 0)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: n_queries must be >= 0, got " + std::to_string(n_queries));
    if (ld_scores < n_rows)
        throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: ld_scores " + std::to_string(ld_scores) +
                                                  " is smaller than n_rows " + std::to_string(n_rows));
    if (n_rows == 0 || n_queries == 0) return;
    if (!rows) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: rows is NULL");
    if (!queries) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: queries is NULL");
    if (!scores) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_score: scores is NULL");
}

// An option the caller left at DEFAULT takes the environment variable `var` (one of `names`, whose index + 1 is the
// enum value: AUTO is always the first name), else AUTO. A value the variable does not name fails the open: a typo in
// a switch must not silently run another kernel than the one asked for.
int32_t from_environment(int32_t value, const char *var, std::initializer_list<const char *> names, const std::string &f) {
    if (value != 0) return value;
    const char *env = std::getenv(var);
    if (!env || !*env) return 1;
    std::string allowed;
    int32_t i = 1;
    for (const char *n : names) {
        if (std::strcmp(env, n) == 0) return i;
        allowed += (allowed.empty() ? "" : ", ") + std::string(n);
        ++i;
    }
    throw rir::Error(RIR_ERR_INVALID_ARGUMENT, f + ": " + var + "='" + env + "' is not one of " + allowed);
}

// Validates rir_open_options and turns them into BackendOptions: one reading for rir_open and
// rir_check_device_memory, so that the check judges exactly the open it stands for. `fn` names the caller in messages.
rir::BackendOptions backend_options(const rir_open_options *options, const char *fn) {
    using rir::Error;
    const std::string f = fn;
    // The first version of the struct ended at `flags`: a caller built against it gets DEFAULT for the fields added
    // since (copied into a full-size struct, so that nothing past its struct_size is read).
    constexpr size_t kFirstVersionSize = offsetof(rir_open_options, attention);
    if (options->struct_size < kFirstVersionSize || options->struct_size > sizeof(rir_open_options))
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": options.struct_size " + std::to_string(options->struct_size) +
                                                  " is neither " + std::to_string(kFirstVersionSize) + " nor " +
                                                  std::to_string(sizeof(rir_open_options)) +
                                                  " (call rir_open_options_init)");
    rir_open_options full;
    std::memset(&full, 0, sizeof full);
    std::memcpy(&full, options, options->struct_size);
    options = &full;
    if (!options->model_dir || !*options->model_dir) throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": model_dir is empty");
    if (options->num_threads < 0 || options->max_batch_tokens < 0)
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": num_threads and max_batch_tokens must be >= 0");
    if (options->precision < RIR_PRECISION_DEFAULT || options->precision > RIR_PRECISION_BF16)
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": unknown precision " + std::to_string(options->precision));
    rir::BackendOptions bo;
    rir::parse_device(options->device, bo);
    bo.num_threads = options->num_threads;
    bo.precision = static_cast<rir_precision>(options->precision);
    bo.max_batch_tokens = options->max_batch_tokens;
    if (options->flags & ~RIR_OPEN_COPY_WEIGHTS)
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": unknown flags " + std::to_string(options->flags));
    bo.copy_weights = (options->flags & RIR_OPEN_COPY_WEIGHTS) != 0;
    if (options->attention < RIR_ATTENTION_DEFAULT || options->attention > RIR_ATTENTION_SM90)
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": unknown attention " + std::to_string(options->attention));
    if (options->cuda_graphs < RIR_CUDA_GRAPHS_DEFAULT || options->cuda_graphs > RIR_CUDA_GRAPHS_OFF)
        throw Error(RIR_ERR_INVALID_ARGUMENT, f + ": unknown cuda_graphs " + std::to_string(options->cuda_graphs));
    bo.attention = static_cast<rir_attention>(
        from_environment(options->attention, "REASONIR_ATTENTION", {"auto", "sm80", "sm90"}, f));
    bo.cuda_graphs = static_cast<rir_cuda_graphs>(
        from_environment(options->cuda_graphs, "REASONIR_CUDA_GRAPHS", {"auto", "on", "off"}, f));
    return bo;
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
        rir::BackendOptions bo = backend_options(options, "rir_open");
        auto model = std::make_unique<rir_model>();
        rir::resolve_device(bo, &model->device_note);
        model->checkpoint = rir::Checkpoint::open(options->model_dir, rir::load_options_for(bo));
        model->config = model->checkpoint->config();
        model->backend = rir::make_backend(bo, *model->checkpoint);
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
    std::lock_guard<std::mutex> lock(model->mutex);
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
        check_finite(out, n_seqs, model->config.hidden);
    }, &model->last_error_sequence);
}

int32_t rir_hidden_size(const rir_model *m) { return m ? m->config.hidden : 0; }
int32_t rir_vocab_size(const rir_model *m) { return m ? m->config.vocab : 0; }
int32_t rir_num_layers(const rir_model *m) { return m ? m->config.layers : 0; }
int64_t rir_max_position(const rir_model *m) { return m ? m->config.max_position : 0; }
int64_t rir_max_batch_tokens(const rir_model *m) { return m ? m->backend->max_batch_tokens() : 0; }
const char *rir_backend(const rir_model *m) { return m ? m->backend->name() : ""; }
const char *rir_device(const rir_model *m) { return m ? m->device.c_str() : ""; }
int32_t rir_precision_of(const rir_model *m) { return m ? static_cast<int32_t>(m->backend->precision()) : 0; }
const char *rir_last_error(const rir_model *m) { return m ? m->last_error.c_str() : "invalid (NULL) model handle"; }
int32_t rir_last_error_sequence(const rir_model *m) { return m ? m->last_error_sequence : -1; }
const char *rir_device_note(const rir_model *m) { return m ? m->device_note.c_str() : ""; }

int32_t rir_cuda_device_count(char *why_buf, size_t why_cap) {
    std::string why, failure;
    int32_t n = 0;
    if (guarded(failure, [&] { n = rir::cuda_device_count(&why); }) != RIR_OK) {  // never throws in practice
        n = 0;
        why = failure;
    }
    copy_message(n > 0 ? std::string() : why, why_buf, why_cap);
    return n;
}

rir_status rir_check_device_memory(const rir_open_options *options, uint64_t *need_bytes, uint64_t *free_bytes,
                                   char *error_buf, size_t error_cap) {
    if (need_bytes) *need_bytes = 0;
    if (free_bytes) *free_bytes = 0;
    std::string message;
    rir_status st = guarded(message, [&] {
        using rir::Error;
        if (!options) throw Error(RIR_ERR_INVALID_ARGUMENT, "rir_check_device_memory: options must not be NULL");
        rir::BackendOptions bo = backend_options(options, "rir_check_device_memory");
        if (bo.kind != rir::DeviceKind::Cuda)
            throw Error(RIR_ERR_DEVICE, std::string("rir_check_device_memory checks CUDA devices (cuda, cuda:N), not '") +
                                            (bo.kind == rir::DeviceKind::Cpu
                                                 ? "cpu': the CPU backend allocates host memory as it needs it"
                                                 : "auto': it names no device until rir_open resolves it"));
        // The device first, as rir_open does: a missing GPU is reported before config.json is read.
        rir::resolve_device(bo, nullptr);
        const rir::LlamaConfig config = rir::read_config(options->model_dir);
        rir::DeviceMemoryCheck check;
        try {
            rir::check_cuda_memory(bo, config, &check);
        } catch (...) {
            if (need_bytes) *need_bytes = check.need;  // known even when the device could not be asked
            throw;
        }
        if (need_bytes) *need_bytes = check.need;
        if (free_bytes) *free_bytes = check.free;
        if (!check.shortfall.empty()) throw Error(RIR_ERR_OUT_OF_MEMORY, check.shortfall);
    });
    copy_message(message, error_buf, error_cap);
    return st;
}

const char *rir_version(void) { return REASONIR_VERSION; }

rir_status rir_score(const void *rows, int32_t dtype, int64_t n_rows, int32_t dim, const float *queries,
                     int32_t n_queries, float *scores, int64_t ld_scores) {
    return guarded(score_last_error, [&] {
        validate_score(rows, dtype, n_rows, dim, queries, n_queries, scores, ld_scores);
        if (n_rows == 0 || n_queries == 0) return;
        rir::cpu::score_rows(rir::cpu::select_isa(), rows, static_cast<rir::cpu::ScoreDtype>(dtype), n_rows, dim,
                             queries, n_queries, scores, ld_scores);
    });
}

const char *rir_score_last_error(void) { return score_last_error.c_str(); }

}  // extern "C"
