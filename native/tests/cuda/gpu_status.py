#!/usr/bin/env python3
"""Prints, after ctest, whether the CUDA tests ran on a GPU and, when not, why (ctest shows them as "Skipped" but does
not print a skipped test's output). Asks the built library itself: rir_cuda_device_count of reasonir.h."""
import ctypes
import os
import sys

lib_path = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "build/native", "libreasonir.so")
lib = ctypes.CDLL(lib_path)
lib.rir_cuda_device_count.restype = ctypes.c_int32
lib.rir_cuda_device_count.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
why = ctypes.create_string_buffer(4096)
n = lib.rir_cuda_device_count(why, len(why))
if n > 0:
    print(f"CUDA tests ran on the GPU ({n} usable device(s)).")
else:
    print("CUDA tests on a GPU were SKIPPED: " + why.value.decode("utf-8", "replace"))
    print("(the same tests ran against the CPU emulator: test_cuda_ops_emu, test_cuda_forward_emu)")
