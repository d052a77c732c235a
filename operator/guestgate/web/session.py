"""One browser call: the media relay's session (rtpengine), the SIP call (engine) and what the
page is told.

The session owns the call's whole life: it hands the browser's offer to the relay (WebRTC in,
plain RTP out), places the SIP call to the link's destination (never to anything the browser
sent) with the relay's SDP, gives the far end's answer (an 18x with SDP or the 200) back through
the relay to the page, relays call events to the page as they happen, and tears down both legs
and the relay's session whichever side ends first. The pod carries no media itself: pjsua2 sends
the relay's SDP and has no audio of its own on the call (no RTP from the pod, tests/browser/
test_relay_capture.py); ringback before an answer without early media is played by the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from guestgate.config.schema import LinkConfig, PeerConfig, TrunkProfile
from guestgate.engine.calls import CallEvent, CallHandle
from guestgate.media import sdp as media_sdp
from guestgate.media.ng import NgError
from guestgate.signal.ringback import plays_local_ringback
from guestgate.sip.message import parse_wire
from guestgate.web import metrics
from guestgate.web.ratelimit import RateLimiter
from guestgate.web.visitor import STATE_TEXT, EndReason, end_reason

log = logging.getLogger("guestgate.web.session")

EVENTS_CONNECT_SECONDS = 15.0  # a call whose page never opens its event socket is abandoned
DTMF_PER_SECOND = 10


class Engine(Protocol):
    """What a browser call needs from the SIP engine (guestgate.engine.core.SipEngine)."""

    async def place_call(
        self,
        trunk_id: str,
        number: str,
        peer: PeerConfig | None = None,
        caller_name: str | None = None,
        relay_sdp: str | None = None,
    ) -> CallHandle: ...

    async def send_dtmf(self, handle: CallHandle, digits: str) -> None: ...

    async def hangup(self, handle: CallHandle, status_code: int = 0) -> None: ...


class Relay(Protocol):
    """What a browser call needs from the media relay (guestgate.media.ng.NgClient)."""

    async def offer(self, call_id: str, from_tag: str, sdp: str, **flags: Any) -> str: ...

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, **flags: Any) -> str: ...

    async def delete(self, call_id: str, from_tag: str | None = None) -> dict[str, Any]: ...

    async def list_calls(self, limit: int = 1000) -> list[str]: ...

    async def statistics(self) -> dict[str, Any]: ...


class BadOffer(ValueError):
    """The browser's offer cannot be relayed (not SDP, no media)."""


class RelayUnavailable(RuntimeError):
    """The media relay refused the offer or did not answer."""


BROWSER_TAG, TRUNK_TAG = "browser", "trunk"  # the two sides of a call in the relay's session
MEDIA_LOST = EndReason(
    "media-lost",
    "The call's audio connection was lost. Please try again.",
    "media relay",
)


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


