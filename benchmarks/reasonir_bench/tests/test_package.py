"""The package's modules import each other as `reasonir_bench.<module>`. A bare `import hf_common` worked when the
scripts lived side by side on sys.path; inside the package it fails, and in code paths that only run on a GPU machine
with transformers (hf_parity's and hf_bench's HF parts, inside try/except) nothing here would notice. So the sources
are checked for it, functions' lazy imports included."""
import ast
import os
import unittest

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_modules():
    names = set()
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = [d for d in dirnames if not d.startswith("__")]
        names.update(f[:-3] for f in filenames if f.endswith(".py") and f != "__init__.py")
        if "__init__.py" in filenames and dirpath != PKG:
            names.add(os.path.basename(dirpath))
    return names


class PackageImportsTest(unittest.TestCase):
    def test_no_bare_import_of_a_sibling_module(self):
        siblings = package_modules()
        self.assertIn("hf_common", siblings)
        bad = []
        for dirpath, dirnames, filenames in os.walk(PKG):
            dirnames[:] = [d for d in dirnames if not d.startswith("__")]
            for f in filenames:
                if not f.endswith(".py"):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        mods = [a.name.split(".")[0] for a in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        mods = [node.module.split(".")[0]]
                    else:
                        continue
                    bad += [f"{os.path.relpath(path, PKG)}:{node.lineno}: import {m}" for m in mods if m in siblings]
        self.assertEqual(bad, [], "use `from reasonir_bench import ...`")


if __name__ == "__main__":
    unittest.main()
