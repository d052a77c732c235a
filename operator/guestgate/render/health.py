"""Health-check results from the pods' admin API -> the SipTrunk's status. Pure.

Each ready pod is a trunk endpoint, so each runs the check; the status keeps every pod's
outcome and names the worst one in the Healthy condition, whose message is what an engineer
reads in `kubectl get st -o wide`: what failed and what to change on each side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from guestgate.api.siptrunk import PodHealth
from guestgate.render.conditions import ConditionChange, format_time

JSON = dict[str, Any]
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
MAX_LADDER_LINES = 30  # per destination: status objects must stay small (etcd's 1.5 MiB limit)
MAX_MESSAGE = 900
NOT_PLACED = "NOT_PLACED"  # the pods' word for a call the SIP engine could not place


@dataclass(frozen=True)
class PodCheck:
    """One pod's answer to "run a health check now": the admin API's JSON, or why there is none."""

    pod: str
    result: JSON | None = None
    error: str = ""


def pod_health(check: PodCheck) -> JSON:
    """The pod's `podHealth` (already in the status' PodHealth shape), checked against the model."""
    if check.result is None:
        return {"pod": check.pod, "error": check.error, "destinations": []}
    try:
        parsed = PodHealth.model_validate({**(check.result.get("podHealth") or {}), "pod": check.pod})
    except ValidationError as error:
        return {"pod": check.pod, "error": f"unexpected health-check answer: {error.error_count()} problem(s)",
                "destinations": []}
    for destination in parsed.destinations:
        del destination.ladder[MAX_LADDER_LINES:]
    out: JSON = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    return out


def _all_findings(pods: Sequence[JSON]) -> list[tuple[JSON, JSON, JSON]]:
    """(pod, destination, finding), worst first: errors before warnings, in pod and call order."""
    found = [(pod, dest, finding) for pod in pods for dest in pod["destinations"] for finding in dest["findings"]]
    return sorted(found, key=lambda item: SEVERITY_RANK.get(item[2]["severity"], 3))


def health_check_result(
    checks: Sequence[PodCheck], now: datetime, trigger: str, profile_hash: str, request: str
) -> JSON:
    pods = [pod_health(check) for check in checks]
    return {
        "time": format_time(now),
        "outcome": worst_outcome(pods),
        "trigger": trigger,
        "profileHash": profile_hash,
        "request": request,
        "pods": pods,
    }


def _not_placed(pods: Sequence[JSON]) -> list[tuple[JSON, JSON]]:
    """Calls the pod's SIP engine could not even place (the host name does not resolve, no
    transport for the peer's...): nothing reached the wire, so there is no ladder to diagnose."""
    return [(pod, d) for pod in pods for d in pod["destinations"] if d.get("error") or d.get("outcome") == NOT_PLACED]


def worst_outcome(pods: Sequence[JSON]) -> str:
    if not pods or all(pod["error"] for pod in pods):
        return "CHECK_FAILED"
    worst = _all_findings(pods)
    if worst and worst[0][2]["severity"] == "error":
        return str(worst[0][2]["code"])
    if _not_placed(pods):
        return NOT_PLACED
    return "OK"


def healthy_condition(result: Mapping[str, Any]) -> ConditionChange:
    pods: list[JSON] = list(result.get("pods") or [])
    outcome = str(result.get("outcome", ""))
    if outcome == "CHECK_FAILED":
        reasons = "; ".join(f"{p['pod']}: {p['error']}" for p in pods if p["error"]) or "no ready signalling pod"
        return ConditionChange("Healthy", "Unknown", "CheckFailed", _clip(f"the health check could not run: {reasons}"))
    worst = _all_findings(pods)
    if outcome == NOT_PLACED:
        pod, destination = _not_placed(pods)[0]
        return ConditionChange("Healthy", "False", NOT_PLACED, _clip(
            f"the call to {destination['name']} ({destination['number']}) could not be placed from pod "
            f"{pod['pod']}: {destination.get('error') or 'the SIP engine refused it'}. Fix on GuestGate: check that "
            "spec.peer.host resolves from the pods and that the GuestCluster listens on the peer's transport."))
    if outcome == "OK":
        calls = sum(len(p["destinations"]) for p in pods)
        notes = [f for _, _, f in worst if f["severity"] != "info"]
        extra = f"; {len(notes)} warning(s), first: {notes[0]['summary']}" if notes else ""
        return ConditionChange("Healthy", "True", "OK", _clip(f"{calls} health-check call(s) succeeded{extra}"))
    pod, _destination_of_worst, finding = worst[0]
    failing = sorted({f"{d['name']} ({d['number']})" for p in pods for d in p["destinations"]
                      if any(f["severity"] == "error" for f in d["findings"])})
    message = (
        f"{finding['summary']} Calls failing: {', '.join(failing)} (e.g. from pod {pod['pod']}). "
        f"Fix on GuestGate: {finding['fixCaller'] or 'nothing to change'}. "
        f"Fix on the peer: {finding['fixCallee'] or 'see the findings in status.lastHealthCheck'}."
    )
    return ConditionChange("Healthy", "False", str(finding["code"]), _clip(message))


def reachable_condition(states: Mapping[str, JSON | None], keepalive_seconds: int) -> ConditionChange:
    """Keepalive (OPTIONS) states of one trunk as each pod sees them (None: pod did not answer)."""
    if keepalive_seconds == 0:
        return ConditionChange("Reachable", "Unknown", "KeepaliveDisabled",
                               "spec.keepalive.intervalSeconds is 0: no OPTIONS keepalive")
    known = {pod: state for pod, state in states.items() if state is not None and state.get("up") is not None}
    if not known:
        return ConditionChange("Reachable", "Unknown", "NotChecked", "no keepalive result from any ready pod yet")
    up = sorted(pod for pod, state in known.items() if state["up"])
    if up:
        active = {str(known[pod].get("activePeer", "")) for pod in up}
        return ConditionChange("Reachable", "True", "PeerAnswers",
                               f"the peer answers OPTIONS on {len(up)}/{len(known)} pod(s); "
                               f"active peer {', '.join(sorted(active))}")
    peers = sorted({str(p.get("peer")) for state in known.values() for p in state.get("peers") or []})
    return ConditionChange(
        "Reachable", "False", "PeerUnreachable",
        _clip(f"no answer to OPTIONS from {', '.join(peers)} on {len(known)} pod(s): check the peer's address, "
              "port and transport, firewalls, and that the peer accepts SIP from the pods' addresses"),
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
