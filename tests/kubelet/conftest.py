"""Fixtures for the node tests: the busybox test image (built once per session)
and the rule that root/runc tests fail instead of skipping under CI."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from tests.kubelet import testimage


def require_root_runc() -> None:
    """Skip (or, with CI set, fail) when the test cannot run for real."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    if shutil.which("runc") is None:
        missing.append("runc")
    if not testimage.BUSYBOX.exists():
        missing.append("/bin/busybox (busybox-static)")
    if missing:
        msg = "needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def busybox_archive(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if not testimage.BUSYBOX.exists():
        if os.environ.get("CI"):
            pytest.fail("needs /bin/busybox (busybox-static)")
        pytest.skip("needs /bin/busybox (busybox-static)")
    path = tmp_path_factory.mktemp("images") / "busybox-oci.tar"
    testimage.busybox_layout(path)
    return path
