#!/usr/bin/env python3
"""Exports the BRIGHT benchmark (Hugging Face dataset xlangai/BRIGHT) into the folder layout ReasonIR's Java
BrightDataset reads, so that evaluation needs neither Python nor network access afterwards.

    python3 tools/bright/export_bright.py --out DIR [--tasks biology,leetcode,...] [--reasoning gpt4_reason,...]
                                          [--revision COMMIT]

Needs the `datasets` package (pip install datasets) and access to the Hugging Face Hub (or its local cache).

Writes, per task, DIR/<task>/:
    documents.jsonl       {"id", "content"} per line (config `documents`, split = task)
    long_documents.jsonl  the same from config `long_documents`; not for leetcode, aops, theoremqa_questions and
                          theoremqa_theorems, which BRIGHT has no long documents for
    source.json           {"dataset": "xlangai/BRIGHT", "revision": the dataset commit exported, "reasoning": [...]}
    examples.jsonl        the rows of config `examples` (id, query, reasoning, excluded_ids, gold_ids, gold_ids_long),
                          each with two extra fields per --reasoning config R (e.g. "gpt4_reason"): R, that config's
                          reasoning-augmented `query` for the same example id, and R + "_ids", that row's own
                          {"gold_ids", "gold_ids_long", "excluded_ids"}: the official run.py --reasoning takes the ids
                          from the reasoning config too, and they need not equal the examples' ids

Files are UTF-8, one JSON object per line, non-ASCII text unescaped, each written to a temporary file and renamed into
place, so a file is either complete or absent (or still the previous complete version). examples.jsonl is written
last, and BrightDataset only counts a folder with an examples.jsonl as a task: an export cut short never looks
complete. Everything a task needs from the examples and reasoning configs is loaded and cross-checked before any of its
files is written: a reasoning config whose example ids do not match the examples exactly fails the export instead of
attaching a rewrite to the wrong query.

Defaults: all 12 BRIGHT tasks in the benchmark's order; --reasoning gpt4_reason (give "none" for none). The reasoning
configs of the dataset: gpt4_reason, claude-3-opus_reason, llama3-70b_reason, grit_reason and Gemini-1.0_reason.

--revision pins the dataset commit (a commit hash, branch or tag); without it the current head of the dataset is used.
Either way the exporter resolves it to a commit hash when the Hub can be reached, loads every config from that one
commit, and records it in source.json; `reasonir eval` carries it into results.json and the table footer. When it
cannot be resolved (offline, from the local cache) the revision as given is recorded, or null without --revision.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

DATASET = "xlangai/BRIGHT"

#: The BRIGHT task keys in the benchmark's order (same list as dev.reasonir.Instructions.BRIGHT_TASKS).
BRIGHT_TASKS = (
    "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow", "sustainable_living",
    "leetcode", "pony", "aops", "theoremqa_theorems", "theoremqa_questions",
)
#: Tasks for which BRIGHT has no long-document split.
NO_LONG_DOCUMENTS = frozenset({"leetcode", "aops", "theoremqa_questions", "theoremqa_theorems"})
DEFAULT_REASONING = ("gpt4_reason",)
#: The reasoning-query configs of xlangai/BRIGHT (others are accepted too, for newer versions of the dataset).
KNOWN_REASONING = ("gpt4_reason", "claude-3-opus_reason", "llama3-70b_reason", "grit_reason", "Gemini-1.0_reason")
#: The id fields a reasoning config's row carries, exported under "<config>_ids".
ID_FIELDS = ("gold_ids", "gold_ids_long", "excluded_ids")
IDS_SUFFIX = "_ids"
#: Fields of an example row that a reasoning config must not be named after (its field would overwrite them).
EXAMPLE_FIELDS = frozenset({"id", "query", "reasoning", "excluded_ids", "gold_ids", "gold_ids_long"})
#: Configs of the dataset that are not reasoning-query configs.
NOT_REASONING_CONFIGS = frozenset({"examples", "documents", "long_documents"})

#: load(config, split) -> the rows of that config's split, as dicts (a list, or any iterable of dicts).
Loader = Callable[[str, str], Iterable[Mapping]]


class ExportError(Exception):
    """A problem with the request or the data that makes the export refuse to write a task."""


class MissingDependencyError(ExportError):
    """The `datasets` package, needed only to download BRIGHT, is not installed."""


def merge_reasoning(task: str, examples: Sequence[Mapping],
                    reasoning: Mapping[str, Sequence[Mapping]]) -> List[Dict]:
    """Returns the example rows, in their order, each with two extra fields per reasoning config: its name, holding
    that config's `query` for the same id, and name + "_ids", holding that row's gold_ids, gold_ids_long and
    excluded_ids. Rows are matched by id, never by position; any difference between the ids of the examples and of a
    reasoning config (missing, extra or duplicate ids) raises ExportError."""
    ids = []
    seen = set()
    for i, row in enumerate(examples):
        if "id" not in row:
            raise ExportError(f"{task}: examples row {i} has no 'id'")
        if row["id"] in seen:
            raise ExportError(f"{task}: examples has the id {row['id']!r} twice")
        seen.add(row["id"])
        ids.append(row["id"])

    queries_by_config = {}
    for name, rows in reasoning.items():
        if name in EXAMPLE_FIELDS:
            raise ExportError(f"reasoning config {name!r} would overwrite the examples field of that name")
        by_id = {}
        for i, row in enumerate(rows):
            if "id" not in row or "query" not in row:
                raise ExportError(f"{task}: {name} row {i} lacks 'id' or 'query'")
            if row["id"] in by_id:
                raise ExportError(f"{task}: {name} has the id {row['id']!r} twice")
            if not isinstance(row["query"], str):
                raise ExportError(f"{task}: {name} row {row['id']!r} has a non-string query: {row['query']!r}")
            lacking = [f for f in ID_FIELDS if not isinstance(row.get(f), list)]
            if lacking:
                raise ExportError(f"{task}: {name} row {row['id']!r} lacks the id list(s) {', '.join(lacking)}")
            by_id[row["id"]] = (row["query"], {f: list(row[f]) for f in ID_FIELDS})
        missing = [i for i in ids if i not in by_id]
        extra = [i for i in by_id if i not in seen]
        if missing or extra:
            raise ExportError(
                f"{task}: the ids of {name} do not match the examples ({len(ids)} examples, {len(by_id)} {name} rows): "
                f"{len(missing)} missing from {name} {_some(missing)}, {len(extra)} only in {name} {_some(extra)}")
        queries_by_config[name] = by_id

    merged = []
    for row in examples:
        out = dict(row)
        for name, by_id in queries_by_config.items():
            out[name], out[name + IDS_SUFFIX] = by_id[row["id"]]
        merged.append(out)
    return merged


def document_rows(task: str, config: str, rows: Iterable[Mapping]) -> Iterable[Dict]:
    """The {"id", "content"} of each document row (other columns dropped), refusing rows without them."""
    for i, row in enumerate(rows):
        if "id" not in row or "content" not in row:
            raise ExportError(f"{task}: {config} row {i} lacks 'id' or 'content' (has {sorted(row)})")
        yield {"id": row["id"], "content": row["content"]}


def write_jsonl_atomic(path: Path, rows: Iterable[Mapping]) -> int:
    """Writes rows as JSON lines to path.tmp, syncs it and renames it to path; returns the number of rows. On any
    error the temporary file is removed and path is left as it was."""
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False))
                f.write("\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return n


def write_json_atomic(path: Path, obj: Mapping) -> None:
    """Writes one JSON object to path through a temporary file, like write_jsonl_atomic."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            json.dump(obj, f, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def export_task(load: Loader, task: str, out: Path, reasoning: Sequence[str],
                log: Callable[[str], None] = print, revision: Optional[str] = None) -> Dict[str, int]:
    """Exports one task into out/task/ and returns the row counts written; `revision` is recorded in source.json."""
    examples = list(load("examples", task))
    reasoning_rows = {name: list(load(name, task)) for name in reasoning}
    merged = merge_reasoning(task, examples, reasoning_rows)  # before writing anything

    task_dir = out / task
    task_dir.mkdir(parents=True, exist_ok=True)
    counts = {"documents": write_jsonl_atomic(task_dir / "documents.jsonl",
                                              document_rows(task, "documents", load("documents", task)))}
    if task in NO_LONG_DOCUMENTS:
        counts["long_documents"] = 0
    else:
        counts["long_documents"] = write_jsonl_atomic(
            task_dir / "long_documents.jsonl", document_rows(task, "long_documents", load("long_documents", task)))
    write_json_atomic(task_dir / "source.json", {"dataset": DATASET, "revision": revision,
                                                 "reasoning": list(reasoning)})
    counts["examples"] = write_jsonl_atomic(task_dir / "examples.jsonl", merged)  # last: marks the task complete

    long_text = "no long documents" if task in NO_LONG_DOCUMENTS else f"{counts['long_documents']} long documents"
    queries = ", ".join(["original"] + list(reasoning))
    log(f"{task}: {counts['documents']} documents, {long_text}, {counts['examples']} examples "
        f"(queries: {queries}) -> {task_dir}")
    return counts


