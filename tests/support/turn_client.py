"""A TURN client for the tests (aioice's, which comes with aiortc), with the credentials a link
page would mint: allocate, ask for a permission (ChannelBind) to a peer, send through the relay."""

from __future__ import annotations

import asyncio
import itertools
import time
from ssl import SSLContext
from typing import cast

from aioice import stun
from aioice.turn import TurnTransport, create_turn_endpoint

from guestgate.web.ice import turn_credentials

_visits = itertools.count()


class Echo(asyncio.DatagramProtocol):
    """A media port: sends back what it gets, marked."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)


class Inbox(asyncio.DatagramProtocol):
    """What came back through the relay."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


async def allocate(server: tuple[str, int], secret: bytes, link: str = "team/sales", valid_for: int = 3600,
                   transport: str = "udp", ssl: SSLContext | None = None) -> tuple[TurnTransport, Inbox]:
    """An allocation with one visit's credentials (a link id of its own per visit: coturn's
    per-user quota counts the allocations a username holds, and closed ones linger a moment).
    `ssl`: TURN over TLS (transport tcp) with this context."""
    username, password = turn_credentials(secret, f"{link}-{next(_visits)}", time.time(), ttl=valid_for)
    return await create_turn_endpoint(Inbox, server, username, password, transport=transport, ssl=ssl)


async def bind(relay: TurnTransport, peer: tuple[str, int]) -> int | None:
    """ChannelBind to the peer (the permission a browser asks for): None if granted, else the
    STUN error code (403: the server will not relay there)."""
    inner = relay._TurnTransport__inner_protocol  # type: ignore[attr-defined]
    try:
        await inner.channel_bind(0x4000 + peer[1] % 0x3000, peer)
    except stun.TransactionFailed as error:
        return refusal(error)
    return None


def refusal(error: BaseException) -> int:
    """The STUN error code of a refused request."""
    assert isinstance(error, stun.TransactionFailed), error
    code = error.response.error_code
    assert code is not None, "a STUN error response without ERROR-CODE"
    return int(code)


async def bind_once(server: tuple[str, int], secret: bytes, peer: tuple[str, int]) -> int | None:
    relay, _ = await allocate(server, secret)
    try:
        return await bind(relay, peer)
    finally:
        relay.close()


async def allocation_refused(server: tuple[str, int], secret: bytes, valid_for: int = 3600) -> int | None:
    """None if an allocation is granted, else the error code (401: bad or expired credentials)."""
    try:
        relay, _ = await allocate(server, secret, valid_for=valid_for)
    except stun.TransactionFailed as error:
        return refusal(error)
    relay.close()
    return None
