"""Waking the engine thread's poll when a job is queued.

The engine thread sleeps in pjlib's poll (libHandleEvents), which no Python object can interrupt:
a job queued meanwhile (placing a browser's INVITE) used to wait for the poll's timeout. pjsip's
UDP transport reads and ignores any datagram of at most 32 bytes (sip_transport_udp.c), and its
arrival ends the poll at once: so a job's submitter sends one byte to the engine's own UDP SIP
socket, from the engine's own address, which the peer filter lets through at that size only
(source_filter.udp_program). No SIP message is processed, logged or answered.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading

WAKE_DATAGRAM = b"\0"


def wake_address(bound_host: str) -> str:
    """Where a wake-up goes for a socket bound to bound_host, and so where it comes from (the kernel
    picks the destination itself as the source of a local delivery): the loopback address for a
    wildcard bind, the bound address otherwise."""
    address = ipaddress.ip_address(bound_host.strip("[]"))
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


class PollWaker:
    """Sends the engine's poll a wake-up when asked while the engine thread says it is waiting.

    The engine thread calls `waiting(True)` before it looks at its queue one last time and polls,
    `waiting(False)` after; a submitter queues its job first and calls `wake()` after: either the
    engine saw the job, or the submitter sees the engine waiting and wakes it (at most once a poll).
    """

    def __init__(self, bound_host: str, port: int) -> None:
        self.address = wake_address(bound_host)
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        self._target = (self.address, port)
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._socket.bind((self.address, 0))  # the source the peer filter lets through
        except OSError:
            self._socket.close()
            raise
        self._socket.setblocking(False)
        self._lock = threading.Lock()
        self._waiting = False
        self._sent = False
        self.sent = 0  # wake-ups sent (tests, debugging)

    def waiting(self, flag: bool) -> None:
        with self._lock:
            self._waiting, self._sent = flag, False

    def wake(self) -> None:
        with self._lock:
            if not self._waiting or self._sent:
                return
            self._sent = True
        # A full socket buffer means the poll has something to read already.
        with contextlib.suppress(OSError):
            self._socket.sendto(WAKE_DATAGRAM, self._target)
            self.sent += 1

    def close(self) -> None:
        self._socket.close()