def check_request(tasks: Sequence[str], reasoning: Sequence[str]) -> None:
    """Refuses unknown task keys and reasoning names that are not reasoning-query configs."""
    if not tasks:
        raise ExportError("no task to export")
    unknown = [t for t in tasks if t not in BRIGHT_TASKS]
    if unknown:
        raise ExportError(f"unknown task(s) {', '.join(unknown)}; BRIGHT's tasks are {', '.join(BRIGHT_TASKS)}")
    for name in reasoning:
        if (not name or name in EXAMPLE_FIELDS or name + IDS_SUFFIX in EXAMPLE_FIELDS
                or name in NOT_REASONING_CONFIGS):
            raise ExportError(f"{name!r} is not a reasoning-query config (such as {', '.join(KNOWN_REASONING)})")


def export(load: Loader, out: Path, tasks: Sequence[str] = BRIGHT_TASKS,
           reasoning: Sequence[str] = DEFAULT_REASONING, log: Callable[[str], None] = print,
           revision: Optional[str] = None) -> Dict[str, Dict]:
    """Exports the given tasks, in order; returns the counts per task. Validates the whole request first. `revision`
    is the dataset commit `load` reads from, recorded in each task's source.json."""
    check_request(tasks, reasoning)
    tasks = list(dict.fromkeys(tasks))
    reasoning = list(dict.fromkeys(reasoning))
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for i, task in enumerate(tasks, 1):
        log(f"[{i}/{len(tasks)}] {task}: loading from {DATASET}")
        results[task] = export_task(load, task, out, reasoning, log, revision)
    return results


