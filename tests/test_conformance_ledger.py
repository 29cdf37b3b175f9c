"""scripts/conformance_ledger.py builds CONFORMANCE.md from the tags and the last run."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "conformance_ledger.py"


def entry(name: str, file: str, codename: str) -> dict[str, str]:
    return {"testname": name, "codename": codename, "description": "UPSTREAM-DESCRIPTION " + codename,
            "release": "v1.9", "file": file}


def ledger(tmp_path: pathlib.Path, results: dict[str, object] | None) -> tuple[subprocess.CompletedProcess[str], str]:
    ref = tmp_path / "conformance.yaml"
    ref.write_text(yaml.safe_dump([
        entry("A", "test/e2e/apps/a.go", "a"),
        entry("B", "test/e2e/apps/b.go", "b"),
        entry("C", "test/e2e/network/c.go", "c"),
        entry("D", "test/e2e/common/node/d.go", "d"),
        entry("Dup", "test/e2e/common/node/dup.go", "dup one"),
        entry("Dup", "test/e2e/common/node/dup.go", "dup two"),
    ]))
    res_path = tmp_path / "results.json"
    if results is not None:
        res_path.write_text(json.dumps(results))
    out = tmp_path / "CONFORMANCE.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--reference", str(ref), "--results", str(res_path),
                           "--output", str(out)], capture_output=True, text=True, check=True)
    return proc, out.read_text()


def test_statuses_groups_and_totals(tmp_path: pathlib.Path) -> None:
    proc, md = ledger(tmp_path, {
        "tests/x.py::t1": {"testnames": ["A", "Dup"], "outcome": "passed"},
        "tests/x.py::t2": {"testnames": ["B"], "outcome": "failed"},
        "tests/x.py::t3": {"testnames": ["B"], "outcome": "passed"},
        "tests/x.py::t4": {"testnames": ["D"], "outcome": "skipped"},
        "tests/x.py::t5": {"testnames": ["Gone"], "outcome": "passed"},
    })
    assert "3 passing, 1 failing, 1 skipped, 1 not covered of 6 entries" in proc.stdout
    assert "Of the **6** entries of the Kubernetes conformance list: **3 passing**, 1 failing, 1 skipped, " \
           "1 not covered." in md
    assert "| A | ✅ passing | v1.9 | a.go | `tests/x.py::t1` |" in md
    assert "| B | ❌ failing | v1.9 | b.go | `tests/x.py::t2`<br>`tests/x.py::t3` |" in md
    assert "| C | · not covered | v1.9 | c.go |  |" in md
    assert "| D | ⚠️ skipped | v1.9 | d.go | `tests/x.py::t4` |" in md
    # One marker covers every entry carrying its testname.
    assert md.count("| Dup | ✅ passing | v1.9 | dup.go | `tests/x.py::t1` |") == 2
    assert "## apps (1/2 passing)" in md and "## common/node (2/3 passing)" in md and "## network (0/1 passing)" in md
    assert md.index("## apps") < md.index("## common/node") < md.index("## network")
    assert "- Gone: `tests/x.py::t5`" in md
    # Descriptions and codenames are upstream reference text: never reproduced.
    assert "UPSTREAM-DESCRIPTION" not in md and "dup one" not in md


def test_without_results_nothing_is_covered(tmp_path: pathlib.Path) -> None:
    proc, md = ledger(tmp_path, None)
    assert "0 passing, 0 failing, 0 skipped, 6 not covered of 6 entries" in proc.stdout
    assert "✅" not in md


def test_output_is_stable(tmp_path: pathlib.Path) -> None:
    results = {"tests/x.py::t1": {"testnames": ["A"], "outcome": "passed"}}
    _, first = ledger(tmp_path, results)
    _, second = ledger(tmp_path, results)
    assert first == second


def test_missing_reference_is_an_error(tmp_path: pathlib.Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--reference", str(tmp_path / "nope.yaml"),
                           "--output", str(tmp_path / "out.md")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2 and "nope.yaml not found" in proc.stderr
    assert not (tmp_path / "out.md").exists()
