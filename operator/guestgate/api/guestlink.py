"""GuestLink: one click-to-call link published under a stable URL."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from guestgate.api.branding import Branding
from guestgate.api.common import (
    CONDITIONS_DESCRIPTION,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    ORIGIN,
    Condition,
    Model,
    VideoPolicy,
    schema_extra,
)
from guestgate.api.siptrunk import DESTINATION_PATTERN

Phase = Literal["Active", "Scheduled", "Expired", "Disabled", "Invalid"]


MEDIA_RULES = (
    ("self.audio", "media.audio must be true: every call carries audio"),
    ("!self.video", "media.video is not used: set media.videoPolicy (sendrecv, recvonly or inactive)"),
)


class Media(Model):
    """What the browser sends and receives."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*MEDIA_RULES))

    audio: bool = Field(default=True, description="Audio (always on in this version).")
    video: bool = Field(
        default=False, description="Not supported: use videoPolicy."
    )
    video_policy: VideoPolicy | None = Field(
        default=None,
        description="Video of a call (relayed by the pod's rtpengine, GuestCluster media), as Jabber "
        "Guest's videoPolicy: sendrecv, recvonly (the visitor only watches) or inactive (audio only). "
        "Empty: the GuestCluster's media.videoPolicy.",
    )


class Access(Model):
    """Who may use the link, and how much."""

    require_token: bool = Field(
        default=False,
        description="Only URLs carrying a valid signed token (HMAC with the cluster's signing key, "
        "with expiry) may call.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Origins allowed to open the call; empty uses the GuestCluster's web.allowedOrigins.",
        json_schema_extra={"items": {"type": "string", "pattern": ORIGIN, "maxLength": 253}},
    )
    max_concurrent_calls: int = Field(default=10, ge=1, le=10000, description="Calls at once on this link.")
    calls_per_minute_per_ip: int = Field(
        default=6, alias="callsPerMinutePerIP", ge=1, le=600, description="New calls per minute from one IP."
    )


GUESTLINK_RULES = (
    (
        "!has(self.validFrom) || !has(self.validUntil) || self.validUntil > self.validFrom",
        "validUntil must be after validFrom",
    ),
)


class GuestLinkSpec(Model):
    """Desired state of a GuestLink."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*GUESTLINK_RULES))

    cluster_ref: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name of the GuestCluster.")
    trunk_ref: str = Field(
        pattern=DNS_SUBDOMAIN, max_length=253, description="Name of the SipTrunk calls use."
    )
    destination: str = Field(
        pattern=DESTINATION_PATTERN,
        description="What is dialled: an E.164 number (+4420...), digits, or a SIP user part. The "
        "browser never chooses it.",
    )
    display_name: str = Field(min_length=1, max_length=128, description="Name shown on the link page.")
    caller_name: str | None = Field(
        default=None,
        max_length=64,
        pattern=r'^[^"\\<>\r\n]*$',
        description="Caller name shown on the called phone.",
    )
    auto_call_after_seconds: int | None = Field(
        default=None,
        ge=0,
        le=60,
        description="Call automatically this many seconds (0-60) after the page is ready, with a visible "
        "countdown the visitor can cancel (Jabber Guest's autoCallAfterSecs); unset: the visitor clicks Call.",
    )
    language: Literal["en", "de", "fr", "es"] | None = Field(
        default=None,
        description="Language of the page (en, de, fr, es); unset: the visitor's browser language "
        "(Accept-Language), English when none of them is available.",
    )
    branding: Branding | None = Field(
        default=None, description="The link's own look; each field set here overrides the GuestCluster's."
    )
    enabled: bool = Field(default=True, description="A disabled link is unpublished and answers 403.")
    valid_from: datetime | None = Field(default=None, description="Start of validity (RFC 3339).")
    valid_until: datetime | None = Field(default=None, description="End of validity (RFC 3339).")
    media: Media = Field(default_factory=Media, description="Media of the call.")
    access: Access = Field(default_factory=Access, description="Access control and rate limits.")
    slug: str | None = Field(
        default=None, pattern=DNS_LABEL, max_length=63, description="Short URL name: <publicURL>/call/<slug>."
    )


class GuestLinkStatus(Model):
    """Observed state of a GuestLink."""

    conditions: list[Condition] = Field(default_factory=list, description=CONDITIONS_DESCRIPTION)
    observed_generation: int = Field(default=0, ge=0, description="The generation last reconciled.")
    url: str = Field(default="", description="The link's URL.")
    phase: Phase | None = Field(default=None, description="Active, Scheduled, Expired, Disabled or Invalid.")
