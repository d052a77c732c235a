"""Trunk peers' host names, resolved off the call path: cached, bounded, in the background.

A trunk whose peer name does not resolve (or whose DNS server is slow) must not delay the
configuration, readiness, or calls on any other trunk. So nothing waits for DNS: the resolver
answers from its cache at once (IP literals need no lookup), and names are looked up in a
background task, a few at a time, each bounded by a timeout, again every `refresh` seconds. When
a lookup changes what a name resolves to, `on_change` runs (the server then updates its peer
filter). Calls go to the cached address, so pjsip never resolves a name on its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from guestgate.config.schema import PeerConfig

log = logging.getLogger("guestgate.signal.peers")

LOOKUP_SECONDS = 5.0  # one lookup at most this long
REFRESH_SECONDS = 30.0  # names are looked up again this often (a DNS change, a moved peer pod)
RETRY_SECONDS = 5.0  # a name that did not resolve is tried again this soon
CONCURRENT_LOOKUPS = 4


@dataclass(frozen=True)
class Resolution:
    addresses: tuple[str, ...]  # empty: did not resolve
    at: float  # monotonic time of the lookup
    error: str = ""


def ip_literal(host: str) -> str | None:
    """The address when `host` is an IP literal ([v6] brackets allowed), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return None


def due(resolution: Resolution | None, now: float, refresh: float = REFRESH_SECONDS,
        retry: float = RETRY_SECONDS) -> bool:
    """Is a name due for a lookup? Pure, for the tables."""
    if resolution is None:
        return True
    return now - resolution.at >= (refresh if resolution.addresses else retry)


class PeerResolver:
    def __init__(self, on_change: Callable[[], None] = lambda: None,
                 lookup: Callable[[str], Awaitable[list[str]]] | None = None) -> None:
        self.on_change = on_change
        self._lookup = lookup
        self._cache: dict[str, Resolution] = {}
        self._names: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}

    # ---- answers from the cache (never wait) --------------------------------------------------

    def addresses(self, host: str) -> tuple[str, ...]:
        literal = ip_literal(host)
        if literal is not None:
            return (literal,)
        found = self._cache.get(host)
        return found.addresses if found else ()

    def all_addresses(self, peers: Iterable[PeerConfig]) -> set[str]:
        return {address for peer in peers for address in self.addresses(peer.host)}

    def error(self, host: str) -> str:
        found = self._cache.get(host)
        if ip_literal(host) is not None:
            return ""
        if found is None:
            return f"peer name {host} not resolved yet"
        return found.error

    def for_call(self, peer: PeerConfig) -> PeerConfig:
        """The peer to hand the SIP engine: its name replaced by the cached address (TLS keeps the
        name, which its certificate check needs). An unresolved name stays as it is: the call then
        fails on that trunk alone, at once (see `error`)."""
        if peer.transport == "tls" or ip_literal(peer.host) is not None:
            return peer
        addresses = self.addresses(peer.host)
        return peer.model_copy(update={"host": addresses[0]}) if addresses else peer

    # ---- the background lookups ---------------------------------------------------------------

    def watch(self, peers: Iterable[PeerConfig]) -> None:
        """The names to keep resolved (the current configuration's peers); looked up soon."""
        names = {peer.host for peer in peers if ip_literal(peer.host) is None}
        if names - self._names:
            self._wake.set()
        self._names = names
        for gone in set(self._cache) - names:
            del self._cache[gone]
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        semaphore = asyncio.Semaphore(CONCURRENT_LOOKUPS)
        while True:
            now = time.monotonic()
            for name in sorted(self._names):
                if name not in self._inflight and due(self._cache.get(name), now):
                    task = asyncio.get_running_loop().create_task(self._resolve(name, semaphore))
                    self._inflight[name] = task
                    task.add_done_callback(functools.partial(self._finished, name))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS)

    def _finished(self, name: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(name, None)

    async def _resolve(self, name: str, semaphore: asyncio.Semaphore) -> None:
        """Look one name up and keep the answer; each name on its own, so a slow one delays no other."""
        async with semaphore:
            try:
                if self._lookup is not None:
                    found = await asyncio.wait_for(self._lookup(name), LOOKUP_SECONDS)
                else:
                    infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(name, None), LOOKUP_SECONDS)
                    found = [str(info[4][0]) for info in infos]
                resolution = Resolution(tuple(sorted(set(found))), time.monotonic())
            except TimeoutError:
                resolution = Resolution(
                    (), time.monotonic(), f"peer name {name} does not resolve: no answer within {LOOKUP_SECONDS:.0f} s"
                )
            except OSError as error:
                why = error.strerror or error
                resolution = Resolution((), time.monotonic(), f"peer name {name} does not resolve: {why}")
        if name not in self._names:
            return
        before = self._cache.get(name)
        self._cache[name] = resolution
        if before is None or before.addresses != resolution.addresses:
            if not resolution.addresses:
                log.warning("cannot resolve peer peer=%s error=%s", name, resolution.error)
            self.on_change()
