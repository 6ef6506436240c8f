"""Tests of export_bright.py's transformation with a fake loader; they do not need the `datasets` package.

    python3 -m unittest discover -s tools/bright -p 'test_*.py'
"""
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export_bright as eb  # noqa: E402


def fake_bright():
    """A tiny stand-in for xlangai/BRIGHT: {(config, split): rows}."""
    examples = {
        "biology": [
            {"id": "0", "query": "Why are leaves green?", "reasoning": "chlorophyll", "excluded_ids": ["N/A"],
             "gold_ids": ["b1.txt"], "gold_ids_long": ["L1.txt"]},
            {"id": "1", "query": "Why does café coffee keep me awake?", "reasoning": "adenosine",
             "excluded_ids": ["b3.txt"], "gold_ids": ["b2.txt"], "gold_ids_long": ["L1.txt"]},
        ],
        "leetcode": [
            {"id": "7", "query": "two sum", "reasoning": "", "excluded_ids": ["N/A"], "gold_ids": ["l1.py"],
             "gold_ids_long": ["l1.py"]},
        ],
    }
    data = {}
    for task, rows in examples.items():
        data[("examples", task)] = rows
        # The reasoning configs have the examples' layout with a rewritten query, here in reverse order.
        data[("gpt4_reason", task)] = [dict(r, query="GPT-4 on: " + r["query"]) for r in reversed(rows)]
        data[("grit_reason", task)] = [dict(r, query="GRIT on: " + r["query"]) for r in rows]
        data[("Gemini-1.0_reason", task)] = [dict(r, query="Gemini on: " + r["query"]) for r in rows]
    # BRIGHT's reasoning configs carry their own id lists, which need not equal the examples' (here: row "1").
    data[("gpt4_reason", "biology")][0].update(gold_ids=["b2.txt", "b4.txt"], gold_ids_long=[], excluded_ids=["b1.txt"])
    data[("documents", "biology")] = [{"id": "b1.txt", "content": "Chlorophyll is green."},
                                      {"id": "b2.txt", "content": "Caféine blocks adenosine. 咖啡"},
                                      {"id": "b3.txt", "content": ""}]
    data[("long_documents", "biology")] = [{"id": "L1.txt", "content": "A long page about leaves and coffee."}]
    data[("documents", "leetcode")] = [{"id": "l1.py", "content": "def two_sum(a, t): ..."}]
    return data


class FakeLoader:
    def __init__(self, data):
        self.data = data
        self.calls = []

    def __call__(self, config, split):
        self.calls.append((config, split))
        if (config, split) not in self.data:
            raise KeyError(f"no split {split!r} in config {config!r}")
        return self.data[(config, split)]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


class ExportTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.out = Path(self._tmp.name) / "bright"
        self.log = []

    def tearDown(self):
        self._tmp.cleanup()

    def export(self, data=None, tasks=("biology", "leetcode"), reasoning=("gpt4_reason",), revision=None):
        loader = FakeLoader(fake_bright() if data is None else data)
        eb.export(loader, self.out, tasks, reasoning, log=self.log.append, revision=revision)
        return loader

    def test_reasoning_ids_come_from_the_reasoning_rows(self):
        # run.py --reasoning loads the examples from the reasoning config itself: its query AND its id lists.
        self.export(reasoning=("gpt4_reason", "Gemini-1.0_reason"))
        ex = read_jsonl(self.out / "biology" / "examples.jsonl")
        self.assertEqual({"gold_ids": ["b2.txt", "b4.txt"], "gold_ids_long": [], "excluded_ids": ["b1.txt"]},
                         ex[1]["gpt4_reason_ids"])
        self.assertEqual(["b2.txt"], ex[1]["gold_ids"])  # the examples' own ids stay as they were
        self.assertEqual({"gold_ids": ["b1.txt"], "gold_ids_long": ["L1.txt"], "excluded_ids": ["N/A"]},
                         ex[0]["gpt4_reason_ids"])
        self.assertEqual("Gemini on: Why are leaves green?", ex[0]["Gemini-1.0_reason"])
        self.assertEqual(ex[0]["gpt4_reason_ids"], ex[0]["Gemini-1.0_reason_ids"])
        self.assertIn("Gemini-1.0_reason", eb.KNOWN_REASONING)

    def test_reasoning_row_without_ids_is_refused(self):
        data = fake_bright()
        del data[("gpt4_reason", "leetcode")][0]["gold_ids_long"]
        with self.assertRaisesRegex(eb.ExportError, "leetcode: gpt4_reason row '7' lacks the id list\\(s\\) "
                                                    "gold_ids_long"):
            self.export(data, tasks=("leetcode",))
        self.assertFalse((self.out / "leetcode" / "examples.jsonl").exists())

    def test_revision_is_recorded(self):
        self.export(tasks=("leetcode",), revision="0123abcd")
        src = json.loads((self.out / "leetcode" / "source.json").read_text(encoding="utf-8"))
        self.assertEqual({"dataset": "xlangai/BRIGHT", "revision": "0123abcd", "reasoning": ["gpt4_reason"]}, src)
        self.export(tasks=("leetcode",))
        self.assertIsNone(json.loads((self.out / "leetcode" / "source.json").read_text(encoding="utf-8"))["revision"])

    def test_main_pins_every_config_to_the_resolved_revision(self):
        seen = {}

        def loader(revision):
            seen.setdefault("loaders", []).append(revision)
            return FakeLoader(fake_bright())

        saved = eb.hugging_face_loader, eb.resolve_revision
        eb.hugging_face_loader = loader
        eb.resolve_revision = lambda rev, log: "f" * 40 if rev == "v1.0" else rev
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                rc = eb.main(["--out", str(self.out), "--tasks", "leetcode", "--revision", "v1.0"])
        finally:
            eb.hugging_face_loader, eb.resolve_revision = saved
        self.assertEqual(0, rc)
        self.assertEqual([None, "f" * 40], seen["loaders"])
        src = json.loads((self.out / "leetcode" / "source.json").read_text(encoding="utf-8"))
        self.assertEqual("f" * 40, src["revision"])

    def test_layout_and_reasoning_merged_by_id(self):
        self.export(reasoning=("gpt4_reason", "grit_reason"))
        ex = read_jsonl(self.out / "biology" / "examples.jsonl")
        self.assertEqual(["0", "1"], [e["id"] for e in ex])  # the examples' order, not the reasoning config's
        self.assertEqual("Why are leaves green?", ex[0]["query"])
        self.assertEqual("GPT-4 on: Why are leaves green?", ex[0]["gpt4_reason"])
        self.assertEqual("GPT-4 on: Why does café coffee keep me awake?", ex[1]["gpt4_reason"])
        self.assertEqual("GRIT on: Why are leaves green?", ex[0]["grit_reason"])
        for field in ("reasoning", "excluded_ids", "gold_ids", "gold_ids_long"):
            self.assertEqual(fake_bright()[("examples", "biology")][1][field], ex[1][field])
        docs = read_jsonl(self.out / "biology" / "documents.jsonl")
        self.assertEqual(fake_bright()[("documents", "biology")], docs)  # empty content kept: Java reports it
        self.assertEqual(["L1.txt"], [d["id"] for d in read_jsonl(self.out / "biology" / "long_documents.jsonl")])

    def test_no_long_documents_for_leetcode(self):
        loader = self.export()
        self.assertNotIn(("long_documents", "leetcode"), loader.calls)
        self.assertFalse((self.out / "leetcode" / "long_documents.jsonl").exists())
        self.assertTrue((self.out / "leetcode" / "documents.jsonl").exists())
        self.assertIn("leetcode: 1 documents, no long documents, 1 examples (queries: original, gpt4_reason)",
                      "\n".join(self.log))
        self.assertIn("biology: 3 documents, 1 long documents, 2 examples", "\n".join(self.log))

    def test_utf8_without_escapes_one_object_per_line(self):
        self.export()
        raw = (self.out / "biology" / "documents.jsonl").read_bytes()
        self.assertIn("Caféine blocks adenosine. 咖啡".encode("utf-8"), raw)
        self.assertNotIn(b"\\u", raw)
        self.assertEqual(3, raw.count(b"\n"))
        self.assertTrue(raw.endswith(b"\n"))

    def test_id_mismatch_fails_before_writing_the_task(self):
        data = fake_bright()
        data[("gpt4_reason", "biology")] = [dict(data[("gpt4_reason", "biology")][0], id="99")] \
            + data[("gpt4_reason", "biology")][1:]
        with self.assertRaises(eb.ExportError) as cm:
            self.export(data)
        msg = str(cm.exception)
        self.assertIn("biology: the ids of gpt4_reason do not match the examples", msg)
        self.assertIn("1 missing from gpt4_reason ['1']", msg)
        self.assertIn("1 only in gpt4_reason ['99']", msg)
        self.assertFalse((self.out / "biology").exists())

    def test_duplicate_and_missing_ids(self):
        data = fake_bright()
        data[("examples", "biology")] = data[("examples", "biology")] * 2
        with self.assertRaisesRegex(eb.ExportError, "examples has the id '0' twice"):
            self.export(data, tasks=("biology",))
        data = fake_bright()
        data[("gpt4_reason", "leetcode")] = data[("gpt4_reason", "leetcode")] * 2
        with self.assertRaisesRegex(eb.ExportError, "leetcode: gpt4_reason has the id '7' twice"):
            self.export(data, tasks=("leetcode",))
        data = fake_bright()
        data[("documents", "leetcode")] = [{"id": "l1.py", "text": "x"}]
        with self.assertRaisesRegex(eb.ExportError, "leetcode: documents row 0 lacks 'id' or 'content'"):
            self.export(data, tasks=("leetcode",))

    def test_atomic_output(self):
        self.export()
        path = self.out / "biology" / "documents.jsonl"
        before = path.read_bytes()

        def failing_rows():
            yield {"id": "new.txt", "content": "half written"}
            raise RuntimeError("connection lost")

        data = fake_bright()
        data[("documents", "biology")] = failing_rows()
        with self.assertRaisesRegex(RuntimeError, "connection lost"):
            self.export(data, tasks=("biology",))
        self.assertEqual(before, path.read_bytes())  # the previous complete file, untouched
        self.assertEqual([], [p.name for p in (self.out / "biology").iterdir() if p.name.endswith(".tmp")])

    def test_interrupted_new_task_has_no_examples_file(self):
        def failing_rows():
            raise RuntimeError("disk full")
            yield  # noqa: unreachable - makes this a generator

        data = fake_bright()
        data[("long_documents", "biology")] = failing_rows()
        with self.assertRaises(RuntimeError):
            self.export(data, tasks=("biology",))
        self.assertTrue((self.out / "biology" / "documents.jsonl").exists())
        self.assertFalse((self.out / "biology" / "examples.jsonl").exists())  # so not a task for BrightDataset

    def test_request_checks(self):
        with self.assertRaisesRegex(eb.ExportError, "unknown task\\(s\\) chemistry"):
            self.export(tasks=("biology", "chemistry"))
        for bad in ("query", "documents", "", "gold", "excluded"):
            with self.assertRaises(eb.ExportError):
                self.export(reasoning=(bad,))
        with self.assertRaises(eb.ExportError):
            self.export(tasks=())
        self.assertFalse(self.out.exists())

    def test_no_reasoning(self):
        self.export(tasks=("leetcode",), reasoning=())
        ex = read_jsonl(self.out / "leetcode" / "examples.jsonl")
        self.assertNotIn("gpt4_reason", ex[0])

    def test_default_tasks_match_java(self):
        java = (HERE.parent.parent / "core" / "src" / "main" / "java" / "dev" / "reasonir" / "Instructions.java")
        if not java.exists():
            self.skipTest(f"{java} not found")
        block = re.search(r"BRIGHT_TASKS = List\.of\((.*?)\);", java.read_text(encoding="utf-8"), re.S).group(1)
        self.assertEqual(tuple(re.findall(r'"([a-z_]+)"', block)), eb.BRIGHT_TASKS)
        self.assertEqual(12, len(eb.BRIGHT_TASKS))

    def test_missing_datasets_package_is_explained(self):
        saved = sys.modules.get("datasets", "absent")
        sys.modules["datasets"] = None  # makes `import datasets` raise ImportError
        try:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = eb.main(["--out", str(self.out), "--tasks", "biology"])
        finally:
            if saved == "absent":
                del sys.modules["datasets"]
            else:
                sys.modules["datasets"] = saved
        self.assertEqual(2, rc)
        self.assertIn("'datasets' package is not installed", err.getvalue())
        self.assertIn("pip install datasets", err.getvalue())
        self.assertFalse(self.out.exists())


if __name__ == "__main__":
    unittest.main()
