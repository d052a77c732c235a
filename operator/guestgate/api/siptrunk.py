"""SipTrunk: the trunk from a GuestCluster to the enterprise call controller."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from guestgate.api.common import (
    CONDITIONS_DESCRIPTION,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    Condition,
    Model,
    schema_extra,
)

Platform = Literal["cucm", "cube", "asterisk", "freeswitch", "kamailio", "generic"]
# `disabled` is not offered: the SIP engine (pjsip) always answers a reliable 18x with PRACK when
# it has said Supported: 100rel, and a UAC that never PRACKs is exactly the field failure.
PrackPolicy = Literal["supported", "require"]
Codec = Literal["PCMU", "PCMA", "G722"]
DtmfMethod = Literal["rfc4733", "sip-info", "inband"]
Severity = Literal["error", "warning", "info"]

# A destination dialled by a health check: E.164, national digits, or a SIP user part.
DESTINATION_PATTERN = r"^(\+?[0-9*#]{1,32}|[A-Za-z0-9][A-Za-z0-9._~-]{0,63})$"


class Peer(Model):
    """A SIP peer: the call controller's address."""

    host: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$",
        description="Host name or IP address of the peer.",
    )
    port: int = Field(default=5060, ge=1, le=65535, description="SIP port of the peer.")
    transport: Literal["udp", "tcp", "tls"] = Field(default="udp", description="Transport to the peer.")


class TrunkAuth(Model):
    """Digest credentials the peer challenges for."""

    secret_name: str = Field(
        pattern=DNS_SUBDOMAIN,
        max_length=253,
        description="Secret in the trunk's namespace with the credentials.",
    )
    username_key: str = Field(
        default="username", min_length=1, description="Key of the user name in the Secret."
    )
    password_key: str = Field(
        default="password", min_length=1, description="Key of the password in the Secret."
    )
    realm: str | None = Field(
        default=None, max_length=253, description="Realm to answer; empty answers any realm."
    )


class EarlyMedia(Model):
    """What the caller hears before the call is answered."""

    local_ringback: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Play ringback locally: auto plays it when an 18x carries no SDP (no early media "
        "will come), always plays it on any 18x, never relies on the peer's early media.",
    )
    disable_on180: bool = Field(
        default=False,
        alias="disableOn180",
        description="Ignore SDP in a 180 Ringing and play local ringback instead (as CUCM's "
        "'Disable Early Media on 180').",
    )


class SessionTimer(Model):
    """RFC 4028 session timers."""

    enabled: bool = Field(default=True, description="Offer session timers (Supported: timer).")
    expires: int = Field(default=1800, ge=90, le=86400, description="Session-Expires in seconds.")
    min_se: int = Field(default=90, alias="minSE", ge=90, le=86400, description="Min-SE in seconds.")


class Keepalive(Model):
    """OPTIONS keepalive towards every peer."""

    interval_seconds: int = Field(
        default=30, ge=0, le=3600, description="Seconds between OPTIONS pings; 0 turns keepalive off."
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Unanswered pings in a row before the peer counts as down."
    )


class HealthCheckDestination(Model):
    """One number a health check calls."""

    name: str = Field(
        pattern=DNS_LABEL, max_length=63, description="Short name, e.g. local or international."
    )
    number: str = Field(pattern=DESTINATION_PATTERN, description="Number or SIP user part to call.")


SIPTRUNK_HEALTHCHECK_RULES = (
    ("self.timeoutSeconds > self.minMediaSeconds", "timeoutSeconds must be greater than minMediaSeconds"),
    (
        "self.intervalSeconds == 0 || self.intervalSeconds >= 60",
        "intervalSeconds must be 0 (on demand) or at least 60: each check places real calls",
    ),
)


