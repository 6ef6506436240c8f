#!/usr/bin/env python3
"""ctypes binding of the engine's C API (native/include/reasonir.h) for the GPU check; numpy only.

    with Engine("build/gpu/libreasonir.so", "build/generated/llama3_gqa", device="cuda") as e:
        pooled = e.embed([(ids, pool_start), ...], normalize=False)   # float32 [n, hidden]

Works with any build of the library (a CPU-only build with device "cpu" in the unit tests).
"""
from __future__ import annotations

import ctypes
import os
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

# The header's constants, name for name (ctypes cannot read an enum or a #define from the library).
# tests/test_header_constants.py parses native/include/reasonir.h and checks every RIR_* name here against it, and
# that no status, precision, embed or open flag of the header is missing; the tables below derive from these names.
RIR_OK = 0
RIR_ERR_INVALID_ARGUMENT = 1
RIR_ERR_IO = 2
RIR_ERR_FORMAT = 3
RIR_ERR_CHECKPOINT = 4
RIR_ERR_CONFIG = 5
RIR_ERR_INPUT = 6
RIR_ERR_DEVICE = 7
RIR_ERR_OUT_OF_MEMORY = 8
RIR_ERR_INTERNAL = 9
RIR_PRECISION_DEFAULT = 0
RIR_PRECISION_FP32 = 1
RIR_PRECISION_BF16 = 2
RIR_EMBED_NO_NORMALIZE = 1
RIR_OPEN_COPY_WEIGHTS = 1
RIR_ATTENTION_DEFAULT = 0
RIR_ATTENTION_AUTO = 1
RIR_ATTENTION_SM80 = 2
RIR_ATTENTION_SM90 = 3
RIR_CUDA_GRAPHS_DEFAULT = 0
RIR_CUDA_GRAPHS_AUTO = 1
RIR_CUDA_GRAPHS_ON = 2
RIR_CUDA_GRAPHS_OFF = 3
RIR_CUDA_GRAPH_MAX_TOKENS = 512

# Status value -> name without the prefix ("OK", "INVALID_ARGUMENT", ...), precision name ("default", "fp32",
# "bf16") -> value, and back.
STATUS_NAMES = {RIR_OK: "OK", **{v: k[len("RIR_ERR_"):] for k, v in dict(globals()).items()
                                   if k.startswith("RIR_ERR_")}}
PRECISION = {k[len("RIR_PRECISION_"):].lower(): v for k, v in dict(globals()).items()
             if k.startswith("RIR_PRECISION_")}
PRECISION_NAMES = {v: k for k, v in PRECISION.items()}
ATTENTION = {k[len("RIR_ATTENTION_"):].lower(): v for k, v in dict(globals()).items()
             if k.startswith("RIR_ATTENTION_")}
CUDA_GRAPHS = {k[len("RIR_CUDA_GRAPHS_"):].lower(): v for k, v in dict(globals()).items()
               if k.startswith("RIR_CUDA_GRAPHS_")}


