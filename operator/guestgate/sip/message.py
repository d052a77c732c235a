"""One SIP message parsed from text: start line, headers, body (pure, no I/O).

Real traces are messy: compact header names (``i:`` for Call-ID), any case, folded lines,
repeated headers and comma-joined lists. Everything is normalised here once, so the diagnosis
can ask ``message.tokens("Require")`` and never care how the header was spelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from guestgate.sip.sdp import Sdp, parse_sdp


class SipParseError(ValueError):
    """The text is not a SIP message we can read; the message says why."""


# RFC 3261 section 7.3.3 and later RFCs: compact form -> canonical long form.
COMPACT_NAMES: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "f": "From",
    "t": "To",
    "v": "Via",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}

# Canonical spelling of the headers we show; any other name is title-cased per dash.
_KNOWN_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_NAMES.values(),
        "CSeq", "RSeq", "RAck", "Min-SE", "WWW-Authenticate", "Proxy-Authenticate",
        "Authorization", "Proxy-Authorization", "User-Agent", "Server", "Reason", "Require",
        "Unsupported", "Allow", "Retry-After", "Record-Route", "Route", "Max-Forwards",
        "P-RTP-Stat", "Remote-Party-ID", "P-Asserted-Identity", "Cisco-Guid", "Timestamp",
        "Date", "Proxy-Require", "Warning",
    )
}

# Headers whose value is a comma-separated list (RFC 3261 section 7.3.1); only these are split,
# because others (Date, User-Agent, WWW-Authenticate, P-RTP-Stat) carry commas inside one value.
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via", "Contact", "Route", "Record-Route", "Require", "Supported", "Unsupported",
        "Proxy-Require", "Allow", "Allow-Events", "Reason", "Accept", "Accept-Encoding",
        "Accept-Language", "Content-Encoding", "Warning",
    )
)

_REQUEST_LINE = re.compile(r"^([A-Za-z]+) +(\S+) +SIP/2\.0\s*$", re.IGNORECASE)
_STATUS_LINE = re.compile(r"^SIP/2\.0 +(\d{3})(?: +(.*?))?\s*$", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^([!-9;-~]+?)\s*:\s?(.*)$")  # token chars, then a colon
_TAG = re.compile(r";\s*tag\s*=\s*([^;>\s,]+)", re.IGNORECASE)
_URI_IN_BRACKETS = re.compile(r"<([^>]*)>")
_REASON_CAUSE = re.compile(r"^\s*([A-Za-z0-9.\-]+)\s*;.*?\bcause\s*=\s*(\d+)", re.IGNORECASE)
_REASON_TEXT = re.compile(r'\btext\s*=\s*"([^"]*)"', re.IGNORECASE)
_LINE_END = re.compile(r"\r?\n")
_BLANK_LINE = re.compile(r"\r?\n\r?\n")


def is_start_line(line: str) -> bool:
    """True when ``line`` opens a SIP request or response."""
    return bool(_REQUEST_LINE.match(line) or _STATUS_LINE.match(line))


def canonical_name(name: str) -> str:
    """``i`` -> ``Call-ID``, ``cSEQ`` -> ``CSeq``, ``x-foo-bar`` -> ``X-Foo-Bar``."""
    stripped = name.strip()
    lowered = stripped.lower()
    if lowered in COMPACT_NAMES:
        return COMPACT_NAMES[lowered]
    if lowered in _KNOWN_NAMES:
        return _KNOWN_NAMES[lowered]
    return "-".join(part[:1].upper() + part[1:].lower() for part in stripped.split("-"))


def split_list(value: str) -> list[str]:
    """Split a comma-joined header value, respecting quotes and <...> (display names have commas)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle += 1
        elif not quoted and char == ">" and angle:
            angle -= 1
        if char == "," and not quoted and not angle:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


@dataclass(frozen=True, slots=True)
class Reason:
    """One value of a Reason header (RFC 3326), e.g. ``Q.850;cause=65;text="..."``."""

    protocol: str  # "Q.850" or "SIP"
    cause: int
    text: str | None
    raw: str


