"""The `guestgate` entry point: every command is listed and loads; unknown input is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from guestgate.cli import COMMANDS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guestgate", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    for name in COMMANDS:
        assert name in done.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name: str) -> None:
    done = run(name, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: guestgate" in done.stdout


def test_unknown_command_and_version() -> None:
    done = run("frobnicate")
    assert done.returncode == 2 and "unknown command 'frobnicate'" in done.stderr
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("guestgate ")
