/*
 * reasonir.h: the whole contract between the ReasonIR engine and its callers (the Java bindings, the CLI, tests).
 *
 * Plain C99, no C++ or CUDA types. Every model call takes an explicit model handle; the library keeps no global state
 * (a failed open reports through a caller-provided buffer, every other failure through the handle's last error).
 *
 * A batch is *packed*: the token ids of all sequences are concatenated (no padding), cu_seqlens[i]..cu_seqlens[i+1]
 * is sequence i, and pool_start[i] says how many leading positions of sequence i (the instruction) are left out of the
 * mean pooling. Sequences attend bidirectionally inside themselves only; positions restart at 0 for each sequence.
 *
 * Thread safety: every function may be called from any thread. Calls on one handle are serialized inside the library
 * (a per-handle lock: a second rir_embed waits for the first); distinct handles, on the same or on different devices,
 * run concurrently. rir_close must not race with other calls on the same handle (the Java API guarantees this).
 *
 * The exception: rir_score (exact-search scoring) needs no model; it reports failures through a per-thread last
 * error (rir_score_last_error) and keeps a per-thread scratch buffer.
 *
 * Devices: the library chooses the backend once, at rir_open ("auto": the first CUDA device when a usable GPU and
 * cuBLASLt are present, otherwise the CPU; rir_device_note says why). After an unrecoverable device error (a sticky
 * CUDA error: the context is dead) the handle is poisoned: every later rir_embed fails with RIR_ERR_DEVICE.
 */
#ifndef REASONIR_H
#define REASONIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RIR_API_VERSION 1

/* Status codes. Every function that can fail returns one; RIR_OK is 0. */
typedef enum rir_status {
    RIR_OK = 0,
    RIR_ERR_INVALID_ARGUMENT = 1, /* wrong API use: null pointer, negative length, output buffer too small */
    RIR_ERR_IO = 2,               /* a file is missing or cannot be read / mapped */
    RIR_ERR_FORMAT = 3,           /* a file is corrupt: bad JSON, bad safetensors header, offsets out of range */
    RIR_ERR_CHECKPOINT = 4,       /* the files parse but do not fit the config: missing tensor, wrong dtype/shape */
    RIR_ERR_CONFIG = 5,           /* config.json lacks a field or holds an unsupported value */
    RIR_ERR_INPUT = 6,            /* bad batch: empty sequence, token id out of range, pool_start >= length, too long */
    RIR_ERR_DEVICE = 7,           /* the requested device/backend is not available */
    RIR_ERR_OUT_OF_MEMORY = 8,    /* host or device allocation failed */
    RIR_ERR_INTERNAL = 9          /* a bug: please report it with the message */
} rir_status;

/* Numeric mode of the forward pass. */
typedef enum rir_precision {
    RIR_PRECISION_DEFAULT = 0, /* FP32 on the CPU backend, BF16 on CUDA */
    RIR_PRECISION_FP32 = 1,    /* bf16 weights widened exactly, all activations and arithmetic in fp32 */
    RIR_PRECISION_BF16 = 2     /* activations rounded to bf16 where HF transformers rounds them (see the spec) */
} rir_precision;

typedef struct rir_model rir_model; /* opaque */

typedef struct rir_open_options {
    uint32_t struct_size;       /* sizeof(rir_open_options); set by rir_open_options_init */
    const char *model_dir;      /* folder with config.json and model.safetensors or model.safetensors.index.json */
    const char *device;         /* "auto" (default), "cpu", "cuda" (= cuda:0), "cuda:N" */
    int32_t num_threads;        /* CPU backend worker threads; 0 = one per available core */
    int32_t precision;          /* an rir_precision value */
    int64_t max_batch_tokens;   /* largest packed batch a call may pass (workspace sizing); 0 = backend default */
    uint32_t flags;             /* RIR_OPEN_* bits */
    /* Added in the second version of this struct (older callers' struct_size ends before them: both read as 0). */
    int32_t attention;          /* an rir_attention value: which attention kernel the CUDA backend runs */
    int32_t cuda_graphs;        /* an rir_cuda_graphs value: whether the CUDA backend replays small batches as graphs */
} rir_open_options;

/* The CUDA backend's attention kernel (the CPU backend ignores this). Every kernel computes the same function with the
 * same rounding points (the CPU backend's BF16 attention); they differ in speed and in the order of fp32 sums. */
typedef enum rir_attention {
    RIR_ATTENTION_DEFAULT = 0, /* REASONIR_ATTENTION from the environment (auto, sm80 or sm90), else auto */
    RIR_ATTENTION_AUTO = 1,    /* the library's choice: sm80 on every GPU until a GPU report shows sm90 faster */
    RIR_ATTENTION_SM80 = 2,    /* mma.sync + cp.async, compute capability 8.0 and newer */
    RIR_ATTENTION_SM90 = 3     /* wgmma + TMA (Hopper), compute capability 9.0 only, head_dim 64 or 128 */
} rir_attention;