@dataclass(frozen=True)
class SipMessage:
    """A parsed SIP message. ``headers`` keeps every value in order under its canonical name."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: str = ""
    _index: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "_index", {key: tuple(values) for key, values in index.items()})

    # --- start line -------------------------------------------------------------------------
    @property
    def is_request(self) -> bool:
        return not self.start_line.upper().startswith("SIP/2.0")

    @property
    def method(self) -> str | None:
        """The request method (upper case), None for a response."""
        match = _REQUEST_LINE.match(self.start_line)
        return match.group(1).upper() if match else None

    @property
    def request_uri(self) -> str | None:
        match = _REQUEST_LINE.match(self.start_line)
        return match.group(2) if match else None

    @property
    def status(self) -> int | None:
        """The status code of a response, None for a request."""
        match = _STATUS_LINE.match(self.start_line)
        return int(match.group(1)) if match else None

    @property
    def reason_phrase(self) -> str:
        """The reason phrase of a response ("Session Progress"), "" for a request."""
        match = _STATUS_LINE.match(self.start_line)
        return (match.group(2) or "") if match else ""

    # --- headers ----------------------------------------------------------------------------
    def values(self, name: str) -> tuple[str, ...]:
        """Every value of a header (long or compact name, any case), list headers split."""
        return self._index.get(canonical_name(name).lower(), ())

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        found = self.values(name)
        return found[0] if found else None

    def has(self, name: str) -> bool:
        return bool(self.values(name))

    def tokens(self, name: str) -> frozenset[str]:
        """Option tags and methods of Require/Supported/Allow..., lower case."""
        return frozenset(value.strip().lower() for value in self.values(name) if value.strip())

    def shown(self, name: str) -> str | None:
        """``Name: v1, v2`` as an engineer would quote it in evidence, or None if absent."""
        found = self.values(name)
        return f"{canonical_name(name)}: {', '.join(found)}" if found else None

    @property
    def call_id(self) -> str | None:
        value = self.header("Call-ID")
        return value.strip() if value else None

    @cached_property
    def cseq(self) -> tuple[int, str] | None:
        """(number, METHOD) of the CSeq header."""
        value = self.header("CSeq")
        if not value:
            return None
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        return int(parts[0]), parts[1].upper()

    @property
    def cseq_method(self) -> str | None:
        return self.cseq[1] if self.cseq else None

    @property
    def rseq(self) -> int | None:
        value = (self.header("RSeq") or "").strip()
        return int(value) if value.isdigit() else None

    @property
    def rack(self) -> tuple[int, int, str] | None:
        """(rseq, cseq number, method) of a PRACK's RAck header."""
        parts = (self.header("RAck") or "").split()
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return None
        return int(parts[0]), int(parts[1]), parts[2].upper()

    @property
    def from_tag(self) -> str | None:
        return _tag_of(self.header("From"))

    @property
    def to_tag(self) -> str | None:
        return _tag_of(self.header("To"))

    @property
    def from_uri(self) -> str | None:
        return _uri_of(self.header("From"))

    @property
    def to_uri(self) -> str | None:
        return _uri_of(self.header("To"))

    @property
    def product(self) -> str | None:
        """User-Agent of a request or Server of a response (either when only one is there)."""
        first, second = ("User-Agent", "Server") if self.is_request else ("Server", "User-Agent")
        return self.header(first) or self.header(second)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        found: list[Reason] = []
        for value in self.values("Reason"):
            match = _REASON_CAUSE.match(value)
            if match:
                text = _REASON_TEXT.search(value)
                found.append(Reason(match.group(1).upper(), int(match.group(2)),
                                    text.group(1) if text else None, value.strip()))
        return tuple(found)

    @property
    def q850_cause(self) -> int | None:
        """The Q.850 cause signalled in a Reason header, if any."""
        return next((reason.cause for reason in self.reasons if reason.protocol == "Q.850"), None)

    # --- body -------------------------------------------------------------------------------
    @cached_property
    def sdp(self) -> Sdp | None:
        """The SDP body, when the body is SDP (by Content-Type, or by its shape when absent)."""
        content_type = (self.header("Content-Type") or "").lower()
        if not self.body.strip():
            return None
        if content_type and "application/sdp" not in content_type and "multipart" not in content_type:
            return None
        return parse_sdp(self.body)

    @property
    def summary(self) -> str:
        """The start line shortened for a diagram: ``INVITE sip:2001@cube`` or ``183 Session Progress``."""
        if self.is_request:
            return f"{self.method} {self.request_uri}"
        return self.start_line.split(" ", 1)[1].strip() if " " in self.start_line else self.start_line


