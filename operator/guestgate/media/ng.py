"""A client of rtpengine's ng control protocol: bencoded dictionaries over UDP (loopback).

Each request is `<cookie> <bencoded dict>`; the answer repeats the cookie. rtpengine caches its
answers by cookie, so a request that got no answer is sent again with the same cookie (UDP may
drop it) and is never applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from typing import Any

from guestgate.media import bencode

log = logging.getLogger("guestgate.media.ng")

DEFAULT_TIMEOUT = 1.0  # per attempt
DEFAULT_ATTEMPTS = 3


class NgError(RuntimeError):
    """rtpengine answered with an error, or did not answer at all."""


class NgUnreachable(NgError):
    """No answer from rtpengine (not running, wrong address)."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.client._received(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: nobody listens
        log.debug("ng socket error %s", exc)


class NgClient:
    """`await NgClient.connect("127.0.0.1", 2223)`; then ping(), offer(), answer(), delete()..."""

    def __init__(
        self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT, attempts: int = DEFAULT_ATTEMPTS
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.attempts = attempts
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[bytes, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    @classmethod
    async def connect(cls, host: str, port: int, **kwargs: Any) -> NgClient:
        client = cls(host, port, **kwargs)
        await client.open()
        return client

    async def open(self) -> None:
        if self._transport is None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), remote_addr=(self.host, self.port)
            )
            self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NgUnreachable("ng client closed"))
        self._pending.clear()

    def _received(self, data: bytes) -> None:
        cookie, _, payload = data.partition(b" ")
        future = self._pending.get(cookie)
        if future is None or future.done():
            return
        try:
            answer = bencode.decode(payload)
        except bencode.BencodeError as exc:
            future.set_exception(NgError(f"rtpengine sent bad bencode: {exc}"))
            return
        if not isinstance(answer, dict):
            future.set_exception(NgError("rtpengine's answer is not a dictionary"))
            return
        future.set_result(answer)

    async def request(self, command: str, **fields: Any) -> dict[str, Any]:
        """Send one command; its answer dictionary (result ok/pong), NgError otherwise."""
        await self.open()
        assert self._transport is not None
        cookie = f"{self._prefix}_{next(self._ids)}".encode()
        message = cookie + b" " + bencode.encode({"command": command, **fields})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cookie] = future
        try:
            for _attempt in range(self.attempts):
                self._transport.sendto(message)
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                    break
            else:
                raise NgUnreachable(
                    f"rtpengine at {self.host}:{self.port} did not answer {command!r} "
                    f"({self.attempts} tries, {self.timeout:.1f} s each)"
                )
        finally:
            self._pending.pop(cookie, None)
            if not future.done():
                future.cancel()
        result = answer.get("result")
        if result == "error":
            raise NgError(f"rtpengine refused {command!r}: {answer.get('error-reason', 'no reason given')}")
        return answer

    # ---- the commands GuestGate uses -----------------------------------------------------------

    async def ping(self) -> bool:
        return (await self.request("ping")).get("result") == "pong"

    async def offer(self, call_id: str, from_tag: str, sdp: str, **flags: Any) -> str:
        answer = await self.request("offer", **{"call-id": call_id, "from-tag": from_tag, "sdp": sdp, **flags})
        return _sdp_of(answer, "offer")

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, **flags: Any) -> str:
        fields = {"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp, **flags}
        return _sdp_of(await self.request("answer", **fields), "answer")

    async def delete(self, call_id: str, from_tag: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"call-id": call_id}
        if from_tag:
            fields["from-tag"] = from_tag
        return await self.request("delete", **fields)

    async def query(self, call_id: str) -> dict[str, Any]:
        return await self.request("query", **{"call-id": call_id})

    async def list_calls(self, limit: int = 1000) -> list[str]:
        calls = (await self.request("list", limit=limit)).get("calls", [])
        return [str(c) for c in calls] if isinstance(calls, list) else []

    async def statistics(self) -> dict[str, Any]:
        stats = (await self.request("statistics")).get("statistics", {})
        return stats if isinstance(stats, dict) else {}


def _sdp_of(answer: dict[str, Any], command: str) -> str:
    sdp = answer.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise NgError(f"rtpengine's {command} carried no SDP")
    return sdp
