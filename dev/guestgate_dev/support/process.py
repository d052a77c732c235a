"""Detached component processes: start, find again from a pid file, stop.

Processes outlive the command that started them (`guestgate-dev cluster up` returns, the cluster
keeps running), so everything about a process is re-derived from its pid file and /proc: a pid is
only ours if /proc/<pid>/cmdline still starts with the executable we launched (pids get reused).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Running:
    pid: int
    executable: str


def as_unprivileged(command: Sequence[str], uid: int) -> list[str]:
    """command run as uid (and gid) with no capabilities and no groups: as a non-root pod runs it."""
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--inh-caps", "-all", *command]


def start_detached(
    argv: Sequence[str], log_file: Path, pid_file: Path, env: Mapping[str, str] | None = None
) -> Running:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(argv)}\n".encode())
        out.flush()
        # New session: Ctrl-C in the terminal that ran `cluster up`, or the end of a pytest
        # process, does not reach the components; `down` stops them explicitly.
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
        )
    _children[process.pid] = (process, argv[0])
    pid_file.write_text(f"{process.pid}\n{argv[0]}\n")
    return Running(process.pid, argv[0])


def read_pid_file(pid_file: Path) -> Running | None:
    try:
        lines = pid_file.read_text().splitlines()
        return Running(int(lines[0]), lines[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


# Children started by this very process. For them liveness comes from the Popen object, not
# /proc: right after exec the kernel briefly shows an empty /proc/<pid>/cmdline (the argument
# pages of a large binary are set up after the parent is already woken), which a cmdline check
# would read as "not our process". Polling also reaps them, so no zombies linger.
_children: dict[int, tuple[subprocess.Popen[bytes], str]] = {}


def describe_exit(pid: int) -> str:
    """How a child of ours ended, or a neutral phrase when it was not started by this process."""
    child = _children.get(pid)
    code = child[0].poll() if child is not None else None
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def is_alive(running: Running) -> bool:
    child = _children.get(running.pid)
    if child is not None and child[1] == running.executable:
        return child[0].poll() is None
    try:
        cmdline = Path(f"/proc/{running.pid}/cmdline").read_bytes()
        state = Path(f"/proc/{running.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state == "Z":
        return False
    if not cmdline:
        # Mid-exec (see _children): the pid file is written right after the spawn, so another
        # process may look before the kernel has filled in the new argument pages.
        return True
    return cmdline.split(b"\0", 1)[0].decode(errors="replace") == running.executable


def find_running(pid_file: Path) -> Running | None:
    running = read_pid_file(pid_file)
    return running if running is not None and is_alive(running) else None


def stop(pid_file: Path, name: str, timeout_s: float = 15.0) -> bool:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL. True if something was running."""
    running = find_running(pid_file)
    if running is None:
        pid_file.unlink(missing_ok=True)
        return False
    started = time.monotonic()
    _signal_group(running.pid, signal.SIGTERM)
    deadline = started + timeout_s
    while time.monotonic() < deadline and is_alive(running):
        time.sleep(0.05)
    if is_alive(running):
        log.warning("component did not stop on SIGTERM; killing component=%s pid=%d", name, running.pid)
        _signal_group(running.pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while time.monotonic() < kill_deadline and is_alive(running):
            time.sleep(0.05)
    log.info("stopped component=%s pid=%d seconds=%.1f", name, running.pid, time.monotonic() - started)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Each component leads its own process group (start_new_session), so the group signal also
    # reaches anything it spawned, and nothing else.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory lock across processes (flock), released when the block ends or we die."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        started = time.monotonic()
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited > 1:
            log.info("lock acquired waited_s=%.1f lock=%s", waited, lock_path)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_ready(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float, interval: float = 0.1
) -> bool:
    """Poll `ready()` until it holds (True), the process exits or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if process.poll() is not None:
            return False
        time.sleep(interval)
    return False


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """Terminate a child this process started (SIGTERM, then SIGKILL after timeout); None or an
    exited one is left alone."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
