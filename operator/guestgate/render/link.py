"""GuestLink -> its URL, its phase at a given time, and its entry in the published config."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guestgate.api.guestlink import Phase
from guestgate.api.objects import GuestLink
from guestgate.config.schema import AccessConfig, LinkConfig, WithdrawnLink
from guestgate.render.branding import render_branding
from guestgate.render.profile import trunk_id


def link_path(link: GuestLink) -> str:
    if link.spec.slug:
        return f"/call/{link.spec.slug}"
    return f"/call/{link.metadata.namespace}/{link.metadata.name}"


def link_url(public_url: str, path: str) -> str:
    return public_url.rstrip("/") + path


def time_phase(link: GuestLink, now: datetime) -> Phase:
    """The phase from the enabled flag and the validity window alone (no references checked)."""
    spec = link.spec
    if not spec.enabled:
        return "Disabled"
    if spec.valid_from is not None and now < spec.valid_from:
        return "Scheduled"
    if spec.valid_until is not None and now >= spec.valid_until:
        return "Expired"
    return "Active"


def next_phase_change(link: GuestLink, now: datetime) -> datetime | None:
    """When time alone will change the phase next (None: never, without an edit)."""
    spec = link.spec
    if not spec.enabled:
        return None
    upcoming = [t for t in (spec.valid_from, spec.valid_until) if t is not None and t > now]
    return min(upcoming) if upcoming else None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """What a render and the slug checks read of a GuestLink that parses, without its parsed model:
    the operator's cache keeps one of these per link (10,000 parsed GuestLinks were ~34 MiB) and
    parses a link again only to render or reconcile that one link (`model()`).

    `spec` is what the RenderMemo compares to reuse a link's rendered entry: the cache's
    fingerprint of the raw spec, else the raw spec mapping, or the parsed spec of a parsed link."""

    key: str  # namespace/name
    namespace: str
    name: str
    cluster_ref: str
    trunk_ref: str
    enabled: bool
    slug: str | None
    created: str  # creationTimestamp; the earlier claim to a slug wins
    generation: int
    spec: Any
    source: GuestLink | Mapping[str, Any] | bytes  # the parsed link, or the raw body (or its JSON) it parses from

    @classmethod
    def of(cls, link: GuestLink, source: Mapping[str, Any] | bytes | None = None, spec: Any = None) -> LinkRecord:
        """The record of a parsed link; with `source` (the raw body it was parsed from, or its
        JSON) the record keeps that instead of the model, and `spec` (default: the raw spec) for
        the RenderMemo to compare."""
        meta = link.metadata
        if spec is None:
            spec = source.get("spec") if isinstance(source, Mapping) else link.spec
        # Interned: a namespace, a cluster, a trunk, a creation second are shared by many links,
        # and a slug is often the link's name (10,000 records, one copy of each).
        slug = sys.intern(link.spec.slug) if link.spec.slug else None
        return cls(
            key=link.key,
            namespace=sys.intern(meta.namespace),
            name=sys.intern(meta.name),
            cluster_ref=sys.intern(link.spec.cluster_ref),
            trunk_ref=sys.intern(link.spec.trunk_ref),
            enabled=link.spec.enabled,
            slug=slug,
            created=sys.intern(meta.creation_timestamp),
            generation=meta.generation,
            spec=spec,
            source=source if source is not None else link,
        )

    def model(self) -> GuestLink:
        if isinstance(self.source, GuestLink):
            return self.source
        if isinstance(self.source, bytes):
            return GuestLink.model_validate_json(self.source)
        return GuestLink.model_validate(self.source)


def as_record(link: GuestLink | LinkRecord) -> LinkRecord:
    return link if isinstance(link, LinkRecord) else LinkRecord.of(link)


def slug_conflicts(links: Iterable[GuestLink | LinkRecord]) -> dict[str, str]:
    """Links that lose a slug to an earlier link: loser key -> winner key.

    The first to claim a slug keeps it (creation time, then name), so an existing URL never
    changes hands because a newer link asked for the same slug. Only slugs asked for twice are
    sorted (at 10,000 links, one pass to group them, not a sort of every link).
    """
    claims: dict[str, list[LinkRecord]] = {}
    for link in links:
        record = as_record(link)
        if record.slug:
            claims.setdefault(record.slug, []).append(record)
    losers: dict[str, str] = {}
    for holders in claims.values():
        if len(holders) > 1:
            winner, *rest = sorted(holders, key=lambda record: (record.created, record.key))
            for loser in rest:
                losers[loser.key] = winner.key
    return losers


def render_link_config(link: GuestLink, public_url: str, video_policy: str = "sendrecv") -> LinkConfig:
    """`video_policy`: the cluster's default (media.videoPolicy), for a link that names none."""
    spec = link.spec
    path = link_path(link)
    return LinkConfig(
        id=link.key,
        namespace=link.metadata.namespace,
        name=link.metadata.name,
        path=path,
        url=link_url(public_url, path),
        trunk=trunk_id(link.metadata.namespace, spec.trunk_ref),
        destination=spec.destination,
        display_name=spec.display_name,
        caller_name=spec.caller_name,
        auto_call_after_seconds=spec.auto_call_after_seconds,
        language=spec.language,
        branding=render_branding(spec.branding),
        valid_from=spec.valid_from,
        valid_until=spec.valid_until,
        audio=spec.media.audio,
        video=spec.media.video,
        video_policy=spec.media.video_policy or video_policy,
        access=AccessConfig(
            require_token=spec.access.require_token,
            allowed_origins=tuple(spec.access.allowed_origins),
            max_concurrent_calls=spec.access.max_concurrent_calls,
            calls_per_minute_per_ip=spec.access.calls_per_minute_per_ip,
        ),
    )


def render_withdrawn(link: GuestLink) -> WithdrawnLink:
    return WithdrawnLink(path=link_path(link), display_name=link.spec.display_name)
