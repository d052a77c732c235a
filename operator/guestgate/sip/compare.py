"""Several ladders of the same trunk: what differs between the calls that work and those that
fail (pure). Engineers find faults by that difference ("local calls work, international calls
drop"), so the report says it in those words and points at the route that differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guestgate.sip.findings import Finding
from guestgate.sip.ladder import Ladder
from guestgate.sip.platforms import LABELS


@dataclass(frozen=True, slots=True)
class _Traits:
    """What one call looks like, in the terms a difference is told in."""

    number: str
    kind: str  # international, national, internal
    route: str  # the callee's address and platform, and any Record-Route
    reliable_18x: bool
    progress_183: bool


def _traits(ladder: Ladder) -> _Traits | None:
    invite = next((m for m in ladder.messages if m.message.method == "INVITE"), None)
    if invite is None:
        return None
    uri = invite.message.request_uri or ""
    number = uri.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
    digits = number.lstrip("+")
    kind = "international" if number.startswith(("+", "00")) else \
        "national" if digits.startswith("0") or len(digits) >= 10 else "internal"
    host = uri.split("@", 1)[-1].split(";", 1)[0] if "@" in uri else uri
    record_route = [rr for m in ladder.messages for rr in m.message.values("Record-Route")][:1]
    platform = LABELS.get(ladder.callee.platform, ladder.callee.platform)
    route = f"{ladder.callee.address or host} ({platform})" + (f" via {record_route[0]}" if record_route else "")
    statuses = [m.message.status for m in ladder.messages if m.message.status]
    reliable = any("100rel" in m.message.tokens("Require") for m in ladder.messages if m.message.status)
    return _Traits(number, kind, route, reliable, 183 in statuses)


# attribute -> wording (with {} for the values), or for a yes/no trait (yes, no)
_WORDING: dict[str, tuple[str, str]] = {
    "kind": ("dial {} numbers", ""),
    "route": ("are answered by {}", ""),
    "reliable_18x": ("got a reliable 18x (Require: 100rel)", "got no reliable 18x"),
    "progress_183": ("got 183 Session Progress", "got no 183 Session Progress"),
}


def _outcome(findings: Sequence[Finding], call: int) -> str:
    worst = next((f for f in findings if f.call == call and f.severity != "info"), None)
    return worst.code if worst else "OK"


def compare(ladders: Sequence[Ladder], findings: Sequence[Finding]) -> list[str]:
    """Lines saying how the failing calls differ from the working ones; empty for one call."""
    traits = {i: t for i, ladder in enumerate(ladders) if (t := _traits(ladder)) is not None}
    if len(traits) < 2:
        return []
    outcomes = {i: _outcome(findings, i) for i in traits}
    working = [i for i in traits if outcomes[i] == "OK"]
    failing = [i for i in traits if outcomes[i] != "OK"]
    lines = [f"call {i + 1} ({ladders[i].name}) to {traits[i].number}: {outcomes[i]}" for i in traits]
    if not working or not failing:
        same = "all calls work" if not failing else "no call works"
        return [*lines, f"{same}: nothing to compare between working and failing calls"]

    for attribute, (yes, no) in _WORDING.items():
        bad = {getattr(traits[i], attribute) for i in failing}
        good = {getattr(traits[i], attribute) for i in working}
        if not bad.isdisjoint(good):
            continue  # not a difference: some working call shares it
        if isinstance(next(iter(bad)), bool):
            lines.append(f"differs: the failing calls {yes if True in bad else no}; "
                         f"the working calls {yes if True in good else no}")
        else:
            lines.append(f"differs: the failing calls {yes.format(', '.join(sorted(map(str, bad))))}; "
                         f"the working calls {yes.format(', '.join(sorted(map(str, good))))}")
    codes = sorted({outcomes[i] for i in failing})
    routes = sorted({traits[i].route for i in failing})
    kinds = sorted({traits[i].kind for i in failing})
    lines.append(f"look at the route of the failing calls ({', '.join(kinds)} numbers, {', '.join(routes)}): "
                 f"they end with {', '.join(codes)} while the others work")
    return lines
