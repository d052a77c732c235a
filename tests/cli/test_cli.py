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


# Each command that needs an optional extra, run where the extra's module cannot be imported.
NEEDS_SIGNAL_EXTRA = [
    ("probe", "--peer", "127.0.0.1:5", "--to", "2001"),
    ("signal", "--config-dir", "/nonexistent"),
]
HIDE_PJSUA2 = (
    "import sys; sys.modules['pjsua2'] = None\n"
    "from guestgate.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("argv", NEEDS_SIGNAL_EXTRA, ids=[a[0] for a in NEEDS_SIGNAL_EXTRA])
def test_missing_extra_names_the_extra_to_install(argv: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-c", HIDE_PJSUA2, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"guestgate {argv[0]}: needs the 'signal' extra" in done.stderr
    assert "pip install 'guestgate[signal]'" in done.stderr


def test_a_missing_module_no_extra_provides_is_not_disguised() -> None:
    from guestgate.cli import missing_extra

    assert missing_extra(ModuleNotFoundError("x", name="pjsua2")) == "signal"
    assert missing_extra(ModuleNotFoundError("x", name="aiortc.mediastreams")) is None  # no product needs it
    assert missing_extra(ModuleNotFoundError("x", name="guestgate.nothing")) is None
