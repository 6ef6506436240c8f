"""engine.py, the ctypes binding, against the C header it binds (native/include/reasonir.h): every RIR_* constant
engine.py defines has the header's value, none of the header's statuses, precisions, embed flags or open flags is
missing, the status and precision tables cover exactly the header's, and RirOpenOptions is rir_open_options field for
field. ctypes reads neither enums nor #defines from the library, so these numbers are written in engine.py and
checked here. (The Java binding is checked against the same header by core's HeaderConstantsTest.)

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_header_constants
"""
from __future__ import annotations

import ctypes
import os
import re
import unittest

from reasonir_bench import ROOT, engine

HEADER = os.path.join(ROOT, "native", "include", "reasonir.h")
# "#define RIR_X 1" or "1u", and enumerators "RIR_X = 1," (the last one of an enum has no comma).
DEFINE = re.compile(r"^\s*#define\s+(RIR_\w+)\s+(-?\d+)[uU]?\b", re.M)
ENUMERATOR = re.compile(r"\b(RIR_\w+)\s*=\s*(-?\d+)\s*[,}/\n]")
# Groups engine.py binds, so must define in full. rir_dtype (RIR_DTYPE_*) belongs to rir_score, which engine.py does
# not bind, and RIR_API_VERSION it does not use: those it may leave out, but a value it defines is checked all the same.
REQUIRED_PREFIXES = ("RIR_OK", "RIR_ERR_", "RIR_PRECISION_", "RIR_EMBED_", "RIR_OPEN_", "RIR_ATTENTION_",
                     "RIR_CUDA_GRAPH")
CTYPE_OF = {"uint32_t": ctypes.c_uint32, "int32_t": ctypes.c_int32, "int64_t": ctypes.c_int64,
            "const char *": ctypes.c_char_p}  # the C types rir_open_options uses


def header_text() -> str:
    with open(HEADER, encoding="utf-8") as f:
        return f.read()


def header_constants() -> dict:
    text = header_text()
    out = {}
    for pattern in (DEFINE, ENUMERATOR):
        for name, value in pattern.findall(text):
            assert name not in out, f"{name} defined twice in {HEADER}"
            out[name] = int(value)
    return out


def engine_constants() -> dict:
    return {k: v for k, v in vars(engine).items() if k.startswith("RIR_") and isinstance(v, int)}


class HeaderConstantsTest(unittest.TestCase):
    def setUp(self):
        self.header = header_constants()
        # A parser that silently finds nothing would make every check below vacuous.
        for name in ("RIR_OK", "RIR_ERR_INTERNAL", "RIR_PRECISION_BF16", "RIR_EMBED_NO_NORMALIZE",
                     "RIR_OPEN_COPY_WEIGHTS", "RIR_DTYPE_F32", "RIR_API_VERSION"):
            self.assertIn(name, self.header)

    def test_every_constant_has_the_headers_value(self):
        for name, value in engine_constants().items():
            self.assertIn(name, self.header, f"engine.py defines {name}, which the header does not")
            self.assertEqual(self.header[name], value, name)

    def test_no_bound_constant_is_missing(self):
        required = {k for k in self.header if k.startswith(REQUIRED_PREFIXES)}
        missing = sorted(required - set(engine_constants()))
        self.assertEqual([], missing, "constants of reasonir.h that engine.py lacks")

    def test_status_and_precision_tables_are_the_headers(self):
        statuses = {v: ("OK" if k == "RIR_OK" else k[len("RIR_ERR_"):]) for k, v in self.header.items()
                    if k == "RIR_OK" or k.startswith("RIR_ERR_")}
        self.assertEqual(statuses, engine.STATUS_NAMES)
        precisions = {k[len("RIR_PRECISION_"):].lower(): v for k, v in self.header.items()
                      if k.startswith("RIR_PRECISION_")}
        self.assertEqual(precisions, engine.PRECISION)
        self.assertEqual({v: k for k, v in precisions.items()}, engine.PRECISION_NAMES)
        # The error text names the status as the header does.
        self.assertTrue(str(engine.EngineError(self.header["RIR_ERR_OUT_OF_MEMORY"], "x")).startswith("OUT_OF_MEMORY"))

    def test_open_options_struct_matches_the_header(self):
        m = re.search(r"typedef struct rir_open_options \{(.*?)\} rir_open_options;", header_text(), re.S)
        self.assertIsNotNone(m, "rir_open_options not found in the header")
        fields = []
        for line in m.group(1).splitlines():
            line = line.split("/*")[0].strip()
            if not line:
                continue
            f = re.fullmatch(r"(const char \*|u?int\d+_t)\s*(\w+);", line)
            self.assertIsNotNone(f, f"cannot parse field {line!r}")
            fields.append((f.group(2), CTYPE_OF[f.group(1)]))
        self.assertEqual(fields, list(engine.RirOpenOptions._fields_))


if __name__ == "__main__":
    unittest.main()