class BrowserCall:
    def __init__(
        self,
        engine: Engine,
        link: LinkConfig,
        profile: TrunkProfile,
        client: str,
        relay: Relay,
        on_end: Callable[[BrowserCall], None] | None = None,
        peer: PeerConfig | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.engine = engine
        self.link = link
        self.profile = profile
        self.client = client
        self.peer = peer  # the trunk peer keepalive says is up (failover); None: the first
        self.relay = relay
        self.relay_sdp: str | None = None  # the relay's plain-RTP offer, sent to the trunk
        self.relayed_since: float | None = None  # monotonic time the relay took the call
        self._offered = False  # the relay was asked: it may hold a session even if its answer was lost
        self._answered_to_page = False
        self.ringback = False  # the page plays local ringback now (it is told on each change)
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

    async def offer(self, offer_sdp: str) -> None:
        """Take the browser's offer (non-trickle: its candidates are in the SDP) to the relay. The
        answer comes later, in an {"type": "answer"} event, once the far end's SDP is known."""
        if not media_sdp.has_media(offer_sdp):
            raise BadOffer("the offer holds no media")
        if media_sdp.media_count(offer_sdp) > media_sdp.MAX_MEDIA_LINES:
            raise BadOffer(f"the offer holds more than {media_sdp.MAX_MEDIA_LINES} m= lines")
        # The link's video policy holds whatever the page offered (anyone can post an offer).
        offer_sdp = media_sdp.apply_video_policy(offer_sdp, self.video_policy)
        trunk_codecs = list(self.profile.codecs)
        flags = media_sdp.offer_flags(media_sdp.codec_names(offer_sdp), trunk_codecs)
        self._offered = True
        try:
            plain = await self.relay.offer(self.id, BROWSER_TAG, offer_sdp, **flags)
        except NgError as exc:
            raise RelayUnavailable(str(exc)) from exc
        self.relayed_since = time.monotonic()
        self.relay_sdp = media_sdp.strip_webrtc(media_sdp.order_codecs(plain, trunk_codecs))

    @property
    def video_policy(self) -> media_sdp.VideoPolicy:
        if self.link.video_policy == "sendrecv":
            return "sendrecv"
        return "recvonly" if self.link.video_policy == "recvonly" else "inactive"

    async def _answer_to_page(self, far_sdp: str) -> None:
        """The far end's SDP (18x or 200) through the relay; the page gets the first answer."""
        if self.relay_sdp is not None:
            with contextlib.suppress(media_sdp.SdpError):  # rtpengine judges text that is no SDP
                far_sdp = media_sdp.complete_answer(far_sdp, self.relay_sdp)
        try:
            answer = await self.relay.answer(self.id, BROWSER_TAG, TRUNK_TAG, far_sdp, **media_sdp.answer_flags())
        except NgError as exc:
            log.warning("relay refused the far end's answer call=%s error=%s", self.id, exc)
            await self.media_lost()
            return
        if not self._answered_to_page:
            self._answered_to_page = True
            self._emit({"type": "answer", "sdp": media_sdp.page_answer(answer, self.video_policy)})

    async def media_lost(self) -> None:
        """The relay lost this call (restarted, timed out, gone): end both legs and say so."""
        if self.ended:
            return
        log.warning("media relay lost the call call=%s link=%s", self.id, self.link.id)
        handle = self.handle
        await self._finish(MEDIA_LOST)  # first: the BYE's own ending must not name another reason
        if handle is not None and not handle.ended:
            with contextlib.suppress(Exception):
                await self.engine.hangup(handle)

    async def start_sip(self) -> None:
        if self.relay_sdp is None:  # no offer through the relay: there is no media path for the call
            log.error("call not placed: no relayed offer call=%s link=%s", self.id, self.link.id)
            await self._finish(EndReason("failed", "end.unavailable", ""))
            return
        try:
            self.handle = await self.engine.place_call(
                self.link.trunk,
                self.link.destination,
                self.peer,
                caller_name=self.link.caller_name,
                relay_sdp=self.relay_sdp,
            )
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
            if event.sdp and event.kind in ("progress", "answered") and not self.ended:
                await self._answer_to_page(event.sdp)
            self._on_sip_event(event)
            if event.kind == "ended":
                break
        await self._finish(
            end_reason(event.status_code, reason_header(handle), answered=handle.answered, by_visitor=self._by_visitor)
        )

    def _on_sip_event(self, event: CallEvent) -> None:
        heard = self.ringback
        self._follow_sip_event(event)
        if self.ringback != heard and not self.ended:
            # The page makes its own ringback: tell it when to start and stop.
            self._emit({"type": "ringback", "on": self.ringback})

    def _follow_sip_event(self, event: CallEvent) -> None:
        if event.kind == "progress" and self.state == "connecting" and event.status_code >= 180:
            metrics.SETUP_SECONDS.labels("ringing").observe(time.monotonic() - self._clicked)
        if event.kind == "progress" and event.status_code >= 180 and self.state in ("connecting", "ringing"):
            local = plays_local_ringback(self.profile.early_media, event.status_code, event.has_sdp)
            if local:
                self.ringback = True
            elif event.has_sdp:
                self.ringback = False  # the far end's early media (announcements, its ringback)
            if self.state != "ringing":
                self._emit_state("ringing", localRingback=local)
        elif event.kind == "answered" and self.state != "connected":
            metrics.SETUP_SECONDS.labels("answer").observe(time.monotonic() - self._clicked)
            self.ringback = False
            self._emit_state("connected")

    # ---- control from the page -------------------------------------------------------------

    async def dtmf(self, digits: str) -> None:
        if self.handle is None or self.state != "connected":
            return
        if self.profile.dtmf == "rfc4733":
            return  # the page sends RFC 4733 events itself (RTCDTMFSender), through the relay
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
        if self._offered:
            # Every way a call ends comes through here: the relay forgets the session.
            try:
                await self.relay.delete(self.id)
            except NgError as exc:
                log.info("relay session not deleted call=%s error=%s", self.id, exc)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def close(self) -> None:
        """Server shutdown: end the SIP leg, then the browser leg."""
        await self.hangup(by_visitor=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), 5.0)
        await self.teardown()


RELAY_WATCH_SECONDS = 1.0
RELAY_STATS_EVERY = 5  # watch turns between two reads of the relay's counters (guestgate_media_*)


async def watch_relay(
    relay: Relay,
    calls: dict[str, BrowserCall],
    interval: float = RELAY_WATCH_SECONDS,
    on_up: Callable[[bool], None] | None = None,
) -> None:
    """End the calls the relay no longer carries (it was restarted, or ended them itself: no
    media for its timeout) with a reason the visitor reads, and all of them when it stops
    answering. The pod itself carries on: the next call gets a new session. `on_up` hears whether
    the relay answers (the pod's readiness follows it: no visitor is sent to a pod without media)."""
    turn = 0
    while True:
        await asyncio.sleep(interval)
        turn += 1
        if turn % RELAY_STATS_EVERY == 1:
            try:
                statistics: dict[str, Any] | None = await relay.statistics()
            except NgError as exc:
                log.warning("media relay not answering error=%s", exc)
                statistics = None
            metrics.set_media(statistics)
            if on_up is not None:
                on_up(statistics is not None)
        relayed = [c for c in list(calls.values()) if c.relayed_since is not None and not c.ended]
        if not relayed:
            continue
        asked = time.monotonic()
        try:
            alive: set[str] | None = set(await relay.list_calls())
        except NgError as exc:
            log.error("media relay not answering: ending %d calls error=%s", len(relayed), exc)
            alive = None
            if on_up is not None:
                on_up(False)
        for call in relayed:
            since = call.relayed_since
            if alive is None or (call.id not in alive and since is not None and since < asked):
                await call.media_lost()
