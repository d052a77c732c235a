"""Calls as the rest of GuestGate sees them: a CallHandle that asyncio code can await.

The pjsua2 Call object lives on the engine thread and never leaves it; the engine updates the
handle from its callbacks and the handle hands events over to asyncio loops thread-safely.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from guestgate.sip.capture import CallCapture, CapturedMessage, MediaCounters

EventKind = Literal["calling", "progress", "answered", "ended"]


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Something the caller's side should react to (the browser leg shows it to the visitor)."""

    kind: EventKind
    time: float
    status_code: int = 0  # SIP status of the response that caused it (0 when none)
    reason: str = ""  # SIP reason phrase, or the Reason header of a BYE
    has_sdp: bool = False  # for progress: did the 18x carry SDP (early media) or not
    reliable: bool = False  # for progress: was the 18x sent reliably (Require: 100rel)
    sdp: str = ""  # the SDP the 18x or the 200 carried ("" when none): a relayed call's far end


@dataclass(slots=True)
class CallHandle:
    """One call placed by the engine. Read from any thread; written by the engine thread only."""

    call_id: str
    trunk_id: str
    number: str
    target: str
    started: float = field(default_factory=time.time)
    events: list[CallEvent] = field(default_factory=list)
    answered_at: float | None = None
    ended_at: float | None = None
    last_status: int = 0
    last_reason: str = ""
    media: MediaCounters | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[CallEvent]]] = field(default_factory=list)
    _messages: Callable[[], list[CapturedMessage]] | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def subscribe(self) -> asyncio.Queue[CallEvent]:
        """A queue of this call's events for the running loop, starting with those already seen."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        with self._lock:
            for event in self.events:
                queue.put_nowait(event)
            self._listeners.append((loop, queue))
        return queue

    def publish(self, event: CallEvent) -> None:
        """Called by the engine thread."""
        with self._lock:
            self.events.append(event)
            if event.kind == "answered" and self.answered_at is None:
                self.answered_at = event.time
            if event.kind == "ended" and self.ended_at is None:
                self.ended_at = event.time
            if event.status_code:
                self.last_status = event.status_code
                self.last_reason = event.reason
            listeners = list(self._listeners)
        for loop, queue in listeners:
            # A listener's loop may be gone (a finished probe): nothing to tell it then.
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def wait(self, kinds: Iterable[EventKind], timeout: float) -> CallEvent | None:
        """The first event of one of `kinds` (seen before or after the call), None on timeout."""
        wanted = set(kinds)
        queue = self.subscribe()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                event = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                return None
            if event.kind in wanted:
                return event

    def capture(self) -> CallCapture:
        """The messages recorded so far and the media counters taken at hang-up."""
        messages = self._messages() if self._messages is not None else []
        return CallCapture(messages=messages, media=self.media)
