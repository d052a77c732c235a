"""Pods' health-check answers -> SipTrunk conditions; when a check is due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guestgate.render.health import PodCheck, health_check_result, healthy_condition, reachable_condition

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def finding(code: str, severity: str = "error", caller: str = "set spec.prack", callee: str = "CUBE rel1xx") -> dict[
        str, Any]:
    return {"code": code, "severity": severity, "summary": f"{code} happened.", "fixCaller": caller,
            "fixCallee": callee, "evidence": ["#3 SIP/2.0 183"]}


def answer(*destinations: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"podHealth": {"pod": "ignored", "destinations": [
        {"name": name, "number": "1", "outcome": findings[0]["code"] if findings else "OK", "findings": findings,
         "ladder": [f"line {i}" for i in range(50)]} for name, findings in destinations]}}


@pytest.mark.parametrize(
    ("case", "checks", "outcome", "status", "reason", "in_message"),
    [
        ("all fine", [PodCheck("p0", answer(("local", [finding("OK", "info")])))], "OK", "True", "OK",
         "1 health-check call(s) succeeded"),
        ("international drops", [PodCheck("p0", answer(("local", []), ("international", [finding("PRACK_MISSING")])))],
         "PRACK_MISSING", "False", "PRACK_MISSING", "Calls failing: international (1)"),
        ("errors beat warnings", [PodCheck("p0", answer(("a", [finding("NO_RINGBACK", "warning")]),
                                                        ("b", [finding("BUSY")])))], "BUSY", "False", "BUSY",
         "Fix on the peer: CUBE rel1xx"),
        ("a warning alone is healthy", [PodCheck("p0", answer(("a", [finding("NO_RINGBACK", "warning")])))], "OK",
         "True", "OK", "1 warning(s)"),
        ("no pod could check", [PodCheck("p0", error="admin API unreachable")], "CHECK_FAILED", "Unknown",
         "CheckFailed", "p0: admin API unreachable"),
        ("no pods at all", [], "CHECK_FAILED", "Unknown", "CheckFailed", "no ready signalling pod"),
        ("a call that could not be placed is not healthy",
         [PodCheck("p0", {"podHealth": {"destinations": [
             {"name": "intl", "number": "1", "outcome": "NOT_PLACED", "error": "gethostbyname() failed",
              "findings": [], "ladder": []}]}})],
         "NOT_PLACED", "False", "NOT_PLACED", "could not be placed from pod p0: gethostbyname() failed"),
        ("one pod of two fails the same way", [PodCheck("p0", answer(("x", [finding("NO_MEDIA")]))),
                                               PodCheck("p1", error="timeout")], "NO_MEDIA", "False", "NO_MEDIA",
         "from pod p0"),
    ],
)
def test_health_result_and_condition(case: str, checks: list[PodCheck], outcome: str, status: str, reason: str,
                                     in_message: str) -> None:
    result = health_check_result(checks, NOW, "interval", "abc", "")
    assert result["outcome"] == outcome, case
    condition = healthy_condition(result)
    assert (condition.status, condition.reason) == (status, reason), case
    assert in_message in condition.message, (case, condition.message)
    for pod in result["pods"]:
        for destination in pod["destinations"]:
            assert len(destination["ladder"]) <= 30


def test_pod_name_comes_from_the_operator_and_bad_answers_are_errors() -> None:
    result = health_check_result([PodCheck("real-pod", answer(("a", []))), PodCheck("p1", {"podHealth": {
        "destinations": [{"nope": 1}]}})], NOW, "annotation", "h", "r1")
    assert [p["pod"] for p in result["pods"]] == ["real-pod", "p1"]
    assert "unexpected health-check answer" in result["pods"][1]["error"]
    assert (result["trigger"], result["profileHash"], result["request"]) == ("annotation", "h", "r1")


@pytest.mark.parametrize(
    ("case", "states", "keepalive", "status", "reason"),
    [
        ("keepalive off", {"p0": {"up": True}}, 0, "Unknown", "KeepaliveDisabled"),
        ("no answers", {"p0": None}, 30, "Unknown", "NotChecked"),
        ("not yet known", {"p0": {"up": None}}, 30, "Unknown", "NotChecked"),
        ("up on one pod is reachable", {"p0": {"up": False, "peers": []}, "p1": {"up": True, "activePeer": "a:5060"}},
         30, "True", "PeerAnswers"),
        ("down everywhere", {"p0": {"up": False, "peers": [{"peer": "a:5060"}]}}, 30, "False", "PeerUnreachable"),
    ],
)
def test_reachable(case: str, states: dict[str, Any], keepalive: int, status: str, reason: str) -> None:
    condition = reachable_condition(states, keepalive)
    assert (condition.status, condition.reason) == (status, reason), case