def _tag_of(value: str | None) -> str | None:
    if not value:
        return None
    # The tag sits after the closing '>' when there is one; a ';tag=' inside <...> is a URI param.
    tail = value.rsplit(">", 1)[-1] if ">" in value else value
    match = _TAG.search(tail)
    return match.group(1) if match else None


def _uri_of(value: str | None) -> str | None:
    if not value:
        return None
    match = _URI_IN_BRACKETS.search(value)
    uri = match.group(1) if match else value.split(";", 1)[0]
    return uri.strip() or None


def parse_headers(lines: list[str], *, strict: bool = True) -> tuple[tuple[str, str], ...]:
    """Header lines (after the start line, before the blank line) -> (canonical name, value) pairs.

    Raises SipParseError on a line that is neither a header nor a continuation (``strict=False``:
    skips it).
    """
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            # RFC 3261 7.3.1: a line starting with whitespace continues the previous header.
            unfolded[-1] = f"{unfolded[-1].rstrip()} {line.strip()}"
        else:
            unfolded.append(line)
    pairs: list[tuple[str, str]] = []
    for line in unfolded:
        match = _HEADER_LINE.match(line)
        if not match:
            if not strict:
                continue
            raise SipParseError(f"not a header line: {line[:80]!r}")
        name = canonical_name(match.group(1))
        value = match.group(2).strip()
        if name.lower() in _LIST_HEADERS:
            pairs.extend((name, part) for part in split_list(value))
        else:
            pairs.append((name, value))
    return tuple(pairs)


def parse_message(text: str) -> SipMessage:
    """Parse one whole SIP message (start line, headers, blank line, body).

    Line endings may be CRLF or LF. The body is kept as given; Content-Length is checked by the
    importers, which know where a message ends in their input.
    """
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    head, _, body = normalised.lstrip("\n").partition("\n\n")
    lines = head.split("\n")
    start = lines[0].strip()
    if not is_start_line(start):
        raise SipParseError(f"not a SIP start line: {start[:80]!r}")
    message = SipMessage(start_line=start, headers=parse_headers(lines[1:]), body=body)
    # RFC 3261 8.1.1: every message has Call-ID and CSeq; without them it is cut short or not SIP.
    missing = [name for name in ("Call-ID", "CSeq") if not message.has(name)]
    if missing or message.cseq is None:
        what = ", ".join(missing) if missing else "a readable CSeq"
        raise SipParseError(f"{start[:60]!r} has no {what} (cut short?)")
    return message


def parse_wire(data: bytes) -> SipMessage | None:
    """One message as it came off the wire (or out of pjsip's log), leniently: None unless it opens
    with a SIP start line; lines that are no header are skipped; no header is required. CRLF or
    bare LF line ends.

    The one header parser for live traffic (keepalive replies, the engine's provisionals and
    capture, a call's Reason), as ``parse_message`` is for traces.
    """
    parts = _BLANK_LINE.split(data.decode("utf-8", "replace"), maxsplit=1)
    lines = _LINE_END.split(parts[0])
    start = lines[0].strip()
    if not is_start_line(start):
        return None
    body = parts[1] if len(parts) > 1 else ""
    return SipMessage(start_line=start, headers=parse_headers(lines[1:], strict=False), body=body)
