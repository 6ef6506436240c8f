"""safetensors reading and writing with numpy only, plus bfloat16 helpers.

File layout (https://github.com/huggingface/safetensors, "Format"):
    8 bytes   little-endian uint64 N, the header length
    N bytes   UTF-8 JSON: {name: {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
              "__metadata__": {"format": "pt"}}, padded with spaces to a multiple of 8 (what the Rust writer does,
              so the data section starts 8-byte aligned)
    data      tensors back to back, row-major little-endian; offsets are relative to the end of the header.

numpy has no bfloat16, so BF16 tensors are handled as their raw uint16 bit patterns (the upper half of an IEEE
float32). `f32_to_bf16_bits` rounds to nearest, ties to even, and keeps NaN a NaN (what torch's `.to(torch.bfloat16)`
does); `bf16_bits_to_f32` widens exactly.

Writing streams: `write_safetensors` takes (name, dtype, shape, producer) entries, writes the header from the shapes,
then asks each producer for its data, possibly in several chunks, so a 2 GB tensor never needs to be in memory at once.
Reading memory-maps (`SafeTensorsFile.get` returns a read-only view into the file, no copy).
"""
from __future__ import annotations

import json
import os
import struct
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

# safetensors dtype name -> numpy storage dtype (BF16 is stored as its raw bits).
DTYPES: Dict[str, np.dtype] = {
    "BF16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
}
# Header length sanity bound: the reference Rust implementation refuses headers over 100 MB.
MAX_HEADER_BYTES = 100 * 1024 * 1024

ArrayOrChunks = Union[np.ndarray, Iterable[np.ndarray]]


class SafeTensorsError(ValueError):
    """A malformed or inconsistent safetensors file; the message names the file, tensor and byte offset."""


# --------------------------------------------------------------------------------------------------------------
# bfloat16
# --------------------------------------------------------------------------------------------------------------
_U32_7FFF = np.uint32(0x7FFF)
_U32_ONE = np.uint32(1)
_U32_16 = np.uint32(16)
_U32_HI = np.uint32(0xFFFF0000)
_U32_ABS = np.uint32(0x7FFFFFFF)
_U32_INF = np.uint32(0x7F800000)
_U32_QUIET = np.uint32(0x00400000)  # quiet-NaN bit of a float32 (bit 22), lands in bf16 bit 6


def _round_bf16_u32(u: np.ndarray) -> np.ndarray:
    """float32 bits (uint32) -> float32 bits with the low 16 bits cleared after rounding to nearest even.

    Adding 0x7FFF plus the lowest kept bit and truncating is round-to-nearest-even; overflow into the exponent
    gives the right answer (rounds up to the next binade or to infinity). NaNs are made quiet and truncated instead,
    so a NaN whose payload sits only in the low 16 bits stays a NaN.
    """
    u = np.asarray(u, dtype=np.uint32)
    nan = (u & _U32_ABS) > _U32_INF
    r = u + (((u >> _U32_16) & _U32_ONE) + _U32_7FFF)  # uint32 wraps only for NaNs, which are replaced below
    r &= _U32_HI
    if nan.any():
        r = np.where(nan, (u | _U32_QUIET) & _U32_HI, r)
    return r


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 array -> uint16 bf16 bit patterns (round to nearest, ties to even; NaN stays NaN, inf stays inf)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return (_round_bf16_u32(u) >> _U32_16).astype(np.uint16)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """uint16 bf16 bit patterns -> float32 (exact)."""
    b = np.asarray(bits, dtype=np.uint16)
    return (b.astype(np.uint32) << _U32_16).view(np.float32)


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """r(x): round float32 values to the nearest bf16 value and return them as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return _round_bf16_u32(u).view(np.float32)


def to_storage(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values -> the storage array of `dtype` ("BF16" bits, "F16" or "F32")."""
    if dtype == "BF16":
        return f32_to_bf16_bits(x)
    if dtype in ("F16", "F32"):
        return np.asarray(x, dtype=np.float32).astype(DTYPES[dtype])
    raise SafeTensorsError(f"unsupported dtype {dtype!r} (supported: {sorted(DTYPES)})")


def to_float32(stored: np.ndarray, dtype: str) -> np.ndarray:
    """A storage array of `dtype` -> float32 values (exact widening for all supported dtypes)."""
    if dtype == "BF16":
        return bf16_bits_to_f32(stored)
    if dtype in ("F16", "F32"):
        return np.asarray(stored).astype(np.float32)
    raise SafeTensorsError(f"unsupported dtype {dtype!r} (supported: {sorted(DTYPES)})")


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------
class TensorEntry:
    """One tensor to write: its name, safetensors dtype, shape, and its data (an array in storage dtype, or a
    zero-argument callable returning an array or an iterable of row-major chunks)."""

    __slots__ = ("name", "dtype", "shape", "data")

    def __init__(self, name: str, dtype: str, shape: Sequence[int], data):
        if dtype not in DTYPES:
            raise SafeTensorsError(f"tensor {name!r}: unsupported dtype {dtype!r} (supported: {sorted(DTYPES)})")
        self.name = name
        self.dtype = dtype
        self.shape = tuple(int(s) for s in shape)
        self.data = data

    @property
    def nbytes(self) -> int:
        n = DTYPES[self.dtype].itemsize
        for s in self.shape:
            n *= s
        return n


