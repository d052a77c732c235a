"""The SIP guard: requests from the trunk side that would make the pod act for the far side are
refused before pjsua sees them.

GuestGate's pjsua2 build carries a pjsip module of its own (hack/pjsua2/guard.c) that answers
REFER 403, INVITE with Replaces or Join 403, an INVITE outside a dialog 480 (403 from a
non-peer: pjsua never creates a call GuestGate did not place), SUBSCRIBE 489, NOTIFY 481,
MESSAGE/PUBLISH/REGISTER 405, INFO other than DTMF 415 (481 outside a dialog) and any other
method 501. This module reaches it with ctypes in the loaded `_pjsua2` extension, tells it the
trunks' peers, and reads its log lines (one per refusal) back as counts.

Without that module (a pjsua2 wheel from elsewhere) the engine still refuses what pjsua2's own
callbacks let it (REFER, Replaces, presence SUBSCRIBE, unsolicited MWI NOTIFY, incoming calls)
and says what it cannot: `mode` is then "hooks: ...".
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("guestgate.engine.guard")

GUARD_VERSION = 1
MODULE = "module"
_REFUSAL = re.compile(r"refused (?P<method>\S+) from (?P<source>\S+) status=(?P<status>\d+) why=(?P<why>.*)")


@dataclass(frozen=True, slots=True)
class Refusal:
    method: str
    source: str
    status: int
    why: str


def parse_refusal(text: str) -> Refusal | None:
    """A refusal logged by the guard module ("refused REFER from 10.0.0.1:5060 status=403 why=..."),
    or None for any other pjsip log line (pure)."""
    found = _REFUSAL.search(text)
    if found is None:
        return None
    method = found["method"].upper()[:32]
    return Refusal(method, found["source"], int(found["status"]), found["why"].strip()[:200])


def peer_list(hosts: Iterable[str]) -> str:
    """The peers as the guard compares them with pjsip's source address text: each address in its
    canonical form, an IPv4 peer also as the IPv4-mapped IPv6 address (a dual-stack socket)."""
    forms: set[str] = set()
    for host in hosts:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue  # names are resolved before they reach the engine
        mapped = address if isinstance(address, ipaddress.IPv4Address) else address.ipv4_mapped
        if mapped is None:
            forms.add(str(address))
        else:  # as pjsip prints it: dotted, and dotted after ::ffff: (Python 3.11 would say ::ffff:a00:2)
            forms.update((str(mapped), f"::ffff:{mapped}"))
    return ",".join(sorted(forms))


class SipGuard:
    """The guard module in the loaded pjsua2 extension, if it has one. Engine thread only."""

    def __init__(self) -> None:
        self._lib: Any = None
        self._extension: Any = None
        self.mode = "hooks: not installed yet"

    def install(self) -> str:
        """Register the module with pjsua's endpoint (after libInit); the mode in force."""
        extension = sys.modules.get("_pjsua2") or getattr(sys.modules.get("pjsua2"), "_pjsua2", None)
        path = getattr(extension, "__file__", None)
        if not path:
            self.mode = "hooks: the pjsua2 extension was not found"
            return self.mode
        lib = self._extension = ctypes.CDLL(path)  # the extension already loaded: the same handle
        if not hasattr(lib, "guestgate_guard_install"):
            self.mode = "hooks: this pjsua2 build has no guard module (build it with hack/build-pjsua2.sh)"
            return self.mode
        if lib.guestgate_guard_version() != GUARD_VERSION:
            self.mode = f"hooks: guard module version {lib.guestgate_guard_version()}, expected {GUARD_VERSION}"
            return self.mode
        status = lib.guestgate_guard_install()
        if status != 0:
            self.mode = f"hooks: the guard module did not register (pj_status_t {status})"
            return self.mode
        lib.guestgate_guard_set_peers.argtypes = [ctypes.c_char_p]
        self._lib = lib
        self.mode = MODULE
        return self.mode

    @property
    def extension(self) -> Any:
        """The loaded pjsua2 extension as a ctypes library (None before install)."""
        return self._extension

    def pjsua_calls(self) -> int:
        """Call slots pjsua holds now (pjsua_call_get_count), -1 if the extension does not say."""
        count = getattr(self._extension, "pjsua_call_get_count", None)
        return int(count()) if count is not None else -1

    @property
    def installed(self) -> bool:
        return self._lib is not None

    def set_peers(self, hosts: Iterable[str]) -> None:
        if self._lib is not None:
            self._lib.guestgate_guard_set_peers(peer_list(hosts).encode("ascii"))
