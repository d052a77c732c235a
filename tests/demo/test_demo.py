"""`guestgate demo` (what `make demo` runs) starts everything, prints the links, stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fixtures.operator import REPO
from guestgate.devcluster import DevCluster

pytestmark = pytest.mark.cluster


def test_demo_prints_links_and_stops_what_it_started(dev_cluster: DevCluster) -> None:
    name = f"demo-test-{os.getpid()}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "guestgate", "demo", "--name", name, "--exit-after", "1"],
            capture_output=True, text=True, timeout=600, cwd=REPO,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert "https://call.example.com/call/sales" in out
        assert "Scheduled" in out and "Active" in out
        assert "siptrunk.guestgate.io/cucm" in out
        assert "==> stopping" in out
        assert not DevCluster(name).status().running
    finally:
        DevCluster(name).delete()