def build_header(entries: Sequence[TensorEntry], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """The JSON header (space-padded to a multiple of 8) for tensors laid out back to back in `entries` order."""
    header: Dict[str, object] = {"__metadata__": dict(metadata if metadata is not None else {"format": "pt"})}
    offset = 0
    for e in entries:
        if e.name in header:
            raise SafeTensorsError(f"duplicate tensor name {e.name!r}")
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [offset, offset + e.nbytes]}
        offset += e.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * ((-len(text)) % 8)


def _chunks(entry: TensorEntry) -> Iterator[np.ndarray]:
    data = entry.data() if callable(entry.data) else entry.data
    if isinstance(data, np.ndarray):
        yield data
    else:
        yield from data


def write_safetensors(path: str, entries: Sequence[TensorEntry], metadata: Optional[Dict[str, str]] = None,
                      hasher=None) -> int:
    """Writes `entries` to `path` (streaming each tensor's chunks); returns the data section size in bytes.

    Every chunk must already be in the entry's storage dtype (uint16 bits for BF16); the total bytes written per tensor
    are checked against its shape. `hasher` (a hashlib object), when given, is fed every byte written, so callers get
    the file's digest without reading it back.
    """
    entries = list(entries)
    header = build_header(entries, metadata)
    total = 0

    class _Sink:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            self.f.write(b)
            if hasher is not None:
                hasher.update(b)

    with open(path, "wb") as raw_file:
        f = _Sink(raw_file)
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for e in entries:
            want = DTYPES[e.dtype]
            written = 0
            for chunk in _chunks(e):
                chunk = np.ascontiguousarray(chunk)
                if chunk.dtype != want:
                    raise SafeTensorsError(f"{path}: tensor {e.name!r}: chunk dtype {chunk.dtype} != {want} "
                                           f"(convert with to_storage first)")
                if chunk.size:
                    f.write(chunk.reshape(-1).view(np.uint8))
                written += chunk.nbytes
            if written != e.nbytes:
                raise SafeTensorsError(f"{path}: tensor {e.name!r}: producer gave {written} bytes, shape "
                                       f"{list(e.shape)} {e.dtype} needs {e.nbytes}")
            total += written
    return total


def save_file(tensors: Dict[str, Tuple[str, np.ndarray]], path: str,
              metadata: Optional[Dict[str, str]] = None) -> None:
    """Convenience writer: {name: (dtype, float32-or-storage array)}; float arrays are converted to `dtype`."""
    entries = []
    for name, (dtype, arr) in tensors.items():
        arr = np.asarray(arr)
        stored = arr if arr.dtype == DTYPES[dtype] else to_storage(arr, dtype)
        entries.append(TensorEntry(name, dtype, arr.shape, stored))
    write_safetensors(path, entries, metadata)


# --------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------
class TensorInfo:
    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, dtype: str, shape: Tuple[int, ...], begin: int, end: int):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


