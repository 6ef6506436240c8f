"""generate_checkpoint's torch fill, reuse marker, --layers and --json (python3 -m unittest discover -s weights-tools).

The torch fill must give the numpy fill's checkpoint in everything but the random bytes: same files, headers (names,
shapes, dtypes, offsets), index and config, and per tensor the same distribution. Runs on the CPU; skipped without
torch.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import struct
import subprocess
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate_checkpoint as gen  # noqa: E402
import safetensors_io as st  # noqa: E402
from test_weights_tools import TempDirCase  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = f"torch is not importable by {sys.executable} (the torch fill's tests need it; the numpy fill does not)"

# Big enough for meaningful moments (the smallest tensors, the norms, have 256 values), small enough for a second.
CFG = {"hidden_size": 256, "intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 4,
       "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 500}


def headers(folder: str):
    """{file: raw safetensors header bytes} of every .safetensors file in folder."""
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            with open(os.path.join(folder, name), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                out[name] = f.read(n)
    return out


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class GenCase(TempDirCase):
    def make(self, sub: str, **kw):
        args = dict(preset=None, config=CFG, shards=3, seed=4)
        args.update(kw)
        return gen.make(os.path.join(self.tmp, sub), **args)


@unittest.skipUnless(HAVE_TORCH, NO_TORCH)
class TorchFillTest(GenCase):
    def test_same_plan_as_numpy(self):
        for prefix, lm_head in (("", False), ("model.", True)):
            a = self.make(f"np{prefix}", fill="numpy", prefix=prefix, lm_head=lm_head)
            b = self.make(f"pt{prefix}", fill="torch", device="cpu", prefix=prefix, lm_head=lm_head)
            da, db = a["out"], b["out"]
            self.assertEqual((a["bytes"], a["layers"], a["shards"]), (b["bytes"], b["layers"], b["shards"]))
            self.assertEqual(sorted(os.listdir(da)), sorted(os.listdir(db)))
            self.assertEqual(len(headers(da)), 3)
            # the headers hold names, dtypes, shapes and offsets: byte-identical
            self.assertEqual(headers(da), headers(db))
            for name in ("config.json", "model.safetensors.index.json"):
                self.assertEqual(read_text(os.path.join(da, name)), read_text(os.path.join(db, name)))
            ca, cb = st.Checkpoint(da), st.Checkpoint(db)
            self.assertEqual(ca.names(), cb.names())
            self.assertEqual("lm_head.weight" in cb, lm_head)
            # ... but not the values: another generator
            up = "layers.0.mlp.up_proj.weight"
            self.assertFalse(np.array_equal(ca.get(up), cb.get(up)))

    def test_distribution_matches_specs(self):
        # Per tensor: mean within 6 standard errors (std / sqrt(n)) of the spec's offset, and the sample std within
        # 6 of its standard errors (0.45 std / sqrt(n) for a uniform) plus 1 % for bf16 rounding of the spec's std;
        # every value within offset +- std * sqrt(3) (+ one bf16 step). Both fills must pass the same bounds.
        for fill in ("torch", "numpy"):
            info = self.make(fill, fill=fill, device="cpu", lm_head=True)
            ck = st.Checkpoint(info["out"])
            specs = gen.tensor_specs(gen.complete_config(CFG), lm_head=True)
            self.assertEqual(sorted(s.name for s in specs), sorted(ck.names()))
            for s in specs:
                x = ck.get_f32(s.name).astype(np.float64)
                self.assertEqual(x.shape, s.shape)
                n = x.size
                self.assertLessEqual(abs(x.mean() - s.offset), 6 * s.std / math.sqrt(n), (fill, s.name))
                self.assertLessEqual(abs(x.std() / s.std - 1), 6 * 0.45 / math.sqrt(n) + 0.01, (fill, s.name))
                bound = s.std * math.sqrt(3) + (s.offset + s.std * math.sqrt(3)) * 2 ** -8
                self.assertLessEqual(float(np.abs(x - s.offset).max()), bound, (fill, s.name))

    def test_deterministic_per_seed(self):
        a = self.make("a", fill="torch", digests=True)
        b = self.make("b", fill="torch", digests=True)
        c = self.make("c", fill="torch", digests=True, seed=5)
        self.assertEqual(a["files"], b["files"])
        self.assertEqual(a["files"]["model.safetensors.index.json"], c["files"]["model.safetensors.index.json"])
        for i in range(3):
            name = gen.shard_file_name(i, 3)
            self.assertNotEqual(a["files"][name], c["files"][name])
            self.assertEqual(gen.file_sha256(os.path.join(a["out"], name)), a["files"][name])

    def test_chunks_are_bounded(self):
        spec = gen.TensorSpec("x", (100, 7), 0.5, 2.0)
        old = gen.TORCH_CHUNK_VALUES
        try:
            gen.TORCH_CHUNK_VALUES = 64
            chunks = list(gen.torch_storage_chunks(spec, 1, "F32", "cpu"))
        finally:
            gen.TORCH_CHUNK_VALUES = old
        self.assertEqual([c.size for c in chunks], [64] * 10 + [60])
        self.assertEqual({c.dtype for c in chunks}, {np.dtype("float32")})
        x = np.concatenate(chunks)
        self.assertLess(float(np.abs(x - 2.0).max()), 0.5 * math.sqrt(3))
        bits = list(gen.torch_storage_chunks(spec, 1, "BF16", "cpu"))
        self.assertEqual(bits[0].dtype, np.uint16)
        # one draw, then torch's round to nearest even equals safetensors_io's
        np.testing.assert_array_equal(np.concatenate(bits), st.f32_to_bf16_bits(
            np.concatenate(list(gen.torch_storage_chunks(spec, 1, "F32", "cpu")))))

    def test_reuse_and_regenerate(self):
        first = self.make("r", fill="torch")
        self.assertFalse(first["reused"])
        self.assertGreater(first["seconds"], 0)
        shard = os.path.join(first["out"], gen.shard_file_name(0, 3))
        mtime = os.stat(shard).st_mtime_ns
        again = self.make("r", fill="torch")
        self.assertEqual((again["reused"], again["seconds"], again["gb_per_s"]), (True, 0.0, None))
        self.assertEqual(os.stat(shard).st_mtime_ns, mtime)
        self.assertEqual(again["bytes"], first["bytes"])
        # any argument that changes the bytes or the layout regenerates
        for kw in ({"seed": 6}, {"fill": "numpy"}, {"layers": 1}, {"shards": 1}):
            info = self.make("r", **dict({"fill": "torch"}, **kw))
            self.assertFalse(info["reused"], kw)
        # the last one went from 3 shards to 1: no stale shard or index is left to shadow model.safetensors
        self.assertEqual(sorted(os.listdir(first["out"])), [gen.MARKER, "config.json", "model.safetensors"])
        self.assertEqual(gen.complete_config(CFG)["num_hidden_layers"], 2)
        self.assertTrue(self.make("r", fill="torch", shards=1)["reused"])
        self.assertFalse(self.make("r", fill="torch", shards=1, force=True)["reused"])
        os.remove(os.path.join(first["out"], "model.safetensors"))  # a file gone: not complete
        self.assertFalse(self.make("r", fill="torch", shards=1)["reused"])


class CliTest(GenCase):
    def run_main(self, argv):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            rc = gen.main(argv)
        return rc, buf.getvalue()

    @unittest.skipUnless(HAVE_TORCH, NO_TORCH)
    def test_json_layers_torch(self):
        cfg_path = os.path.join(self.tmp, "cfg.json")
        with open(cfg_path, "w") as f:
            json.dump(CFG, f)
        out = os.path.join(self.tmp, "j")
        argv = ["--config", cfg_path, "--layers", "1", "--out", out, "--shards", "2", "--fill", "torch", "--json"]
        rc, text = self.run_main(argv)
        self.assertEqual(rc, 0)
        info = json.loads(text)
        specs = gen.tensor_specs(gen.build_config(None, CFG, 1))
        self.assertEqual(len(specs), 1 + 9 + 1)
        self.assertEqual(info, {"out": out, "layers": 1, "shards": 2, "bytes": sum(s.numel * 2 for s in specs),
                                "fill": "torch", "device": "cpu", "reused": False, "seconds": info["seconds"],
                                "gb_per_s": info["gb_per_s"]})
        self.assertAlmostEqual(info["gb_per_s"], info["bytes"] / 1e9 / info["seconds"], delta=0.01)
        self.assertEqual(json.loads(read_text(os.path.join(out, "config.json")))["num_hidden_layers"], 1)
        self.assertTrue(json.loads(self.run_main(argv)[1])["reused"])

    def test_text_mode_prints_digests(self):
        out = os.path.join(self.tmp, "t")
        rc, text = self.run_main(["--preset", "micro-h64", "--out", out, "--shards", "2"])
        self.assertEqual(rc, 0)
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith(f"wrote {out}: 3 file(s)"), lines[0])
        for line in lines[1:]:
            digest, name = line.split("  ")
            self.assertEqual(gen.file_sha256(os.path.join(out, name)), digest)
        rc, again = self.run_main(["--preset", "micro-h64", "--out", out, "--shards", "2"])
        self.assertTrue(again.startswith(f"reused {out}: 3 file(s)"))
        self.assertEqual(again.splitlines()[1:], lines[1:])
        rc, text = self.run_main(["--preset", "micro-h64", "--out", out, "--layers", "0", "--json"])
        self.assertEqual((rc, json.loads(text)["error"]), (2, "ValueError: layers must be >= 1, got 0"))

    def test_numpy_fill_does_not_import_torch(self):
        code = ("import sys; sys.path.insert(0, %r); import generate_checkpoint as g; "
                "g.make(%r, preset='micro-h64'); print('torch' in sys.modules)" % (HERE, os.path.join(self.tmp, "n")))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "False"), p.stderr)

    def test_8b_preset_with_few_layers(self):
        # the GPU benchmark's checkpoints: real per-layer shapes and vocabulary, L layers
        cfg = gen.build_config("reasonir-8b", layers=3)
        specs = gen.tensor_specs(cfg)
        self.assertEqual(specs[0].shape, (128256, 4096))
        self.assertEqual([s.shape for s in specs if s.name.startswith("layers.2.mlp")],
                         [(14336, 4096), (14336, 4096), (4096, 14336)])
        self.assertEqual(len(specs), 2 + 3 * 9)
        self.assertEqual(sum(s.numel for s in specs), 128256 * 4096 + 4096 + 3 * 218_112_000)
        self.assertEqual(gen.build_config("reasonir-8b")["num_hidden_layers"], 32)


if __name__ == "__main__":
    unittest.main()
