"""scripts/conformance_ledger.py builds CONFORMANCE.md from the tags and the last run."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ledger_counts_and_lists_proving_tests(tmp_path: pathlib.Path) -> None:
    ref = tmp_path / "conformance.yaml"
    ref.write_text(yaml.safe_dump([
        {"testname": "A", "codename": "a", "description": "UPSTREAM-DESCRIPTION", "release": "v1.9", "file": "test/e2e/apps/a.go"},
        {"testname": "B", "codename": "b", "description": "UPSTREAM-DESCRIPTION", "release": "v1.9", "file": "test/e2e/apps/b.go"},
        {"testname": "C", "codename": "c", "description": "UPSTREAM-DESCRIPTION", "release": "v1.9", "file": "test/e2e/network/c.go"},
    ]))
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "conformance_ledger.py").write_text((ROOT / "scripts" / "conformance_ledger.py").read_text())
    (root / ".conformance-results.json").write_text(json.dumps({
        "tests/x.py::t1": {"testnames": ["A"], "outcome": "passed"},
        "tests/x.py::t2": {"testnames": ["B"], "outcome": "failed"},
    }))
    out = subprocess.run([sys.executable, str(root / "scripts" / "conformance_ledger.py")], capture_output=True,
                         text=True, env={"KUBELING_CONFORMANCE_YAML": str(ref), "PATH": "/usr/bin:/bin"}, check=True)
    assert "1 passing, 1 failing, 1 not covered of 3" in out.stdout
    md = (root / "CONFORMANCE.md").read_text()
    assert "| A | ✅ passing | v1.9 | `tests/x.py::t1` |" in md
    assert "| B | ❌ failing |" in md and "| C | · not covered |" in md
    assert "UPSTREAM-DESCRIPTION" not in md  # descriptions are reference text: never reproduced
