"""pytest plugin: the conformance ledger's input, and "a skip is a failure in CI".

Conformance markers
    A test that proves a Kubernetes conformance test carries
    ``@pytest.mark.conformance("<testname>")`` (several names, or several markers,
    when one test proves several). Names are checked at collection against
    ``conformance.yaml``; an unknown name (a typo, a renamed upstream test) stops
    the session with a usage error listing every bad marker. The file is found at
    ``$KUBELING_CONFORMANCE_YAML`` if set (then it must exist), else at
    ``<repo>/../shared/reference/conformance.yaml``; if it is nowhere to be
    found the names are not checked and a warning says so.

    For every marked test that ran, the session writes its nodeid, testnames and
    outcome (``passed``, ``failed`` or ``skipped``; a failure in any phase counts)
    to ``<repo>/.conformance-results.json`` (overwritten, written only when at
    least one marked test ran). ``scripts/conformance_ledger.py`` turns it into
    CONFORMANCE.md. The outcomes travel in each report's ``user_properties``, so
    they are also collected under pytest-xdist.

Skips in CI
    When the ``CI`` environment variable is set to anything but ``""``, ``0``,
    ``false`` or ``no``, every skip becomes a failure naming the test and the skip
    reason: tests needing root, runc, etcd or namespaces must run there. There is
    no opt-out marker. A skip while collecting a module (``importorskip``,
    ``pytest.skip(allow_module_level=True)``) becomes a collection error. Expected
    failures (``xfail``) are not skips and are left alone.

This module imports nothing from kubeling, so it works even when the package
under test fails to import.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from collections.abc import Generator
from typing import Any

import pytest
import yaml

ENV_YAML = "KUBELING_CONFORMANCE_YAML"
RESULTS_NAME = ".conformance-results.json"
PROPERTY = "conformance"  # the user_properties key carrying a test's testnames
REPO = pathlib.Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    value = os.environ.get("CI", "").strip().lower()
    return value not in ("", "0", "false", "no")


def conformance_yaml(root: pathlib.Path | None = None) -> pathlib.Path | None:
    """The reference list's path, or None when it cannot be found.

    Raises ``pytest.UsageError`` when ``$KUBELING_CONFORMANCE_YAML`` names a missing file.
    """
    env = os.environ.get(ENV_YAML, "").strip()
    if env:
        path = pathlib.Path(env).expanduser()
        if not path.is_file():
            raise pytest.UsageError(f"{ENV_YAML}={env}: no such file")
        return path
    for base in dict.fromkeys([root or REPO, REPO]):  # rootdir first, then this file's repo
        path = (base.parent / "shared" / "reference" / "conformance.yaml").resolve()
        if path.is_file():
            return path
    return None


def known_testnames(path: pathlib.Path) -> set[str]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return {str(e["testname"]) for e in entries if isinstance(e, dict) and "testname" in e}


def marker_testnames(item: pytest.Item) -> list[str]:
    """Every testname named by the item's conformance markers, in order, without repeats."""
    names: list[str] = []
    for mark in item.iter_markers("conformance"):
        names.extend(str(a) for a in mark.args)
    return list(dict.fromkeys(names))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(*testnames): this test proves the named "
                            "Kubernetes conformance tests (see CONFORMANCE.md)")
    config.pluginmanager.register(Ledger(config), "kubeling-conformance-ledger")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems: list[str] = []
    marked: list[tuple[pytest.Item, list[str]]] = []
    for item in items:
        for mark in item.iter_markers("conformance"):
            if not mark.args or mark.kwargs or not all(isinstance(a, str) and a for a in mark.args):
                problems.append(f"{item.nodeid}: conformance marker needs one or more testname strings "
                                f"as positional arguments, got args={mark.args!r} kwargs={mark.kwargs!r}")
        names = marker_testnames(item)
        if names:
            marked.append((item, names))
            item.user_properties.append((PROPERTY, names))
    if marked:
        path = conformance_yaml(config.rootpath)
        if path is None:
            warnings.warn(pytest.PytestWarning(
                f"conformance.yaml not found (set {ENV_YAML}): conformance testnames are not checked"))
        else:
            known = known_testnames(path)
            for item, names in marked:
                problems.extend(f"{item.nodeid}: unknown conformance testname {n!r} (not in {path})"
                                for n in names if n not in known)
    if problems:
        raise pytest.UsageError("bad @pytest.mark.conformance markers:\n  " + "\n  ".join(problems))


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    rep: pytest.TestReport = outcome.get_result()
    if rep.skipped and in_ci() and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = (f"{item.nodeid} was skipped ({rep.when}): {_skip_reason(rep.longrepr)}\n"
                        "CI is set, and in CI every test must run: a skip counts as a failure "
                        "(install what the test needs; see .ci/run).")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    rep: pytest.CollectReport = outcome.get_result()
    if rep.skipped and in_ci():
        rep.outcome = "failed"
        rep.longrepr = (f"{collector.nodeid} was skipped while collecting: {_skip_reason(rep.longrepr)}\n"
                        "CI is set, and in CI every test must run: a skip counts as a failure.")


class Ledger:
    """Collects the outcomes of marked tests and writes them at session end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        names = next((v for k, v in report.user_properties if k == PROPERTY), None)
        if not isinstance(names, list) or not names:
            return
        entry = self.results.setdefault(report.nodeid, {"testnames": [str(n) for n in names], "outcome": None})
        # failed beats skipped beats passed; "passed" needs the call phase itself.
        if report.failed:
            entry["outcome"] = "failed"
        elif report.skipped:
            if entry["outcome"] != "failed":
                entry["outcome"] = "skipped"
        elif report.when == "call" and entry["outcome"] is None:
            entry["outcome"] = "passed"

    def finished(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.results.items() if v["outcome"] is not None}

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or self.config.option.collectonly:
            return  # xdist workers report to the controller, which writes the file
        results = self.finished()
        if not results:
            return
        path = self.config.rootpath / RESULTS_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        results = self.finished().values()
        if results and not hasattr(self.config, "workerinput"):
            counts = {o: sum(1 for r in results if r["outcome"] == o) for o in ("passed", "failed", "skipped")}
            terminalreporter.write_line(
                f"conformance: {len(results)} tagged tests ({counts['passed']} passed, {counts['failed']} "
                f"failed, {counts['skipped']} skipped) written to {RESULTS_NAME}")
        if in_ci():
            terminalreporter.write_line("CI is set: a skipped test counts as a failure")
