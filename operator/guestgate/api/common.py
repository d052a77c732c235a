"""Pieces shared by the three resources: the base model, conditions, references, patterns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "guestgate.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# RFC 1123 label: what Kubernetes accepts as the name of a Service, Secret or our resources.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# RFC 1123 subdomain: names of Secrets and GuestClusters may contain dots.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HTTP_URL = r"^https?://[^\s/$.?#][^\s]*$"
ORIGIN = r"^https?://[^\s/?#]+$"


def schema_extra(*rules: tuple[str, str], **extra: Any) -> dict[str, Any]:
    """json_schema_extra for CEL rules: (rule, message) pairs become x-kubernetes-validations."""
    out: dict[str, Any] = dict(extra)
    if rules:
        out["x-kubernetes-validations"] = [{"rule": rule, "message": message} for rule, message in rules]
    return out


VideoPolicy = Literal["sendrecv", "recvonly", "inactive"]  # as Jabber Guest's videoPolicy


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=True, alias_generator=to_camel
    )


class Condition(Model):
    """The standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Ready.", max_length=316)
    status: Literal["True", "False", "Unknown"] = Field(description="Status of the condition.")
    reason: str = Field(
        description="A programmatic identifier in CamelCase or UPPER_SNAKE indicating the reason "
        "for the last transition.",
        max_length=1024,
    )
    message: str = Field(
        default="", description="A human readable message about the transition.", max_length=32768
    )
    observed_generation: int = Field(
        default=0,
        ge=0,
        description="The .metadata.generation that the condition was set based upon.",
    )
    last_transition_time: datetime = Field(
        description="Last time the condition transitioned from one status to another.",
    )


CONDITIONS_DESCRIPTION = "The latest observations of the resource's state, the Kubernetes way."
