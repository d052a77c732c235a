"""`guestgate-dev`: the developer's commands load and have help; the product's `guestgate` no longer
offers them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from guestgate.cli import COMMANDS as PRODUCT_COMMANDS
from guestgate_dev.cli import COMMANDS


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_dev_command_has_help(name: str) -> None:
    done = run("guestgate_dev", name, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: guestgate-dev {name}" in done.stdout


def test_the_product_has_no_dev_command() -> None:
    assert not set(COMMANDS) & set(PRODUCT_COMMANDS)
    done = run("guestgate", "cluster", "up")
    assert done.returncode == 2 and "unknown command 'cluster'" in done.stderr
