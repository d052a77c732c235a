"""SIP messages of live calls, taken from pjsip's message log.

pjsua2's call callbacks (onCallTsxState, onCallSdpCreated) do not hand over every message that
crossed the wire (PRACK, its 200, retransmissions, a BYE's 200 after DISCONNECTED...). The one
place that sees each of them whole is pjsua's message logger (`LogConfig.msgLogging`): for every
message sent or received it logs

    TX 1166 bytes Request msg INVITE/cseq=23109 (tdta0x...) to UDP 127.0.0.1:5099:
    <the message as sent>
    --end msg--

so the engine installs a LogWriter, and this module turns those entries into CapturedMessage,
filed by Call-ID. Only the Call-IDs the engine watches are kept (keepalive OPTIONS and scanners
would otherwise fill memory), and every store is bounded.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from guestgate.sip.capture import CapturedMessage, Direction
from guestgate.sip.message import parse_wire

_ENTRY = re.compile(
    r"^(?P<dir>TX|RX) (?P<size>\d+) bytes .*? (?:to|from) (?P<transport>[A-Za-z0-9]+) (?P<remote>\S+?):\r?\n",
)
_END = "\n--end msg--"

MAX_WATCHED_CALLS = 256
MAX_MESSAGES_PER_CALL = 300
MAX_STORE_BYTES = 8 * 1024 * 1024  # all calls together; the oldest calls go first


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """One message logged by pjsua: who, where and the raw bytes."""

    direction: Direction
    transport: str
    remote: str
    data: bytes


def parse_log_entry(text: str) -> LoggedMessage | None:
    """The message in a pjsua log entry, or None when the entry is not a message log."""
    match = _ENTRY.match(text)
    if match is None:
        return None
    body = text[match.end() :]
    end = body.rfind(_END)
    if end >= 0:
        body = body[:end]
    # pjsip logs the bytes as they are; SWIG hands them to us decoded with surrogateescape.
    data = body.encode("utf-8", "surrogateescape")
    direction: Direction = "sent" if match["dir"] == "TX" else "received"
    return LoggedMessage(direction, match["transport"].lower(), match["remote"], data)


def call_id_of(data: bytes) -> str | None:
    """The Call-ID header of a raw SIP message (long or compact form), if any."""
    message = parse_wire(data)
    return message.call_id if message is not None else None


class MessageStore:
    """Messages of watched calls, filed by Call-ID. Thread-safe; every store bounded."""

    def __init__(
        self,
        max_calls: int = MAX_WATCHED_CALLS,
        max_messages: int = MAX_MESSAGES_PER_CALL,
        max_bytes: int = MAX_STORE_BYTES,
    ) -> None:
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, list[CapturedMessage]] = OrderedDict()
        self._local: dict[str, str] = {}
        self._max_calls = max_calls
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._bytes = 0

    def set_local_address(self, transport: str, hostport: str) -> None:
        with self._lock:
            self._local[transport.lower()] = hostport

    def watch(self, call_id: str) -> None:
        with self._lock:
            self._calls.setdefault(call_id, [])
            self._calls.move_to_end(call_id)
            while len(self._calls) > self._max_calls:
                self._drop_oldest()

    def messages(self, call_id: str) -> list[CapturedMessage]:
        with self._lock:
            return list(self._calls.get(call_id, ()))

    def forget(self, call_id: str) -> list[CapturedMessage]:
        with self._lock:
            messages = self._calls.pop(call_id, [])
            self._bytes -= sum(len(m.data) for m in messages)
            return messages

    def _drop_oldest(self) -> None:
        _call_id, messages = self._calls.popitem(last=False)
        self._bytes -= sum(len(m.data) for m in messages)

    def feed(self, text: str, now: float | None = None) -> CapturedMessage | None:
        """File a log entry if it is a message of a watched call; returns what was filed."""
        logged = parse_log_entry(text)
        if logged is None:
            return None
        call_id = call_id_of(logged.data)
        if call_id is None:
            return None
        with self._lock:
            messages = self._calls.get(call_id)
            if messages is None or len(messages) >= self._max_messages:
                return None
            captured = CapturedMessage(
                time=time.time() if now is None else now,
                direction=logged.direction,
                transport=logged.transport,
                local=self._local.get(logged.transport, ""),
                remote=logged.remote,
                data=logged.data,
            )
            messages.append(captured)
            self._bytes += len(captured.data)
            # A peer flooding one call (or many) must not grow the pod: oldest calls go first,
            # the call being written to last.
            while self._bytes > self._max_bytes and len(self._calls) > 1:
                oldest = next(iter(self._calls))
                if oldest == call_id:
                    self._calls.move_to_end(call_id)
                    continue
                self._drop_oldest()
            return captured