class RirOpenOptions(ctypes.Structure):
    """rir_open_options, field for field (reasonir.h)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("model_dir", ctypes.c_char_p),
        ("device", ctypes.c_char_p),
        ("num_threads", ctypes.c_int32),
        ("precision", ctypes.c_int32),
        ("max_batch_tokens", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("attention", ctypes.c_int32),
        ("cuda_graphs", ctypes.c_int32),
    ]


class EngineError(RuntimeError):
    def __init__(self, status: int, message: str, sequence: int = -1):
        self.status = status
        self.sequence = sequence
        name = STATUS_NAMES.get(status, str(status))
        where = f" (sequence {sequence})" if sequence >= 0 else ""
        super().__init__(f"{name}{where}: {message}")


def load_library(path: str) -> ctypes.CDLL:
    """Loads libreasonir.so and declares the C API's signatures."""
    lib = ctypes.CDLL(os.path.abspath(path))
    vp, cp, i32, i64, u32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint32
    p_i32 = ctypes.POINTER(ctypes.c_int32)
    p_f32 = ctypes.POINTER(ctypes.c_float)
    sigs = {
        "rir_open_options_init": (None, [ctypes.POINTER(RirOpenOptions)]),
        "rir_open": (ctypes.c_int, [ctypes.POINTER(RirOpenOptions), ctypes.POINTER(vp), cp, ctypes.c_size_t]),
        "rir_close": (None, [vp]),
        "rir_embed": (ctypes.c_int, [vp, p_i32, p_i32, p_i32, i32, u32, p_f32, i64]),
        "rir_hidden_size": (i32, [vp]),
        "rir_vocab_size": (i32, [vp]),
        "rir_num_layers": (i32, [vp]),
        "rir_max_position": (i64, [vp]),
        "rir_max_batch_tokens": (i64, [vp]),
        "rir_backend": (cp, [vp]),
        "rir_device": (cp, [vp]),
        "rir_precision_of": (i32, [vp]),
        "rir_last_error": (cp, [vp]),
        "rir_last_error_sequence": (i32, [vp]),
        "rir_device_note": (cp, [vp]),
        "rir_cuda_device_count": (i32, [cp, ctypes.c_size_t]),
        "rir_version": (cp, []),
    }
    optional = {"rir_last_error_sequence", "rir_device_note", "rir_cuda_device_count"}  # newer than API v1's start
    lib.rir_missing = []
    for name, (res, args) in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name not in optional:
                raise
            lib.rir_missing.append(name)
            continue
        fn.restype = res
        fn.argtypes = args
    return lib


def has(lib: ctypes.CDLL, name: str) -> bool:
    return name not in getattr(lib, "rir_missing", [])


def cuda_device_count(lib: ctypes.CDLL) -> Tuple[int, str]:
    if not has(lib, "rir_cuda_device_count"):
        return 0, "this library has no rir_cuda_device_count"
    buf = ctypes.create_string_buffer(1024)
    n = lib.rir_cuda_device_count(buf, len(buf))
    return int(n), buf.value.decode("utf-8", "replace")


def pack(seqs: Sequence[Tuple[Sequence[int], int]]):
    """(ids, cu_seqlens, pool_start) int32 arrays of a packed batch."""
    lengths = [len(ids) for ids, _ in seqs]
    cu = np.zeros(len(seqs) + 1, dtype=np.int32)
    np.cumsum(lengths, out=cu[1:])
    ids = np.concatenate([np.asarray(i, dtype=np.int32) for i, _ in seqs]) if seqs else np.zeros(0, np.int32)
    ps = np.asarray([int(p) for _, p in seqs], dtype=np.int32)
    return np.ascontiguousarray(ids), cu, ps


