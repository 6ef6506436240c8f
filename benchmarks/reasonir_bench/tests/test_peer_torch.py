"""The PyTorch peer must compute the same function as the engine, or "ours vs peer" compares different work.

    PYTHONPATH=benchmarks /usr/bin/python3 -m unittest reasonir_bench.tests.test_peer_torch

Needs PyTorch (Debian's python3-torch; .ci/run installs it), the engine's library (build/native/libreasonir.so)
and the h256_l4 test checkpoint (build/generated/h256_l4); the Maven build makes both before this runs. Without
PyTorch the tests are skipped with the reason; a missing library or checkpoint is a failure.
"""
from __future__ import annotations

import os
import sys
import unittest

from reasonir_bench import ROOT, flops

try:
    from reasonir_bench import peer_torch as torch_llama  # needs numpy; PyTorch itself is optional at import
    MISSING = None if torch_llama.torch is not None else "PyTorch is not importable by this interpreter"
except ImportError as e:  # no numpy either
    torch_llama = None
    MISSING = f"{e}"

LIB = os.environ.get("REASONIR_LIB", os.path.join(ROOT, "build", "native", "libreasonir.so"))
MODEL = os.path.join(ROOT, "build", "generated", "h256_l4")


@unittest.skipIf(MISSING is not None, f"{MISSING} (Debian: apt-get install python3-torch; .ci/run installs it)")
class PeerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (LIB, os.path.join(MODEL, "config.json")):
            if not os.path.exists(path):
                raise AssertionError(f"{path} is missing: build the project first (mvn -pl core package)")
        torch_llama.torch.set_num_threads(2)
        cls.model = torch_llama.TorchLlama(MODEL)

    def test_agrees_with_the_engine(self):
        # Mixed lengths (padding inside the batch) and pooled-out prefixes, through the engine's C API in fp32.
        r = torch_llama.run_verify(self.model, MODEL, LIB, threads=2)
        self.assertGreater(r["min_cosine"], 0.999999)
        self.assertLess(r["max_abs_diff"], 1e-5)

    def test_padding_does_not_change_a_sequence(self):
        seqs = torch_llama.random_seqs(1, 9, self.model.cfg.vocab, seed=1) + \
            torch_llama.random_seqs(1, 40, self.model.cfg.vocab, seed=2)
        together = self.model.forward(*torch_llama.padded(seqs))
        alone = self.model.forward(*torch_llama.padded(seqs[:1]))
        self.assertLess(float((together[0] - alone[0]).abs().max()), 1e-6)
        self.assertAlmostEqual(float(together[1].norm()), 1.0, places=5)

    def test_flop_model_matches_the_spec(self):
        c = self.model.config  # hidden 256, 4 layers, 8 / 4 heads of 32, intermediate 688
        linear = 2 * 4 * (256 * 256 + 2 * 256 * 128 + 256 * 256 + 3 * 256 * 688)
        self.assertEqual(flops.flops_per_token(c, 100), linear + 4 * 4 * 100 * 256)
        r = torch_llama.run_throughput(self.model, seq_len=16, batch_tokens=40, iters=1, warmup=0)
        self.assertAlmostEqual(r["gflops"], r["tokens_per_s"] * flops.flops_per_token(c, 16) / 1e9)

    def test_throughput_and_latency_report_real_tokens(self):
        r = torch_llama.run_throughput(self.model, seq_len=16, batch_tokens=40, iters=1, warmup=0)
        self.assertEqual(r["n_seqs"], 2)
        self.assertGreater(r["tokens_per_s"], 0)
        lat = torch_llama.run_latency(self.model, tokens=8, calls=3, warmup=0)
        self.assertLessEqual(lat["p50_ms"], lat["p99_ms"])


if __name__ == "__main__":
    unittest.main()
