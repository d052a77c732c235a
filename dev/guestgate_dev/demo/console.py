"""What both demo commands say and do on the console: their steps, then, once everything is up,
where to click and a wait until Ctrl-C, --exit-after or a part that stopped."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def serve_until_stopped(
    url: str | None, stop: dict[str, bool], exit_after: float | None, check: Callable[[], str | None]
) -> int:
    """Print the link to open (if any), then call check() every 0.2 s until stop["now"] or
    exit_after seconds; 1 as soon as check() says what went wrong (printed), else 0."""
    if url is not None:
        print(f"\n   Open this link in a browser on this machine and click Call:\n\n      {url}\n", flush=True)
    print("   Ctrl-C stops everything this command started.", flush=True)
    until = None if exit_after is None else time.monotonic() + exit_after
    while not stop["now"] and (until is None or time.monotonic() < until):
        problem = check()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        time.sleep(0.2)
    return 0
