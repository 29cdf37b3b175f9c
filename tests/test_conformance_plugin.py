"""tests/conformance_plugin.py: marker checks, the results file, and skips failing in CI."""

from __future__ import annotations

import json
import pathlib

import pytest

PLUGIN = pathlib.Path(__file__).with_name("conformance_plugin.py")

REFERENCE = """\
- testname: Pods, lifecycle
  codename: '[sig-node] Pods lifecycle [Conformance]'
  description: not used
  release: v1.20
  file: test/e2e/common/node/pods.go
- testname: Namespace patching
  codename: '[sig-api-machinery] Namespaces patch [Conformance]'
  description: not used
  release: v1.18
  file: test/e2e/apimachinery/namespace.go
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throwaway pytest project with the plugin and a two-entry conformance.yaml."""
    pytester.makepyfile(conformance_plugin=PLUGIN.read_text())
    ref = pytester.path / "reference.yaml"
    ref.write_text(REFERENCE)
    monkeypatch.setenv("KUBELING_CONFORMANCE_YAML", str(ref))
    monkeypatch.delenv("CI", raising=False)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "conformance_plugin", "-p", "no:cacheprovider", *args)


def results(suite: pytest.Pytester) -> dict[str, dict[str, object]]:
    return json.loads((suite.path / ".conformance-results.json").read_text())


def test_outcomes_are_recorded(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_it="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup fails")

        @pytest.mark.conformance("Pods, lifecycle")
        def test_pass(): pass

        @pytest.mark.conformance("Pods, lifecycle", "Namespace patching")
        def test_fail(): assert False

        @pytest.mark.conformance("Namespace patching")
        @pytest.mark.conformance("Pods, lifecycle")
        def test_skip(): pytest.skip("no runc here")

        @pytest.mark.conformance("Pods, lifecycle")
        def test_setup_error(broken): pass

        def test_untagged(): pass
    """)
    res = run(suite)
    res.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)
    assert results(suite) == {
        "test_it.py::test_pass": {"testnames": ["Pods, lifecycle"], "outcome": "passed"},
        "test_it.py::test_fail": {"testnames": ["Pods, lifecycle", "Namespace patching"], "outcome": "failed"},
        "test_it.py::test_skip": {"testnames": ["Pods, lifecycle", "Namespace patching"], "outcome": "skipped"},
        "test_it.py::test_setup_error": {"testnames": ["Pods, lifecycle"], "outcome": "failed"},
    }
    res.stdout.fnmatch_lines(["conformance: 4 tagged tests (1 passed, 2 failed, 1 skipped)*"])


def test_no_tagged_tests_leave_no_file(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_it="def test_plain(): pass")
    run(suite).assert_outcomes(passed=1)
    assert not (suite.path / ".conformance-results.json").exists()


def test_unknown_testname_stops_the_session(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_it="""
        import pytest

        @pytest.mark.conformance("Pods, lifecycle")
        def test_ok(): pass

        @pytest.mark.conformance("Pods, lifecylce")
        def test_typo(): pass

        @pytest.mark.conformance()
        def test_empty(): pass
    """)
    res = run(suite)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    assert "test_it.py::test_typo: unknown conformance testname 'Pods, lifecylce'" in err
    assert "test_it.py::test_empty: conformance marker needs one or more testname" in err
    assert "test_ok" not in err
    assert not (suite.path / ".conformance-results.json").exists()


def test_missing_reference_named_by_env_is_an_error(suite: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELING_CONFORMANCE_YAML", str(suite.path / "nope.yaml"))
    suite.makepyfile(test_it="""
        import pytest

        @pytest.mark.conformance("Pods, lifecycle")
        def test_ok(): pass
    """)
    res = run(suite)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*KUBELING_CONFORMANCE_YAML=*nope.yaml: no such file*"])


SKIPPING = """
    import pytest

    def test_skip(): pytest.skip("needs root")

    @pytest.mark.skipif(True, reason="no etcd")
    def test_skipif(): pass

    @pytest.mark.xfail(reason="known bug")
    def test_xfail(): assert False

    def test_pass(): pass
"""


@pytest.mark.parametrize("value", ["", "false"])
def test_skips_are_skips_outside_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    suite.makepyfile(test_it=SKIPPING)
    run(suite).assert_outcomes(passed=1, skipped=2, xfailed=1)


@pytest.mark.parametrize("value", ["true", "1"])
def test_skips_fail_in_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    suite.makepyfile(test_it=SKIPPING)
    res = run(suite)
    res.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)  # skipif fires in setup: an error
    res.stdout.fnmatch_lines(["*test_it.py::test_skip was skipped (call): needs root*",
                              "*test_it.py::test_skipif was skipped (setup): no etcd*"])
    assert res.ret == pytest.ExitCode.TESTS_FAILED


def test_module_skip_fails_collection_in_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_it="""
        import pytest
        pytest.importorskip("no_such_module_here")

        def test_never(): pass
    """)
    res = run(suite)
    assert res.ret != pytest.ExitCode.OK
    res.stdout.fnmatch_lines(["*test_it.py was skipped while collecting*no_such_module_here*"])
