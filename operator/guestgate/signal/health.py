"""Health-check calls: a real call to each destination, recorded, measured, hung up, diagnosed.

One call goes: INVITE -> wait for answer or end (timeout) -> on answer, keep it up for the
profile's minimum media seconds while RTP flows (pjsua2 stream statistics) -> hang up -> let the
BYE/CANCEL transaction finish so the ladder shows its answer -> ladder -> diagnosis. Each step
is bounded in time, so a peer that never answers cannot hold a check forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from guestgate.config.schema import DestinationConfig, PeerConfig, TrunkProfile
from guestgate.engine.calls import CallHandle
from guestgate.engine.core import EngineError, SipEngine
from guestgate.signal.ringback import apply_ringback_policy
from guestgate.sip.capture import CallCapture
from guestgate.sip.diagnosis import Report, diagnose
from guestgate.sip.ladder import Ladder, ladder_from_capture

log = logging.getLogger("guestgate.signal.health")

HANGUP_WAIT_SECONDS = 5.0  # for pjsip to end a call we hung up (CANCEL needs a 1xx first)
SETTLE_SECONDS = 1.0  # for the answer to our BYE/CANCEL to land in the ladder
LADDER_LINES = 40
# Not a diagnosis code: the engine refused to place the call (no transport for the peer's
# transport, too many calls...); the destination's "error" says why.
NOT_PLACED = "NOT_PLACED"  # a trimmed ladder for status: the first lines say what happened


@dataclass(frozen=True, slots=True)
class CallSettings:
    timeout: float
    media_seconds: float


@dataclass(frozen=True, slots=True)
class DestinationOutcome:
    destination: DestinationConfig
    ladder: Ladder
    call_id: str
    error: str = ""  # the engine refused the call (bad number, no transport...)
    setup_seconds: float | None = None  # INVITE to answer, for answered calls


@dataclass(frozen=True)
class HealthResult:
    """One health check of a trunk: a call per destination and their diagnosis together."""

    trunk_id: str
    time: datetime
    trigger: str
    destinations: tuple[DestinationOutcome, ...]
    report: Report
    duration_seconds: float = 0.0
    profile_hash: str = ""  # of the TrunkProfile the check ran with: the operator can tell stale results

    @property
    def outcome(self) -> str:
        worst = self.report.outcome
        if worst == "OK" and any(o.error for o in self.destinations):
            return NOT_PLACED
        return worst

    def outcome_of(self, index: int) -> str:
        return NOT_PLACED if self.destinations[index].error else self.report.outcome_of(index)

    def to_dict(self, pod: str = "") -> dict[str, Any]:
        """The admin API's JSON. `podHealth` has exactly the shape of the SipTrunk status'
        PodHealth (api/siptrunk.py), for the operator to validate and copy; the rest is detail."""
        destinations = []
        for index, outcome in enumerate(self.destinations):
            findings = [f for f in self.report.findings if f.call == index]
            destinations.append(
                {
                    "name": outcome.destination.name,
                    "number": outcome.destination.number,
                    "outcome": self.outcome_of(index),
                    "error": outcome.error,
                    "findings": [f.to_status() for f in findings],
                    "ladder": ladder_lines(outcome.ladder)[:LADDER_LINES],
                }
            )
        details = [
            {"callId": o.call_id, "error": o.error, "setupSeconds": o.setup_seconds} for o in self.destinations
        ]
        return {
            "trunk": self.trunk_id,
            "profileHash": self.profile_hash,
            "pod": pod,
            "time": self.time.isoformat(),
            "trigger": self.trigger,
            "outcome": self.outcome,
            "durationSeconds": round(self.duration_seconds, 3),
            "podHealth": {"pod": pod, "destinations": destinations},
            "calls": details,
            "comparison": list(self.report.comparison),
            "findings": [f.to_dict() for f in self.report.findings],
        }


def ladder_lines(ladder: Ladder) -> list[str]:
    """One line per message: `+0.123 caller -> callee  183 Session Progress (SDP)`."""
    start = next((m.time for m in ladder.messages if m.time is not None), None)
    lines = []
    for item in ladder.messages:
        offset = f"+{item.time - start:.3f}" if item.time is not None and start is not None else "?"
        sdp = " (SDP)" if item.message.sdp is not None else ""
        lines.append(f"{offset} {item.sender} -> {item.receiver}  {item.message.summary}{sdp}")
    return lines


async def place_check_call(
    engine: SipEngine, profile: TrunkProfile, number: str, settings: CallSettings, peer: PeerConfig | None = None
) -> CallHandle:
    """One health-check call, ended and settled (handle.capture() has it all).

    Raises EngineError when the engine cannot place it."""
    handle = await engine.place_call(profile.id, number, peer)
    first = await handle.wait(("answered", "ended"), settings.timeout)
    if first is not None and first.kind == "answered":
        left = max(0.0, settings.timeout - (time.time() - handle.started))
        ended = await handle.wait(("ended",), min(settings.media_seconds, left))
        if ended is None:
            await engine.media_counters(handle)
    if not handle.ended:
        await engine.hangup(handle)
        await handle.wait(("ended",), HANGUP_WAIT_SECONDS)
    await _settle(handle)
    return handle


async def _settle(handle: CallHandle) -> None:
    """Wait (bounded) until the last transaction of the call has its final answer in the log."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        messages = handle.capture().messages
        if messages and _is_final_of_last_request(messages[-1].data):
            return
        await asyncio.sleep(0.05)


