"""Cut SIP messages out of text that may hold other lines around them (pure).

Every text format (raw SIP, SIPp -trace_msg, Cisco IOS debug, Asterisk and FreeSWITCH loggers)
is the same problem: start lines open messages, some *banner* lines carry facts about the next
message (time, sent or received, addresses) and end the previous one, and Content-Length says
where a body ends. Each format only supplies its banner reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from guestgate.sip.ladder import RawMessage
from guestgate.sip.message import is_start_line


class TruncatedInput(ValueError):
    """The input ends in the middle of a message."""


@dataclass(frozen=True, slots=True)
class Context:
    """What banners said about the messages that follow."""

    time: float | None = None
    local: bool | None = None
    src: str | None = None
    dst: str | None = None
    transport: str | None = None


@dataclass(frozen=True, slots=True)
class Banner:
    """A banner line's facts; None fields leave the context as it was."""

    time: float | None = None
    local: bool | None = None
    src: str | None = None
    dst: str | None = None
    transport: str | None = None
    resets_addresses: bool = False

    def apply(self, context: Context) -> Context:
        base = replace(context, src=None, dst=None) if self.resets_addresses else context
        return Context(
            time=self.time if self.time is not None else base.time,
            local=self.local if self.local is not None else base.local,
            src=self.src or base.src,
            dst=self.dst or base.dst,
            transport=self.transport or base.transport,
        )


BannerReader = Callable[[str], Banner | None]

MAX_MESSAGES = 20_000  # a sane trace holds far fewer; more means we are reading the wrong thing


def _wire_size(lines: list[str]) -> int:
    # Content-Length counts bytes on the wire, where every line ends with CRLF.
    return sum(len(line.encode("utf-8")) + 2 for line in lines)


def split_messages(text: str, banner: BannerReader, label: str) -> tuple[list[RawMessage], list[str]]:
    """Find every SIP message in ``text``; return them and notes on what was skipped.

    Raises TruncatedInput when the input ends before a message's headers end or before its
    Content-Length worth of body.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    messages: list[RawMessage] = []
    skipped: list[int] = []
    ended: list[str] = []  # notes on headers cut short by prose
    last = max((n for n, text_line in enumerate(lines) if text_line.strip()), default=0)  # cut there: truncated
    context = Context()
    i = 0
    while i < len(lines):
        line = lines[i]
        found = banner(line)
        if found is not None:
            context = found.apply(context)
            i += 1
            continue
        lead = _LEAD.match(line)
        prefix = lead.group(0) if lead else ""
        if not is_start_line(line[len(prefix):].strip()):
            if line.strip():
                skipped.append(i + 1)
            i += 1
            continue
        start = i
        # Loggers indent whole messages (FreeSWITCH by three spaces) and mail clients quote them
        # ("> "): the start line's prefix is taken off every line of the message, so folded
        # headers stay folded.
        def view(k: int, prefix: str = prefix) -> str:
            return _unprefix(lines[k], prefix)

        cut_by_prose = False
        i += 1
        while i < len(lines) and view(i).strip() and banner(lines[i]) is None \
                and not is_start_line(view(i).strip()):
            if i < last and not _HEADER_SHAPE.match(view(i)):
                # Prose glued to a pasted message ends its headers; say so, nothing is lost silently.
                ended.append(f"{label}: line {i + 1} is not a header line, so the headers of the message "
                             f"at line {start + 1} end before it ({lines[i].strip()[:40]!r})")
                cut_by_prose = True
                break
            i += 1
        headers = [view(k).rstrip("\r") for k in range(start, i)]
        headers[0] = headers[0].strip()
        ended_cleanly = i < len(lines) and not view(i).strip()
        length = _content_length(headers)
        body: list[str] = []
        size = 0  # running wire size of the body: recounting it per line would be quadratic
        if ended_cleanly:
            i += 1  # the blank line between headers and body
            while i < len(lines) and banner(lines[i]) is None and not is_start_line(view(i).strip()):
                if length is not None and size >= length:
                    break
                body.append(view(i))
                size += _wire_size(body[-1:])
                i += 1
        elif i >= len(lines) and (length is None or length > 0) and not cut_by_prose:
            raise TruncatedInput(f"{label}: the input ends inside the headers of the message at line "
                                 f"{start + 1} ({lines[start].strip()[:60]!r})")
        while body and not body[-1].strip():
            body.pop()
        if length is not None and _wire_size(body) + 2 < length and i >= len(lines):
            raise TruncatedInput(f"{label}: the message at line {start + 1} ({lines[start].strip()[:60]!r}) "
                                 f"announces Content-Length {length} but the input ends after "
                                 f"{_wire_size(body)} bytes of body")
        messages.append(RawMessage(text="\n".join(headers) + "\n\n" + "\n".join(body), time=context.time,
                                   local=context.local, src=context.src, dst=context.dst,
                                   transport=context.transport, where=f"{label} line {start + 1}"))
        if len(messages) > MAX_MESSAGES:
            raise TruncatedInput(f"{label}: more than {MAX_MESSAGES} SIP messages; split the trace "
                                 "per call before diagnosing it")
    return messages, [*ended, *_skipped_note(skipped, label)]


# What may stand before a pasted start line: blanks (a logger's indentation) and ">" (a mail quote).
_LEAD = re.compile(r"^[ \t>]*")


# A header line ("Name: value", token characters before the colon) or a folded continuation.
_HEADER_SHAPE = re.compile(r"^(?:[!-9;-~]+\s*:|[ \t]+\S)")


def _unprefix(line: str, prefix: str) -> str:
    """``line`` without the message's prefix: all of it when the line has it, else what it has of it
    (a quoted blank line is often just ">", an indented one may have fewer blanks)."""
    if not prefix or line.startswith(prefix):
        return line[len(prefix):]
    marker = prefix.rstrip(" \t")  # ">" or "> >" of a mail quote; "" for plain indentation
    if marker:
        if not line.startswith(marker):
            return line  # the quote ended: the line is what it is (prose, most likely)
        line, prefix = line[len(marker):], prefix[len(marker):]
    blanks = len(line) - len(line.lstrip(" \t"))
    return line[min(blanks, len(prefix)):]


def _content_length(headers: list[str]) -> int | None:
    for header in headers[1:]:
        name, _, value = header.partition(":")
        if name.strip().lower() in ("content-length", "l") and value.strip().isdigit():
            return int(value.strip())
    return None


def _skipped_note(numbers: list[int], label: str) -> list[str]:
    """``[3, 4, 5, 9]`` -> one note naming the ranges of lines that were not SIP."""
    if not numbers:
        return []
    ranges: list[str] = []
    first = last = numbers[0]
    for number in [*numbers[1:], -1]:
        if number == last + 1:
            last = number
            continue
        ranges.append(str(first) if first == last else f"{first}-{last}")
        first = last = number
    shown = ", ".join(ranges[:8]) + (", ..." if len(ranges) > 8 else "")
    if len(numbers) == 1:
        return [f"{label}: line {shown} is not SIP and was skipped"]
    return [f"{label}: {len(numbers)} lines are not SIP and were skipped (lines {shown})"]