def resolve_revision(revision: Optional[str], log: Callable[[str], None] = print) -> Optional[str]:
    """The commit hash `revision` (None: the dataset's head) names on the Hub, so that every config is read from one
    commit and the export records which. Unreachable Hub: the revision as given (None stays None), with a warning."""
    try:
        from huggingface_hub import HfApi  # noqa: PLC0415 - installed with `datasets`
        return HfApi().dataset_info(DATASET, revision=revision).sha
    except Exception as e:  # offline, unknown revision, old huggingface_hub: say so and go on with what was given
        log(f"warning: cannot resolve {DATASET} revision {revision or 'main'} to a commit ({e}); recording "
            f"{revision!r}")
        return revision


def hugging_face_loader(revision: Optional[str] = None) -> Loader:
    """A loader reading xlangai/BRIGHT at `revision` with the `datasets` package; MissingDependencyError when it is
    missing."""
    try:
        import datasets  # noqa: PLC0415 - optional dependency, only needed for a real export
    except ImportError:
        raise MissingDependencyError(
            "the Hugging Face 'datasets' package is not installed; it is needed to download BRIGHT: "
            "pip install datasets (the exported folder is then read by Java without it)") from None

    def load(config: str, split: str) -> Iterable[Mapping]:
        try:
            return datasets.load_dataset(DATASET, config, split=split, revision=revision)
        except Exception as e:  # the library raises many types; name what was asked for
            raise ExportError(f"cannot load {DATASET} config {config!r} split {split!r} at revision "
                              f"{revision or 'main'}: {e}") from e

    return load


def _csv(value: str) -> List[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _some(ids: List) -> str:
    return "[" + ", ".join(repr(i) for i in ids[:5]) + (", ...]" if len(ids) > 5 else "]")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="folder to write (one subfolder per task)")
    p.add_argument("--tasks", type=_csv, default=list(BRIGHT_TASKS),
                   help="comma-separated task keys (default: all 12, in BRIGHT's order)")
    p.add_argument("--reasoning", default=",".join(DEFAULT_REASONING),
                   help="comma-separated reasoning-query configs to add to examples.jsonl, or 'none' "
                        "(default: gpt4_reason; all: " + ", ".join(KNOWN_REASONING) + ")")
    p.add_argument("--revision", default=None,
                   help="dataset commit, branch or tag to export (default: the current head); recorded, as a "
                        "commit hash where the Hub can resolve it, in each task's source.json")
    args = p.parse_args(argv)
    reasoning = [] if args.reasoning.strip().lower() == "none" else _csv(args.reasoning)
    try:
        check_request(args.tasks, reasoning)  # before the slow import, so a typo is reported at once
        log = lambda m: print(m, flush=True)  # noqa: E731
        load = hugging_face_loader(None)  # fails early, before the network, when `datasets` is missing
        revision = resolve_revision(args.revision, log)
        load = hugging_face_loader(revision)
        export(load, args.out, args.tasks, reasoning, log=log, revision=revision)
    except MissingDependencyError as e:
        print(f"export_bright.py: {e}", file=sys.stderr)
        return 2
    except ExportError as e:
        print(f"export_bright.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
