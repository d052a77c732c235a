"""The TURN server's allow-list: the addresses coturn may relay to (the signalling pods').

The operator writes it into the TURN ConfigMap's `peers` file (what a TURN pod starts from) and
pushes it to every TURN pod's agent (`PUT /v1/peers`), which writes `peers.pushed` in the pod's
run directory: the kubelet brings a changed ConfigMap into a pod only a minute or so later, a push
arrives at once. The image's entrypoint copies whichever is in force into coturn's SQLite
allow-list: the pushed file once there is one (the operator keeps it current), else the
ConfigMap's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

PEERS_FILE = "peers"
PUSHED_FILE = "peers.pushed"


def addresses(values: Iterable[str]) -> list[str]:
    """The IP addresses among `values`, normalised, sorted, once each (anything else is left out:
    the entrypoint writes these into SQL)."""
    valid = set()
    for value in values:
        try:
            valid.add(str(ipaddress.ip_address(value.strip())))
        except ValueError:
            continue
    return sorted(valid)


def peers_text(values: Iterable[str]) -> str:
    """The peers file: one address a line."""
    return "".join(f"{ip}\n" for ip in addresses(values))


def digest(values: Iterable[str]) -> str:
    """What the operator compares to know whether a pod has the allow-list it wants."""
    return hashlib.sha256(peers_text(values).encode()).hexdigest()[:16]


def in_force(config_dir: Path, run_dir: Path) -> tuple[str, list[str]]:
    """("pushed" or "config", the addresses) the entrypoint applies (the same rule as its loop)."""
    pushed = run_dir / PUSHED_FILE
    source, path = ("pushed", pushed) if pushed.exists() else ("config", config_dir / PEERS_FILE)
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    return source, addresses(text.splitlines())


def write_pushed(run_dir: Path, values: Iterable[str]) -> list[str]:
    """Replace the pushed allow-list at once (the entrypoint's loop never reads half a file)."""
    found = addresses(values)
    staging = run_dir / f".{PUSHED_FILE}.{os.getpid()}"
    staging.write_text(peers_text(found))
    staging.replace(run_dir / PUSHED_FILE)
    return found
