"""One browser call: the WebRTC peer (aiortc), the SIP call (engine) and what the page is told.

The session owns the call's whole life: it answers the browser's offer, places the SIP call to
the link's destination (never to anything the browser sent), relays call events to the page as
they happen, and tears both legs down whichever side ends first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer

from guestgate.config.schema import LinkConfig, PeerConfig, TrunkProfile
from guestgate.engine.calls import CallEvent, CallHandle
from guestgate.signal.ringback import plays_local_ringback
from guestgate.sip.message import parse_wire
from guestgate.web import metrics
from guestgate.web.audio import FrameBuffer
from guestgate.web.bridge import FRAME_BYTES, BrowserAudio, PortLease, SipAudioTrack, port_factory
from guestgate.web.ratelimit import RateLimiter
from guestgate.web.visitor import STATE_TEXT, EndReason, end_reason

log = logging.getLogger("guestgate.web.session")

EVENTS_CONNECT_SECONDS = 15.0  # a call whose page never opens its event socket is abandoned
DTMF_PER_SECOND = 10
# aiortc's audio receiver holds 4 complete frames before it lets one go: a fixed 80 ms. It does
# not smooth anything (frames still leave when packets arrive; reordering is waited for the same
# way at any prefetch): the bridge's FrameBuffer, drained by pjmedia's 20 ms clock, is the jitter
# buffer of this direction. One frame: a frame leaves when the next packet shows it complete.
JITTER_PREFETCH = 1


class Engine(Protocol):
    """What a browser call needs from the SIP engine (guestgate.engine.core.SipEngine)."""

    async def place_call(
        self, trunk_id: str, number: str, peer: PeerConfig | None = None, caller_name: str | None = None
    ) -> CallHandle: ...

    async def attach_media_port(self, handle: CallHandle, factory: Callable[[Any], Any]) -> None: ...

    async def send_dtmf(self, handle: CallHandle, digits: str) -> None: ...

    async def hangup(self, handle: CallHandle, status_code: int = 0) -> None: ...


def reason_header(handle: CallHandle) -> str | None:
    """The Reason header of what ended the call: the peer's BYE or final response, if any."""
    for message in reversed(handle.capture().messages):
        if message.direction != "received":
            continue
        parsed = parse_wire(message.data)
        status = parsed.status if parsed is not None else None
        if parsed is None or not (parsed.method == "BYE" or (status is not None and 300 <= status < 700)):
            continue
        return ", ".join(parsed.values("Reason")) or None
    return None


def shorten_jitter_buffer(receiver: Any, prefetch: int = JITTER_PREFETCH) -> bool:
    """Lower an aiortc audio receiver's jitter-buffer prefetch (before any RTP arrives).

    aiortc has no setting for it: this reaches its private attribute, and reports False (leaving
    the receiver as it is) where a version lays it out otherwise; tests/web pins the installed one."""
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if not isinstance(buffer, JitterBuffer) or not isinstance(getattr(buffer, "_prefetch", None), int):
        return False
    buffer._prefetch = min(buffer._prefetch, prefetch)
    return True


def bridge_queue_depth(calls: weakref.WeakSet[BrowserCall], direction: str, stat: str) -> int:
    """For guestgate_bridge_queue_depth: over the calls in progress, the deepest buffer of one
    direction now ("now") or the most it ever held ("peak"), in 20 ms frames."""
    buffers = [call.to_sip if direction == "to_sip" else call.from_sip for call in list(calls) if not call.ended]
    return max((buffer.peak if stat == "peak" else len(buffer) for buffer in buffers), default=0)