class SafeTensorsFile:
    """One .safetensors file, header parsed and validated at open; tensor data memory-mapped on demand."""

    def __init__(self, path: str):
        self.path = path
        size = os.path.getsize(path)
        if size < 8:
            raise SafeTensorsError(f"{path}: file is {size} bytes, shorter than the 8-byte header length")
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise SafeTensorsError(f"{path}: header length {n} at byte 0 is invalid for a {size}-byte file")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SafeTensorsError(f"{path}: header (bytes 8..{8 + n}) is not valid UTF-8 JSON: {exc}") from None
        if not isinstance(header, dict):
            raise SafeTensorsError(f"{path}: header at byte 8 is not a JSON object")
        self.data_start = 8 + n
        self.data_size = size - self.data_start
        self.metadata = header.pop("__metadata__", None) or {}
        self.tensors: Dict[str, TensorInfo] = {}
        for name, info in header.items():
            self.tensors[name] = self._parse_entry(name, info)
        self._mmap: Optional[np.memmap] = None

    def _parse_entry(self, name: str, info) -> TensorInfo:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise SafeTensorsError(f"{where}: header entry needs dtype, shape and data_offsets, got {info!r}")
        dtype = info["dtype"]
        if dtype not in DTYPES:
            raise SafeTensorsError(f"{where}: unsupported dtype {dtype!r} (supported: {sorted(DTYPES)})")
        shape = info["shape"]
        offs = info["data_offsets"]
        if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                or not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)):
            raise SafeTensorsError(f"{where}: bad shape {shape!r} or data_offsets {offs!r}")
        begin, end = offs
        nbytes = DTYPES[dtype].itemsize * int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= self.data_size or end - begin != nbytes:
            raise SafeTensorsError(
                f"{where}: data_offsets [{begin}, {end}] (file bytes {self.data_start + begin}..{self.data_start + end})"
                f" do not hold shape {shape} {dtype} ({nbytes} bytes) inside a {self.data_size}-byte data section")
        return TensorInfo(name, dtype, tuple(shape), begin, end)

    def keys(self) -> List[str]:
        return list(self.tensors)

    def get(self, name: str) -> np.ndarray:
        """Read-only storage-dtype view of tensor `name` (uint16 bits for BF16), memory-mapped, no copy."""
        if name not in self.tensors:
            raise KeyError(f"{self.path}: no tensor {name!r}")
        t = self.tensors[name]
        if self._mmap is None:
            self._mmap = np.memmap(self.path, dtype=np.uint8, mode="r")
        raw = self._mmap[self.data_start + t.begin:self.data_start + t.end]
        return raw.view(DTYPES[t.dtype]).reshape(t.shape)

    def read(self, name: str) -> np.ndarray:
        """Storage-dtype copy of tensor `name`, read with ordinary file I/O (nothing stays mapped, so reading a
        15 GB checkpoint layer by layer does not grow the process's resident set)."""
        if name not in self.tensors:
            raise KeyError(f"{self.path}: no tensor {name!r}")
        t = self.tensors[name]
        dt = DTYPES[t.dtype]
        count = (t.end - t.begin) // dt.itemsize
        arr = np.fromfile(self.path, dtype=dt, count=count, offset=self.data_start + t.begin)
        if arr.size != count:
            raise SafeTensorsError(f"{self.path}: tensor {name!r}: short read at byte {self.data_start + t.begin}")
        return arr.reshape(t.shape)

    def get_f32(self, name: str) -> np.ndarray:
        """Tensor `name` widened to float32 (a copy)."""
        return to_float32(self.read(name), self.tensors[name].dtype)


def load_file(path: str) -> Dict[str, np.ndarray]:
    """Every tensor of a file as float32 (small files only: copies everything)."""
    f = SafeTensorsFile(path)
    return {name: f.get_f32(name) for name in f.keys()}


class Checkpoint:
    """A Hugging Face checkpoint folder: `model.safetensors`, or shards named by `model.safetensors.index.json`.

    Tensor names are exposed without the optional `model.` prefix (`embed_tokens.weight`, `layers.0...`), the form
    used by the spec; `lm_head.weight` keeps its name.
    """

    PREFIX = "model."

    def __init__(self, directory: str):
        self.directory = directory
        index_path = os.path.join(directory, "model.safetensors.index.json")
        single_path = os.path.join(directory, "model.safetensors")
        files: Dict[str, SafeTensorsFile] = {}
        self._where: Dict[str, Tuple[SafeTensorsFile, str]] = {}
        # model.safetensors wins when both exist, as in transformers and the engine.
        if os.path.exists(single_path):
            sf = SafeTensorsFile(single_path)
            files["model.safetensors"] = sf
            for full in sf.keys():
                self._add(full, sf)
        elif os.path.exists(index_path):
            with open(index_path, "r", encoding="utf-8") as f:
                index = json.load(f)
            weight_map = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(weight_map, dict) or not weight_map:
                raise SafeTensorsError(f"{index_path}: missing or empty \"weight_map\"")
            for full, fname in weight_map.items():
                if fname not in files:
                    files[fname] = SafeTensorsFile(os.path.join(directory, fname))
                if full not in files[fname].tensors:
                    raise SafeTensorsError(f"{index_path}: weight_map puts {full!r} in {fname}, which lacks it")
                self._add(full, files[fname])
        else:
            raise SafeTensorsError(f"{directory}: neither model.safetensors nor model.safetensors.index.json found")
        self.files = files

    def _add(self, full: str, sf: SafeTensorsFile) -> None:
        short = full[len(self.PREFIX):] if full.startswith(self.PREFIX) else full
        if short in self._where:
            raise SafeTensorsError(f"{sf.path}: tensor {full!r} duplicates {self._where[short][1]!r}")
        self._where[short] = (sf, full)

    def names(self) -> List[str]:
        return list(self._where)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def info(self, name: str) -> TensorInfo:
        sf, full = self._lookup(name)
        return sf.tensors[full]

    def _lookup(self, name: str) -> Tuple[SafeTensorsFile, str]:
        if name not in self._where:
            raise KeyError(f"{self.directory}: no tensor {name!r} (with or without prefix {self.PREFIX!r})")
        return self._where[name]

    def get(self, name: str) -> np.ndarray:
        sf, full = self._lookup(name)
        return sf.get(full)

    def get_f32(self, name: str) -> np.ndarray:
        sf, full = self._lookup(name)
        return sf.get_f32(full)

    def dtype(self, name: str) -> str:
        return self.info(name).dtype
