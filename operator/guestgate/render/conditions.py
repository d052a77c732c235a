"""Kubernetes-style conditions: set one, keeping lastTransitionTime unless the status flips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class ConditionChange:
    type: str
    status: Status
    reason: str
    message: str


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[dict[str, Any]], change: ConditionChange, generation: int, now: datetime
) -> list[dict[str, Any]]:
    """Return the conditions with `change` applied (input untouched).

    lastTransitionTime moves only when the status changes, so a reconcile that finds the same
    state rewrites nothing; observedGeneration always follows the spec that was looked at.
    """
    out: list[dict[str, Any]] = []
    found = False
    for condition in conditions:
        if condition.get("type") != change.type:
            out.append(dict(condition))
            continue
        found = True
        transition = condition.get("lastTransitionTime") or format_time(now)
        if condition.get("status") != change.status:
            transition = format_time(now)
        out.append(_condition(change, generation, transition))
    if not found:
        out.append(_condition(change, generation, format_time(now)))
    return out


def set_conditions(
    conditions: Sequence[dict[str, Any]], changes: Sequence[ConditionChange], generation: int, now: datetime
) -> list[dict[str, Any]]:
    out = list(conditions)
    for change in changes:
        out = set_condition(out, change, generation, now)
    return out


def _condition(change: ConditionChange, generation: int, transition: str) -> dict[str, Any]:
    return {
        "type": change.type,
        "status": change.status,
        "reason": change.reason,
        "message": change.message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    }


def get_condition(conditions: Sequence[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