class Engine:
    def __init__(self, lib_path: str, model_dir: str, device: str = "cuda", precision: str = "default",
                 max_batch_tokens: int = 0, num_threads: int = 0, flags: int = 0, attention: str = "default",
                 cuda_graphs: str = "default"):
        self.lib = load_library(lib_path)
        opt = RirOpenOptions()
        self.lib.rir_open_options_init(ctypes.byref(opt))
        self._keep = [model_dir.encode("utf-8"), device.encode("utf-8")]  # alive during rir_open
        opt.model_dir = self._keep[0]
        opt.device = self._keep[1]
        opt.num_threads = int(num_threads)
        opt.precision = PRECISION[precision]
        opt.max_batch_tokens = int(max_batch_tokens)
        opt.flags = int(flags)
        # "default": the library reads REASONIR_ATTENTION / REASONIR_CUDA_GRAPHS from the environment, else auto.
        opt.attention = ATTENTION[attention]
        opt.cuda_graphs = CUDA_GRAPHS[cuda_graphs]
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(4096)
        t0 = time.perf_counter()
        st = self.lib.rir_open(ctypes.byref(opt), ctypes.byref(handle), err, len(err))
        self.load_s = time.perf_counter() - t0
        if st != RIR_OK:
            raise EngineError(st, err.value.decode("utf-8", "replace"))
        self.h = handle

    # facts -------------------------------------------------------------------------------------------------------
    def _s(self, fn) -> str:
        v = fn(self.h)
        return v.decode("utf-8", "replace") if v else ""

    @property
    def hidden(self) -> int:
        return int(self.lib.rir_hidden_size(self.h))

    @property
    def vocab(self) -> int:
        return int(self.lib.rir_vocab_size(self.h))

    @property
    def layers(self) -> int:
        return int(self.lib.rir_num_layers(self.h))

    @property
    def max_batch_tokens(self) -> int:
        return int(self.lib.rir_max_batch_tokens(self.h))

    @property
    def backend(self) -> str:
        return self._s(self.lib.rir_backend)

    @property
    def device(self) -> str:
        return self._s(self.lib.rir_device)

    @property
    def device_note(self) -> str:
        return self._s(self.lib.rir_device_note) if has(self.lib, "rir_device_note") else ""

    @property
    def precision(self) -> str:
        return PRECISION_NAMES.get(int(self.lib.rir_precision_of(self.h)), "?")

    def version(self) -> str:
        v = self.lib.rir_version()
        return v.decode() if v else ""

    def info(self) -> dict:
        return {"backend": self.backend, "device": self.device, "precision": self.precision,
                "hidden": self.hidden, "layers": self.layers, "vocab": self.vocab,
                "max_batch_tokens": self.max_batch_tokens, "version": self.version(), "note": self.device_note,
                "load_s": round(self.load_s, 3)}

    # work --------------------------------------------------------------------------------------------------------
    def embed_batch(self, seqs: Sequence[Tuple[Sequence[int], int]], normalize: bool = True) -> np.ndarray:
        """One rir_embed call over the packed batch; float32 [n, hidden]."""
        if self.h is None:
            raise RuntimeError("engine closed")
        ids, cu, ps = pack(seqs)
        n = len(seqs)
        out = np.zeros((n, self.hidden), dtype=np.float32)
        i32p = ctypes.POINTER(ctypes.c_int32)
        st = self.lib.rir_embed(self.h, ids.ctypes.data_as(i32p), cu.ctypes.data_as(i32p), ps.ctypes.data_as(i32p),
                                n, 0 if normalize else RIR_EMBED_NO_NORMALIZE,
                                out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size)
        if st != RIR_OK:
            seq = int(self.lib.rir_last_error_sequence(self.h)) if has(self.lib, "rir_last_error_sequence") else -1
            raise EngineError(st, self._s(self.lib.rir_last_error), seq)
        return out

    def embed(self, seqs: Sequence[Tuple[Sequence[int], int]], normalize: bool = True,
              batch_tokens: Optional[int] = None) -> np.ndarray:
        """Splits into packed batches of at most batch_tokens tokens (default: the engine's limit), in order."""
        limit = batch_tokens or self.max_batch_tokens or 1 << 30
        out: List[np.ndarray] = []
        cur: List[Tuple[Sequence[int], int]] = []
        cur_tokens = 0
        for s in seqs:
            if cur and cur_tokens + len(s[0]) > limit:
                out.append(self.embed_batch(cur, normalize))
                cur, cur_tokens = [], 0
            cur.append(s)
            cur_tokens += len(s[0])
        if cur:
            out.append(self.embed_batch(cur, normalize))
        return np.concatenate(out) if out else np.zeros((0, self.hidden), np.float32)

    def close(self) -> None:
        if getattr(self, "h", None) is not None:
            self.lib.rir_close(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-300)


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """min cosine (per row), max abs diff, and whether both are finite."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        return {"error": f"shape mismatch {a.shape} vs {b.shape}"}
    finite = bool(np.isfinite(a).all() and np.isfinite(b).all())
    cos = cosine_rows(a, b)
    return {"min_cosine": float(np.min(cos)) if cos.size else None,
            "max_abs_diff": float(np.max(np.abs(a - b))) if a.size else None,
            "per_row_cosine": [round(float(c), 7) for c in cos], "finite": finite}