/* CUDA graphs for small batches (the CPU backend ignores this): the forward pass of a batch of up to
 * RIR_CUDA_GRAPH_MAX_TOKENS tokens is captured once per batch shape and replayed, which removes the launch cost of
 * its ~10 kernels per layer. Results are bit-identical with and without graphs. */
typedef enum rir_cuda_graphs {
    RIR_CUDA_GRAPHS_DEFAULT = 0, /* REASONIR_CUDA_GRAPHS from the environment (auto, on or off), else auto */
    RIR_CUDA_GRAPHS_AUTO = 1,    /* the library's choice: off until a GPU report shows graphs faster */
    RIR_CUDA_GRAPHS_ON = 2,
    RIR_CUDA_GRAPHS_OFF = 3
} rir_cuda_graphs;
#define RIR_CUDA_GRAPH_MAX_TOKENS 512

/* Read the shards with plain reads instead of memory-mapping them during rir_open (like llama.cpp's --no-mmap). Both
 * backends keep their own copy of the weights (the CPU backend packs them for its kernels, the CUDA backend uploads
 * them) and drop every mapping before rir_open returns, so this matters only during the open: a shard truncated while
 * it is mapped makes the next read of it fault (SIGBUS: the process dies), while with this flag it fails the open
 * with RIR_ERR_IO. Costs a second copy of the weights in memory until rir_open returns. */
#define RIR_OPEN_COPY_WEIGHTS 1u

/* Fills defaults: device "auto", num_threads 0, precision DEFAULT, max_batch_tokens 0, flags 0, attention and
 * cuda_graphs DEFAULT. */
void rir_open_options_init(rir_open_options *options);

/* Opens a checkpoint. On success *out is a handle to free with rir_close. On failure *out is NULL and a message
 * naming what and where (file, tensor, byte offset) is written to error_buf (NUL-terminated, truncated to
 * error_cap bytes; error_buf may be NULL). */
rir_status rir_open(const rir_open_options *options, rir_model **out, char *error_buf, size_t error_cap);

/* Frees the handle and unmaps the checkpoint. NULL is a no-op. */
void rir_close(rir_model *model);

/* Embeds a packed batch of n_seqs sequences.
 *   token_ids  [cu_seqlens[n_seqs]]  all sequences back to back
 *   cu_seqlens [n_seqs + 1]          cu_seqlens[0] = 0, strictly increasing (no empty sequence)
 *   pool_start [n_seqs] or NULL      first pooled position of each sequence (NULL: all 0); must be < its length
 *   out        [n_seqs * hidden]     float32 rows, L2-normalized unless RIR_EMBED_NO_NORMALIZE
 *   out_len    number of floats available in out
 * On failure the handle's last error names the offending sequence index. */
#define RIR_EMBED_NO_NORMALIZE 1u /* return the masked mean of the final hidden states, before L2 normalization */
rir_status rir_embed(rir_model *model, const int32_t *token_ids, const int32_t *cu_seqlens, const int32_t *pool_start,
                     int32_t n_seqs, uint32_t flags, float *out, int64_t out_len);

/* Model facts (all > 0 for an open model). */
int32_t rir_hidden_size(const rir_model *model);        /* embedding dimension, 4096 for ReasonIR-8B */
int32_t rir_vocab_size(const rir_model *model);
int32_t rir_num_layers(const rir_model *model);
int64_t rir_max_position(const rir_model *model);       /* max_position_embeddings: longest sequence accepted */
int64_t rir_max_batch_tokens(const rir_model *model);   /* largest cu_seqlens[n_seqs] one rir_embed call accepts */

/* "cpu" or "cuda". */
const char *rir_backend(const rir_model *model);
/* Human-readable device, e.g. "cpu (2 threads, avx512bf16)" or "cuda:0 (NVIDIA H100 80GB HBM3)". */
const char *rir_device(const rir_model *model);
/* The precision in effect (never RIR_PRECISION_DEFAULT). */
int32_t rir_precision_of(const rir_model *model);

/* Message of the last failed call on this handle ("" if none). Valid until the next call on the handle. */
const char *rir_last_error(const rir_model *model);

/* Index (into the batch of that call) of the sequence the last failed rir_embed concerns, or -1 when the failure is
 * not about one sequence (device error, bad argument) or the last call succeeded. */
int32_t rir_last_error_sequence(const rir_model *model);

/* Why this backend was chosen, one line: for device "auto" the reason CUDA was or was not used (e.g. "no CUDA device:
 * CUDA driver version is insufficient for CUDA runtime version"); "" when the device was named explicitly. */
const char *rir_device_note(const rir_model *model);

/* Number of usable CUDA devices for this library (0 when the build has no CUDA backend, there is no driver or GPU,
 * or cuBLASLt cannot be loaded); when 0 and why_buf is not NULL, the reason is written there (NUL-terminated,
 * truncated to why_cap bytes). Never fails otherwise. */
