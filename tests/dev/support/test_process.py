"""Detached processes for real (sleep, sh): start, recognise, stop, escalate to SIGKILL."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from guestgate_dev.support import process

SLEEP = shutil.which("sleep") or "/bin/sleep"


def test_start_find_stop(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "run" / "x.pid", tmp_path / "logs" / "x.log"
    running = process.start_detached([SLEEP, "30"], log_file, pid_file)
    assert process.find_running(pid_file) == running
    assert process.stop(pid_file, "x", timeout_s=5)
    assert not process.is_alive(running)
    assert not pid_file.exists()
    assert SLEEP in log_file.read_text()  # the command line is logged
    assert not process.stop(pid_file, "x")  # stopping twice is fine


STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('SIGTERM ' + 'ignored', flush=True); time.sleep(30)"
)


def test_sigterm_ignored_escalates_to_sigkill(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "x.pid", tmp_path / "x.log"
    running = process.start_detached([sys.executable, "-c", STUBBORN], log_file, pid_file)
    deadline = time.monotonic() + 10
    # The log starts with the command line, so the marker is split there and whole only in output.
    while "SIGTERM ignored" not in log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    assert process.stop(pid_file, "x", timeout_s=0.5)
    assert time.monotonic() - started >= 0.5  # it waited for SIGTERM to work, then killed
    assert not process.is_alive(running)


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    running = process.start_detached([SLEEP, "30"], tmp_path / "x.log", pid_file)
    cmdline = Path(f"/proc/{running.pid}/cmdline")
    deadline = time.monotonic() + 5
    while not cmdline.read_bytes() and time.monotonic() < deadline:  # let exec finish
        time.sleep(0.01)
    try:
        assert not process.is_alive(process.Running(running.pid, "/usr/bin/etcd"))
        pid_file.write_text(f"{running.pid}\n/usr/bin/etcd\n")
        assert process.find_running(pid_file) is None
    finally:
        pid_file.write_text(f"{running.pid}\n{SLEEP}\n")
        process.stop(pid_file, "x", timeout_s=5)


def test_garbage_pid_files_are_ignored(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text("not a pid\n")
    assert process.find_running(pid_file) is None
    assert not process.stop(pid_file, "x")
