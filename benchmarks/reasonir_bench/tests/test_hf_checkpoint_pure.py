"""The torch-free parts of hf_common.py and hf_parity.py; the torch parts (a tiny checkpoint from
weights-tools/generate_checkpoint.py's torch fill, read by HF) run only where torch is installed."""
import json
import os
import sys
import tempfile
import unittest

from reasonir_bench import hf_common, hf_parity, use_weights_tools

use_weights_tools()
import generate_checkpoint as gen  # noqa: E402

try:  # TorchCpuTest needs all three (Debian's python3-torch alone has no transformers or safetensors)
    import safetensors  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


class PureTest(unittest.TestCase):
    def test_dtype_kwarg(self):
        self.assertEqual(hf_common.transformers_dtype_kwarg("5.17.0"), "dtype")
        self.assertEqual(hf_common.transformers_dtype_kwarg("4.56.0.dev0"), "dtype")
        self.assertEqual(hf_common.transformers_dtype_kwarg("4.47.1"), "torch_dtype")

    def test_padded_layout(self):
        L, valid = hf_common.padded_layout([1, 3])
        self.assertEqual(L, 3)
        self.assertEqual(valid, [[True, False, False], [True, True, True]])

    def test_big_inputs(self):
        seqs = hf_parity.big_inputs()
        self.assertEqual([(len(i), p) for i, p in seqs], [(1, 0), (7, 3), (128, 25), (1000, 999)])
        self.assertTrue(all(i[0] == 128000 for i, _ in seqs))
        self.assertEqual(seqs, hf_parity.big_inputs())  # deterministic

    def test_evaluate(self):
        import numpy as np
        a = np.eye(3, dtype=np.float32)
        row = {}
        hf_parity.evaluate(row, {"ours": a, "hf": a, "ref_fp32": a}, 0.9995)
        self.assertTrue(row["pass"])
        row = {}
        b = a.copy()
        b[2] = [0, 1, 1]
        hf_parity.evaluate(row, {"ours": b, "hf": a, "ref_fp32": a}, 0.9995)
        self.assertFalse(row["pass"])
        row = {}
        hf_parity.evaluate(row, {"ours": a}, 0.9995)
        self.assertFalse(row["pass"])  # nothing to compare with is not a pass

    def test_checkpoint_config_and_plan(self):
        # the configs gpu_bench.py and hf_parity.py --make-big ask generate_checkpoint for
        cfg = gen.build_config("reasonir-8b", layers=2)
        self.assertEqual((cfg["num_hidden_layers"], cfg["vocab_size"], cfg["hidden_size"]), (2, 128256, 4096))
        self.assertEqual(cfg["rope_scaling"]["rope_type"], "llama3")
        shards = gen.plan_shards(gen.tensor_specs(gen.build_config("reasonir-8b")), 2, 4)
        self.assertEqual(len(shards), 4)
        names = [s.name for sh in shards for s in sh]
        self.assertEqual(len(names), 1 + 32 * 9 + 1)
        self.assertIn("layers.31.mlp.down_proj.weight", names)
        total = sum(s.numel * 2 for sh in shards for s in sh)
        self.assertAlmostEqual(total / 1e9, 15.01, places=2)  # 7.5 G bf16 parameters (no lm_head)


@unittest.skipUnless(HAVE_TORCH, "torch, transformers or safetensors not installed")
class TorchCpuTest(unittest.TestCase):
    """Where torch + transformers + safetensors exist (CPU is enough): a tiny checkpoint through generate_checkpoint,
    read by the numpy reader and by HF, and the bidirectionality proof."""

    def test_tiny_checkpoint_hf_bidirectional(self):
        import numpy as np
        import reference  # weights-tools, on the path since the module's import
        with tempfile.TemporaryDirectory() as d:
            over = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
                    "head_dim": 16, "vocab_size": 300}
            cfg = dict(gen.PRESETS["reasonir-8b"](), **over)
            info = gen.make(d, preset=None, config=cfg, layers=2, shards=2, fill="torch", device="cpu")
            self.assertFalse(info["reused"])
            self.assertTrue(gen.make(d, preset=None, config=cfg, layers=2, shards=2, fill="torch",
                                     device="cpu")["reused"])
            ref = reference.Model(d)
            model, linfo = hf_common.load_llama(d, "cpu", "fp32", "sdpa")
            self.assertGreater(linfo["bidirectional_modules"], 0)
            self.assertTrue(hf_common.rope_check(model, d)["ok"])
            seqs = [([1, 5, 7, 9], 1), (list(range(20)), 3)]
            got = hf_common.hf_pooled(model, seqs, "cpu")
            want = reference.embed_packed(ref, seqs, mode="fp32", normalize=False)
            cos = np.sum(got * want, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
            self.assertGreater(cos.min(), 0.9999)
            proof = hf_common.prove_bidirectional(model, list(range(20)), 300, "cpu")
            self.assertTrue(proof["ok"], proof)
            self.assertEqual(proof["causal_control_max_abs_change_pos0"], 0.0)


if __name__ == "__main__":
    unittest.main()