int32_t rir_cuda_device_count(char *why_buf, size_t why_cap);

/* Would an rir_open with these options fit in the free memory of its CUDA device? Reads config.json of
 * options->model_dir (not the weights), computes the device memory that open would need (the CUDA backend's own
 * formula: weights, activations for max_batch_tokens (0: the backend's default), cuBLASLt workspace and headroom) and
 * asks the device how much is free (cudaMemGetInfo), without allocating anything of the engine's; on a real GPU the
 * query creates the device's CUDA context if the process has none there yet, as rir_open would. A device pool calls
 * it for every device before opening any, so that a device too small for the model is named before the others have
 * allocated (rir_open still checks for itself: memory can be taken in between).
 *   options->device  "cuda" or "cuda:N" only: "cpu" and "auto" fail with RIR_ERR_DEVICE (the check is for CUDA
 *                    devices; the CPU backend allocates host memory), as does a build without the CUDA backend, a
 *                    machine without a usable CUDA device or an ordinal it does not have.
 *   need_bytes, free_bytes  may be NULL; set to 0 first, then to the need once config.json is read and to the
 *                    device's free memory once it was asked.
 * Returns RIR_OK when the need fits (error_buf then holds ""), RIR_ERR_OUT_OF_MEMORY when it does not, with the
 * message rir_open would give (naming the device, its free and total memory and the need), or the status of what
 * failed before (RIR_ERR_INVALID_ARGUMENT for bad options, RIR_ERR_IO/FORMAT/CONFIG for config.json, RIR_ERR_DEVICE).
 * The message goes to error_buf as with rir_open (NUL-terminated, truncated to error_cap; error_buf may be NULL). */
rir_status rir_check_device_memory(const rir_open_options *options, uint64_t *need_bytes, uint64_t *free_bytes,
                                   char *error_buf, size_t error_cap);

/* ---- Exact-search scoring (no model handle) ---- */

/* Element type of index rows. */
typedef enum rir_dtype {
    RIR_DTYPE_F16 = 1, /* IEEE binary16 (NumPy <f2), converted exactly to fp32 */
    RIR_DTYPE_F32 = 2  /* IEEE binary32 (NumPy <f4) */
} rir_dtype;

/* Scores a block of index rows against a batch of query vectors on the CPU, single-threaded in the calling thread
 * (callers parallelize over blocks):
 *   scores[i * ld_scores + j] = score(queries + i * dim, row j)   for i < n_queries, j < n_rows
 *   rows      [n_rows * dim]     values of type dtype, row-major, no padding (any address aligned to the element)
 *   queries   [n_queries * dim]  fp32, finite (not checked: a non-finite query gives NaN/infinite scores)
 *   scores    [(n_queries - 1) * ld_scores + n_rows], ld_scores >= n_rows
 * Definition of score(q, x) over dimension D, bit for bit: 16 lane partial sums, lane l (0..15) accumulating the
 * dimensions d with d % 16 == l in ascending d as an fp32 fused multiply-add chain starting at +0
 * (acc = fma(q[d], x[d], acc)); dimensions past D (when D % 16 != 0) contribute nothing; then the lanes are reduced
 * in one fixed tree: s8[i] = lane[i] + lane[i+8] (i < 8), s4[i] = s8[i] + s8[i+4], s2[i] = s4[i] + s4[i+2],
 * score = s2[0] + s2[1]. A score therefore depends on the query and the row only: it is the same whatever the
 * number of queries or rows in a call, the split into calls or threads, and the instruction set (AVX-512, AVX2 or
 * scalar, chosen at run time; REASONIR_CPU_ISA caps it): bit-identical on every x86-64 CPU. Rows may hold anything;
 * a row with an infinity or NaN gives an infinite or NaN score (a NaN's payload is not specified).
 * Memory: a per-thread scratch of about n_queries * (4 * dim + 384) bytes, kept for the thread's next call (freed
 * when the thread exits). Performance: a few hundred rows per call or more (the queries are repacked per call).
 * n_rows == 0 or n_queries == 0 is a no-op (the pointers may then be NULL). Fails with RIR_ERR_INVALID_ARGUMENT for
 * a NULL pointer where data is needed, n_rows < 0, dim < 1, n_queries < 0, ld_scores < n_rows or an unknown dtype;
 * rir_score_last_error says why. */
rir_status rir_score(const void *rows, int32_t dtype, int64_t n_rows, int32_t dim, const float *queries,
                     int32_t n_queries, float *scores, int64_t ld_scores);

/* Message of the calling thread's last rir_score call ("" when it succeeded). Valid until that thread's next
 * rir_score call. */
const char *rir_score_last_error(void);

/* Library version string, e.g. "0.1.0". */
const char *rir_version(void);

#ifdef __cplusplus
}
#endif
#endif /* REASONIR_H */
