"""Suite-wide hooks.

* The conformance ledger: tests marked ``@pytest.mark.conformance("<testname>")``
  are checked against ../shared/reference/conformance.yaml at collection (an
  unknown testname is an error) and their outcomes are written to
  ``.conformance-results.json``, from which scripts/conformance_ledger.py
  builds CONFORMANCE.md.
* In CI (``CI`` set and not "false"), a skipped test is a failure: tests that
  need root, runc or namespaces must run there.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Generator
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".conformance-results.json"


def conformance_yaml() -> pathlib.Path:
    env = os.environ.get("KUBELING_CONFORMANCE_YAML")
    if env:
        return pathlib.Path(env)
    return ROOT.parent / "shared" / "reference" / "conformance.yaml"


def _in_ci() -> bool:
    v = os.environ.get("CI", "")
    return bool(v) and v.lower() not in ("0", "false", "no")


_results: dict[str, dict[str, Any]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [(it, m) for it in items for m in it.iter_markers("conformance")]
    if not marked:
        return
    path = conformance_yaml()
    if not path.exists():
        raise pytest.UsageError(f"conformance markers need {path} (set KUBELING_CONFORMANCE_YAML)")
    known = {e["testname"] for e in yaml.safe_load(path.read_text())}
    bad = sorted({f"{it.nodeid}: {m.args[0] if m.args else '?'}" for it, m in marked
                  if not m.args or m.args[0] not in known})
    if bad:
        raise pytest.UsageError("conformance markers name unknown testnames:\n  " + "\n  ".join(bad))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and _in_ci() and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped in CI, which must run every test: {reason}"
    names = [m.args[0] for m in item.iter_markers("conformance") if m.args]
    if not names:
        return
    entry = _results.setdefault(item.nodeid, {"testnames": names, "outcome": "passed"})
    if rep.failed:
        entry["outcome"] = "failed"
    elif rep.skipped and entry["outcome"] == "passed" and rep.when in ("setup", "call"):
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _results and not hasattr(session.config, "workerinput"):
        RESULTS.write_text(json.dumps(_results, indent=1, sort_keys=True))