def _is_final_of_last_request(data: bytes) -> bool:
    first = data.split(b"\r\n", 1)[0]
    if first.startswith(b"SIP/2.0 "):
        code = first[8:11]
        return code.isdigit() and int(code) >= 200 and b" INVITE" not in _cseq(data)
    return first.startswith(b"ACK ")


def _cseq(data: bytes) -> bytes:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"cseq:"):
            return line
    return b""


async def run_health_check(
    engine: SipEngine,
    profile: TrunkProfile,
    settings: CallSettings | None = None,
    destinations: Sequence[DestinationConfig] | None = None,
    trigger: str = "",
    peer: PeerConfig | None = None,
    unplaceable: str = "",
) -> HealthResult:
    """Call every destination in turn (one at a time: each is a real call on the trunk).
    `unplaceable` says why no call can be placed now (a peer name that does not resolve): then
    none is, and each destination reports it (NOT_PLACED)."""
    started = time.monotonic()
    chosen = tuple(destinations if destinations is not None else profile.health_check.destinations)
    settings = settings or CallSettings(
        timeout=float(profile.health_check.timeout_seconds),
        media_seconds=float(profile.health_check.min_media_seconds),
    )
    outcomes: list[DestinationOutcome] = []
    for destination in chosen:
        error = ""
        setup: float | None = None
        try:
            if unplaceable:
                raise EngineError(unplaceable)
            handle = await place_check_call(engine, profile, destination.number, settings, peer)
            capture = handle.capture()
            setup = handle.answered_at - handle.started if handle.answered_at else None
        except (EngineError, ValueError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
            capture = CallCapture()
            log.warning(
                "health-check call failed trunk=%s destination=%s error=%s", profile.id, destination.name, error
            )
        ladder = ladder_from_capture(capture, name=f"{destination.name} ({destination.number})")
        outcomes.append(DestinationOutcome(destination, ladder, ladder.call_id or "", error, setup))
    report = diagnose([o.ladder for o in outcomes], callee_platform=_callee_platform(profile))
    report = apply_ringback_policy(report, profile.early_media)
    result = HealthResult(
        trunk_id=profile.id,
        time=datetime.now(UTC),
        trigger=trigger,
        destinations=tuple(outcomes),
        report=report,
        duration_seconds=time.monotonic() - started,
        profile_hash=profile.hash(),
    )
    log.info("health check done trunk=%s outcome=%s seconds=%.1f", profile.id, result.outcome, result.duration_seconds)
    return result


def _callee_platform(profile: TrunkProfile) -> str | None:
    # "generic" means "not told": let the diagnosis detect it from Server / User-Agent.
    return None if profile.platform == "generic" else profile.platform
