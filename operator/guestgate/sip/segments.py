"""One call split across several files (pure): ring-buffer captures (``tcpdump -C``, ``tshark -b``,
``editcap -c``) and log rotation cut a call wherever the file filled up. The pieces share a
Call-ID and follow one another in time; joined, the call has its INVITE again and is judged as a
whole instead of as a partial trace. Two views of the same call (both ends' captures) overlap in
time and stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from guestgate.sip.ladder import Ladder, LadderMessage, MediaFacts, Role, other

# A piece more than this after the previous one is another call that reused the Call-ID.
_GAP_SECONDS = 3600.0


def _span(ladder: Ladder) -> tuple[float, float] | None:
    times = [m.time for m in ladder.messages if m.time is not None]
    return (min(times), max(times)) if times and len(times) == len(ladder.messages) else None


def _sender(item: LadderMessage, piece: Ladder, whole: Ladder) -> Role:
    """Who sent a message of a later piece, in the roles of the first piece."""
    if item.src and whole.caller.address and whole.callee.address:
        if item.src == whole.caller.address:
            return "caller"
        if item.src == whole.callee.address:
            return "callee"
    same = piece.caller.address == whole.caller.address or piece.callee.address == whole.callee.address
    return item.sender if same or not piece.caller.address else other(item.sender)


def _media(a: MediaFacts | None, b: MediaFacts | None) -> MediaFacts | None:
    if a is None or b is None or a.source != b.source:
        return a or b

    def add(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return MediaFacts(from_caller=add(a.from_caller, b.from_caller), from_callee=add(a.from_callee, b.from_callee),
                      early_from_callee=a.early_from_callee, source=a.source)


def _follows(later: tuple[float, float], earlier: tuple[float, float]) -> bool:
    return earlier[1] <= later[0] <= earlier[1] + _GAP_SECONDS


def _combine(earlier: Ladder, later: Ladder) -> Ladder:
    """The later piece's messages after the earlier piece's, in the earlier piece's roles."""
    start = len(earlier.messages)
    extra = tuple(replace(m, index=start + n, sender=_sender(m, later, earlier)) for n, m in enumerate(later.messages))
    return replace(earlier, messages=earlier.messages + extra, media=_media(earlier.media, later.media),
                   name=f"{earlier.name} + {later.name}", notes=tuple(dict.fromkeys(earlier.notes + later.notes)))


def join_segments(ladders: Sequence[Ladder]) -> tuple[list[Ladder], list[str]]:
    """Ladders with the pieces of calls split across files joined (in either order given), and a
    note for each join."""
    joined: list[Ladder] = []
    notes: list[str] = []
    for ladder in ladders:
        match = _piece_of(joined, ladder)
        if match is None:
            joined.append(ladder)
            continue
        target, ladder_is_later = match
        earlier, later = (joined[target], ladder) if ladder_is_later else (ladder, joined[target])
        joined[target] = _combine(earlier, later)
        notes.append(f"call {ladder.call_id}: {later.name} continues {earlier.name} (one call split across "
                     "files), joined")
    return joined, notes


def _piece_of(joined: list[Ladder], ladder: Ladder) -> tuple[int, bool] | None:
    """The call ``ladder`` is a piece of (its index), and whether the piece comes after it."""
    span = _span(ladder)
    if span is None:
        return None
    for i, whole in enumerate(joined):
        whole_span = _span(whole)
        if whole_span is None or whole.call_id != ladder.call_id or whole.source == ladder.source:
            continue
        if _follows(span, whole_span):
            return i, True
        if _follows(whole_span, span):
            return i, False
    return None