class BrowserCall:
    def __init__(
        self,
        engine: Engine,
        link: LinkConfig,
        profile: TrunkProfile,
        client: str,
        stun_urls: tuple[str, ...] = (),
        on_end: Callable[[BrowserCall], None] | None = None,
        peer: PeerConfig | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.engine = engine
        self.link = link
        self.profile = profile
        self.client = client
        self.peer = peer  # the trunk peer keepalive says is up (failover); None: the first
        self.to_sip = FrameBuffer(FRAME_BYTES)
        self.from_sip = FrameBuffer(FRAME_BYTES)
        self.track = SipAudioTrack(self.from_sip)
        self.inbound = BrowserAudio(self.to_sip)
        self.lease = PortLease()
        ice = [RTCIceServer(urls=list(stun_urls))] if stun_urls else []
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        self.handle: CallHandle | None = None
        self.state = "connecting"
        self.reason: EndReason | None = None
        self.events: list[dict[str, Any]] = []
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []
        self._clicked = time.monotonic()
        self._by_visitor = False
        self._ended = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._on_end = on_end
        self._torn_down = False
        self.listened = asyncio.Event()
        self._keys = RateLimiter(window=1.0)
        metrics.ACTIVE_CALLS.labels(link.id).inc()
        LIVE_CALLS.add(self)
        self._emit_state("connecting")

    # ---- what the page sees ----------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for event in self.events:
            queue.put_nowait(event)
        self._listeners.append(queue)
        self.listened.set()
        return queue

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        for queue in self._listeners:
            queue.put_nowait(event)

    def _emit_state(self, state: str, **extra: Any) -> None:
        self.state = state
        self._emit({"type": "state", "state": state, "text": STATE_TEXT[state], **extra})

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # ---- the two legs ------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Answer the browser's offer (non-trickle: its candidates are in the SDP)."""

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                self.inbound.start(track)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed") and not self.ended:
                log.info("browser leg lost call=%s state=%s", self.id, self.pc.connectionState)
                await self.hangup(by_visitor=True)

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio" and not shorten_jitter_buffer(transceiver.receiver):
                log.warning("aiortc jitter buffer left at its default prefetch call=%s", self.id)
        self.pc.addTrack(self.track)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def start_sip(self) -> None:
        try:
            self.handle = await self.engine.place_call(
                self.link.trunk, self.link.destination, self.peer, caller_name=self.link.caller_name
            )
            await self.engine.attach_media_port(self.handle, port_factory(self.to_sip, self.from_sip, self.lease))
        except Exception as exc:
            log.warning("call could not be placed call=%s link=%s error=%s", self.id, self.link.id, exc)
            await self._finish(
                EndReason("failed", "end.unavailable", "")
            )
            return
        log.info(
            "browser call placed call=%s link=%s trunk=%s sip_call_id=%s client=%s",
            self.id,
            self.link.id,
            self.link.trunk,
            self.handle.call_id,
            self.client,
        )
        self._tasks.append(asyncio.ensure_future(self._follow(self.handle)))
        self._tasks.append(asyncio.ensure_future(self._abandon_unless_listened()))

    async def _abandon_unless_listened(self) -> None:
        try:
            await asyncio.wait_for(self.listened.wait(), EVENTS_CONNECT_SECONDS)
        except TimeoutError:
            log.info("page never listened; hanging up call=%s", self.id)
            await self.hangup(by_visitor=True)

    async def _follow(self, handle: CallHandle) -> None:
        queue = handle.subscribe()
        while True:
            event = await queue.get()
            self._on_sip_event(event)
            if event.kind == "ended":
                break
        await self._finish(
            end_reason(event.status_code, reason_header(handle), answered=handle.answered, by_visitor=self._by_visitor)
        )

    def _on_sip_event(self, event: CallEvent) -> None:
        if event.kind == "progress" and self.state == "connecting" and event.status_code >= 180:
            metrics.SETUP_SECONDS.labels("ringing").observe(time.monotonic() - self._clicked)
        if event.kind == "progress" and event.status_code >= 180 and self.state in ("connecting", "ringing"):
            local = plays_local_ringback(self.profile.early_media, event.status_code, event.has_sdp)
            if local:
                self.track.set_mode("ringback")
            elif event.has_sdp:
                self.track.set_mode("relay")  # the far end's early media (announcements, its ringback)
            if self.state != "ringing":
                self._emit_state("ringing", localRingback=local)
        elif event.kind == "answered" and self.state != "connected":
            metrics.SETUP_SECONDS.labels("answer").observe(time.monotonic() - self._clicked)
            self.track.set_mode("relay")
            self._emit_state("connected")

    # ---- control from the page -------------------------------------------------------------

    async def dtmf(self, digits: str) -> None:
        if self.handle is None or self.state != "connected":
            return
        # A person presses a few keys a second; a script hammering the socket must not flood
        # the engine's queue or the trunk.
        if not self._keys.check("keys", DTMF_PER_SECOND, time.monotonic()).allowed:
            log.info("dtmf dropped (too fast) call=%s", self.id)
            return
        await self.engine.send_dtmf(self.handle, digits)

    async def hangup(self, by_visitor: bool = True) -> None:
        if self.ended:
            return
        self._by_visitor = by_visitor
        if self.handle is None or self.handle.ended:
            await self._finish(end_reason(0, answered=False, by_visitor=True))
            return
        try:
            await self.engine.hangup(self.handle)
        except Exception as exc:  # the engine stopped: end our side anyway
            log.warning("hang-up failed call=%s error=%s", self.id, exc)
            await self._finish(end_reason(0, answered=False, by_visitor=True))

    async def _finish(self, reason: EndReason) -> None:
        if self.ended:
            return
        self.reason = reason
        self._ended.set()
        metrics.ENDED_CALLS.labels(self.link.id, reason.key).inc()
        metrics.ACTIVE_CALLS.labels(self.link.id).dec()
        self._emit_state(
            "ended", reason=reason.key, message=reason.message, reasonText=reason.text, detail=reason.detail
        )
        log.info(
            "browser call ended call=%s link=%s reason=%s detail=%s", self.id, self.link.id, reason.key, reason.detail
        )
        if self._on_end is not None:
            self._on_end(self)
        await self.teardown()

    async def teardown(self) -> None:
        """Release the browser leg (idempotent). The SIP leg ends through hangup()."""
        if self._torn_down:
            return
        self._torn_down = True
        self.track.stop()
        await self.inbound.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self.handle is None or self.handle.ended:
            # The SIP leg is over (or never started): the port is idle and can serve another
            # call. A leg that would not end keeps its port rather than mix two calls.
            self.lease.release()
        metrics.BRIDGE_FRAMES_DROPPED.labels("to_sip").inc(self.to_sip.lost)
        metrics.BRIDGE_FRAMES_DROPPED.labels("from_sip").inc(self.from_sip.lost)
        self.to_sip.clear()
        self.from_sip.clear()

    async def close(self) -> None:
        """Server shutdown: end the SIP leg, then the browser leg."""
        await self.hangup(by_visitor=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), 5.0)
        await self.teardown()


LIVE_CALLS: weakref.WeakSet[BrowserCall] = weakref.WeakSet()  # read by the queue-depth gauge at scrape time
for _direction in ("to_sip", "from_sip"):
    for _stat in ("now", "peak"):
        metrics.BRIDGE_QUEUE_DEPTH.labels(_direction, _stat).set_function(
            functools.partial(bridge_queue_depth, LIVE_CALLS, _direction, _stat)
        )