class HealthCheck(Model):
    """Health-check calls over the trunk."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*SIPTRUNK_HEALTHCHECK_RULES))

    destinations: list[HealthCheckDestination] = Field(
        default_factory=list,
        max_length=10,
        description="Numbers to call. Use several: in the field, local calls worked while "
        "international calls failed.",
        json_schema_extra=schema_extra(
            ("self.all(d, self.exists_one(e, e.name == d.name))", "destination names must be unique")
        ),
    )
    interval_seconds: int = Field(
        default=0, ge=0, le=604800, description="Seconds between health checks; 0 means on demand only."
    )
    timeout_seconds: int = Field(
        default=30, ge=1, le=300, description="Seconds a health-check call may take."
    )
    min_media_seconds: int = Field(
        default=3, ge=0, le=60, description="Seconds of RTP required each way after answer."
    )


SIPTRUNK_RULES = (
    ("self.sessionTimer.minSE <= self.sessionTimer.expires", "sessionTimer.minSE must not exceed expires"),
)


class SipTrunkSpec(Model):
    """Desired state of a SipTrunk."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*SIPTRUNK_RULES))

    cluster_ref: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name of the GuestCluster.")
    peer: Peer = Field(description="The call controller.")
    fallback_peers: list[Peer] = Field(
        default_factory=list, max_length=8, description="Peers to try, in order, when the peer is down."
    )
    platform: Platform = Field(
        default="generic", description="What the peer runs; selects the wording of peer-side fixes."
    )
    auth: TrunkAuth | None = Field(default=None, description="Digest credentials, when the peer challenges.")
    prack: PrackPolicy = Field(
        default="supported",
        description="100rel policy (RFC 3262): supported offers 100rel and PRACKs every reliable 18x; "
        "require demands it from the peer.",
    )
    early_media: EarlyMedia = Field(default_factory=EarlyMedia, description="Early media and ringback.")
    codecs: list[Codec] = Field(
        default_factory=lambda: list[Codec](["PCMU", "PCMA", "G722"]),
        min_length=1,
        max_length=3,
        description="Audio codecs offered, in order of preference.",
        json_schema_extra=schema_extra(("self.all(c, self.exists_one(d, d == c))", "codecs must be unique")),
    )
    dtmf: DtmfMethod = Field(default="rfc4733", description="How DTMF digits are sent.")
    session_timer: SessionTimer = Field(default_factory=SessionTimer, description="RFC 4028 session timers.")
    keepalive: Keepalive = Field(default_factory=Keepalive, description="OPTIONS keepalive.")
    health_check: HealthCheck = Field(default_factory=HealthCheck, description="Health-check calls.")


class Cause(Model):
    """A Q.850 cause signalled in the call."""

    value: int = Field(ge=0, le=127, description="Q.850 cause value.")
    name: str = Field(default="", description="Q.850 cause name.")
    sip_status: int | None = Field(default=None, description="RFC 3398 SIP status for the cause.")
    misleading: str = Field(default="", description="Why the cause misleads here, when it does.")


class FindingStatus(Model):
    """A diagnosis finding, as stored in status."""

    code: str = Field(description="Finding code, e.g. PRACK_MISSING.")
    severity: Severity = Field(description="error, warning or info.")
    summary: str = Field(description="One sentence.")
    cause: Cause | None = Field(default=None, description="The Q.850 cause, where one was signalled.")
    fix_caller: str = Field(default="", description="What to change on GuestGate's side (SipTrunk fields).")
    fix_callee: str = Field(default="", description="What to change on the peer, worded for its platform.")
    evidence: list[str] = Field(default_factory=list, description="Messages and headers that prove it.")


class DestinationResult(Model):
    """The outcome of one health-check call."""

    name: str = Field(description="Destination name.")
    number: str = Field(description="Number called.")
    outcome: str = Field(description="Worst finding code, or OK.")
    error: str = Field(default="", description="Why the call could not be placed, when it could not.")
    findings: list[FindingStatus] = Field(default_factory=list, description="What the diagnosis found.")
    ladder: list[str] = Field(
        default_factory=list, description="The call's SIP messages, one line each (trimmed)."
    )


class PodHealth(Model):
    """The health checks placed by one signalling pod."""

    pod: str = Field(description="Pod name.")
    error: str = Field(default="", description="Why this pod could not run the check, when it could not.")
    destinations: list[DestinationResult] = Field(default_factory=list, description="One per destination.")


class HealthCheckResult(Model):
    """The last health check of a trunk, from every ready pod."""

    time: datetime = Field(description="When the check finished.")
    outcome: str = Field(description="Worst finding code over all pods and destinations, or OK.")
    trigger: str = Field(default="", description="interval, annotation or profile-change.")
    profile_hash: str = Field(default="", description="The trunk profile the check ran with.")
    request: str = Field(
        default="", description="The guestgate.io/health-check annotation value this check answered."
    )
    pods: list[PodHealth] = Field(default_factory=list, description="Per-pod results.")


class SipTrunkStatus(Model):
    """Observed state of a SipTrunk."""

    conditions: list[Condition] = Field(default_factory=list, description=CONDITIONS_DESCRIPTION)
    observed_generation: int = Field(default=0, ge=0, description="The generation last reconciled.")
    profile_hash: str = Field(default="", description="Hash of the rendered trunk profile.")
    last_health_check: HealthCheckResult | None = Field(default=None, description="The last health check.")
