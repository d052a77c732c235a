"""The finding: what the diagnosis says about a call, as plain data (pure).

A finding is meant to travel: printed by ``guestgate diagnose``, written as JSON, and put into a
Kubernetes status by the operator. ``Finding.to_dict()`` gives exactly that shape, with stable
keys (see docs/diagnose-json.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

# The catalogue (issue 4), plus CALL_REJECTED for final responses no other code explains and
# INCONCLUSIVE for a partial trace (no INVITE): never OK, with what the evidence suggests.
CODES: tuple[str, ...] = (
    "OK", "PEER_UNREACHABLE", "PRACK_MISSING", "PRACK_MISSING_DOWNSTREAM", "PRACK_UNANSWERED",
    "BAD_EXTENSION_100REL", "NO_RINGBACK", "EARLY_MEDIA_ON_180", "CODEC_MISMATCH", "AUTH_FAILED",
    "DESTINATION_NOT_FOUND", "BUSY", "NO_ANSWER", "PEER_UNAVAILABLE", "SESSION_INTERVAL_TOO_SMALL",
    "NO_MEDIA", "DROPPED_AFTER_ANSWER", "CALL_REJECTED", "INCONCLUSIVE",
)
INCONCLUSIVE: Final = "INCONCLUSIVE"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One message that proves the finding: its index in the ladder and the telling headers."""

    message: int
    line: str  # the start line, shortened
    headers: tuple[str, ...] = ()  # "Require: 100rel", "RSeq: 1", "Reason: Q.850;cause=65"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "headers": list(self.headers),
                "note": self.note}


@dataclass(frozen=True, slots=True)
class CauseInfo:
    """A Q.850 cause signalled in the ladder, and whether to believe its name."""

    q850: int
    name: str
    sip: int | None  # RFC 3398 mapping of the cause to a SIP response
    message: int  # where it was signalled
    header: str  # the Reason header as sent
    misleading: str | None = None  # why the name is wrong here, when it is

    def to_dict(self) -> dict[str, Any]:
        return {"q850": self.q850, "name": self.name, "sip": self.sip, "message": self.message,
                "header": self.header, "misleading": self.misleading}


@dataclass(frozen=True, slots=True)
class Fix:
    caller: str
    callee: str
    caller_platform: str = "generic"
    callee_platform: str = "generic"

    def to_dict(self) -> dict[str, Any]:
        return {"caller": self.caller, "callee": self.callee,
                "callerPlatform": self.caller_platform, "calleePlatform": self.callee_platform}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    summary: str
    evidence: tuple[Evidence, ...] = ()
    cause: CauseInfo | None = None
    fix: Fix = field(default_factory=lambda: Fix(caller="", callee=""))
    call: int = 0  # which ladder of the report (0-based)
    # The call it is about, named so that a finding read alone says which call of a file it means.
    call_id: str | None = None
    caller_address: str | None = None
    callee_address: str | None = None
    leg: str | None = None  # "incoming leg of the B2BUA 10.10.1.1 (its outgoing leg is call 2)"
    # INCONCLUSIVE only: the code the evidence points at, and the captures that would settle it.
    suspected: str | None = None
    next_capture: tuple[str, ...] = ()

    @property
    def evidence_messages(self) -> frozenset[int]:
        return frozenset(e.message for e in self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, ready for a Kubernetes status condition or a JSON report."""
        return {
            "code": self.code,
            "severity": self.severity,
            "summary": self.summary,
            "call": self.call,
            "callId": self.call_id,
            "callerAddress": self.caller_address,
            "calleeAddress": self.callee_address,
            "leg": self.leg,
            "evidence": [e.to_dict() for e in self.evidence],
            "cause": self.cause.to_dict() if self.cause else None,
            "fix": self.fix.to_dict(),
            "suspected": self.suspected,
            "nextCapture": list(self.next_capture),
        }

    def to_status(self) -> dict[str, Any]:
        """The shape of the SipTrunk status' FindingStatus (camelCase keys, evidence as lines)."""
        cause = None if self.cause is None else {
            "value": self.cause.q850, "name": self.cause.name, "sipStatus": self.cause.sip,
            "misleading": self.cause.misleading or ""}
        evidence = [f"#{e.message} {e.line}" + (f": {'; '.join(e.headers)}" if e.headers else "")
                    for e in self.evidence]
        return {"code": self.code, "severity": self.severity, "summary": self.summary, "cause": cause,
                "fixCaller": self.fix.caller, "fixCallee": self.fix.callee, "evidence": evidence}
