"""Which calls of a trace are the two legs of one B2BUA (pure).

A CUBE, a CUCM or an Asterisk in the middle of a call runs two dialogs with two Call-IDs: the
incoming leg ends at it, the outgoing leg starts from it. A debug taken on it (or a capture on a
link both legs cross) holds both, and a finding must say which leg it is about: "the CUBE hangs
up" means something else on each leg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from guestgate.sip.ladder import Ladder, Party

# Legs of one call start within this many seconds of each other (the B2BUA sends its INVITE on as
# soon as it routed the incoming one).
_SAME_CALL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a B2BUA: where the B2BUA is, which leg this is, and the other leg's call index."""

    b2bua: str
    direction: Literal["incoming", "outgoing"]
    other: int

    def describe(self) -> str:
        other = "outgoing" if self.direction == "incoming" else "incoming"
        return f"{self.direction} leg of the B2BUA {self.b2bua} (its {other} leg is call {self.other + 1})"

    def to_dict(self) -> dict[str, object]:
        return {"address": self.b2bua, "leg": self.direction, "otherCall": self.other}


def host(address: str | None) -> str | None:
    """``10.0.0.1:5060`` -> ``10.0.0.1``; ``[2001:db8::1]:5060`` -> ``2001:db8::1``."""
    if not address:
        return None
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _same_box(a: Party, b: Party) -> str | None:
    """The B2BUA's name when ``a`` (a callee) and ``b`` (a caller) are the same box."""
    if host(a.address) and host(a.address) == host(b.address):
        return host(a.address)
    if a.recorded_here and b.recorded_here and a.platform == b.platform:  # a debug taken on it
        return a.address or b.address or "where the trace was taken"
    return None


def _start(ladder: Ladder) -> float | None:
    return next((m.time for m in ladder.messages if m.time is not None), None)


def b2bua_legs(ladders: Sequence[Ladder]) -> dict[int, Leg]:
    """Pairs of calls of one source where one call's callee places the other call onward.

    Candidates are looked up by the caller's host (or, for a debug taken on the box, by its
    platform), so a trace of many calls costs one pass, not a comparison of every pair.
    """
    by_caller: dict[tuple[str, str], list[int]] = {}
    for j, ladder in enumerate(ladders):
        if caller_host := host(ladder.caller.address):
            by_caller.setdefault((ladder.source, caller_host), []).append(j)
        if ladder.caller.recorded_here:
            by_caller.setdefault((ladder.source, f"recorded:{ladder.caller.platform}"), []).append(j)
    legs: dict[int, Leg] = {}
    for i, incoming in enumerate(ladders):
        if i in legs or not incoming.source:
            continue
        keys = [(incoming.source, callee_host)] if (callee_host := host(incoming.callee.address)) else []
        if incoming.callee.recorded_here:
            keys.append((incoming.source, f"recorded:{incoming.callee.platform}"))
        for j in (j for key in keys for j in by_caller.get(key, ())):
            outgoing = ladders[j]
            if j == i or j in legs or (box := _same_box(incoming.callee, outgoing.caller)) is None:
                continue
            # Not a call back the other way: the outgoing leg goes on to a third party.
            if host(outgoing.callee.address) and host(outgoing.callee.address) == host(incoming.caller.address):
                continue
            start_in, start_out = _start(incoming), _start(outgoing)
            if start_in is not None and start_out is not None and abs(start_out - start_in) > _SAME_CALL_SECONDS:
                continue
            legs[i] = Leg(box, "incoming", j)
            legs[j] = Leg(box, "outgoing", i)
            break
    return legs
