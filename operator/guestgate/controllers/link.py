"""Reconcile a GuestLink's status: URL, phase, whether its pods serve it, and a wake-up when time
changes the phase.

A new or edited link's status is written once its cluster's ready pods serve its generation (the
pusher queues it then), not before and again after: one status write per edit. It is written
anyway after STATUS_WAIT_SECONDS (Published Unknown, Publishing: how many pods serve it so far;
or without the count when its cluster renders no configuration).
"""

from __future__ import annotations

import time

from guestgate.api.objects import GuestLink
from guestgate.controllers.context import Context
from guestgate.render.link import next_phase_change, slug_conflicts
from guestgate.render.status import VALID_REASONS, LinkFacts, link_phase_and_condition, link_status

# Wake a little after the boundary so `now` is past it when the phase is computed.
WAKE_MARGIN_SECONDS = 0.5
STATUS_WAIT_SECONDS = 10.0


async def reconcile_link(ctx: Context, key: str) -> None:
    loaded = await ctx.load("GuestLink", key, GuestLink, "Published", phase="Invalid")
    if loaded is None:
        return
    body, link = loaded
    now = ctx.clock()
    ns = link.metadata.namespace
    # Only links asking for the same slug can take it (an index lookup, not a scan of every link).
    same_slug = ctx.cache.links_with_slug(ns, link.spec.slug) if link.spec.slug else []
    siblings = [other for other in same_slug if other.cluster_ref == link.spec.cluster_ref]
    cluster_key = f"{ns}/{link.spec.cluster_ref}"
    serving = ctx.publications.serving(cluster_key, link.key, link.metadata.generation)
    facts = LinkFacts(
        cluster=ctx.cache.cluster(ns, link.spec.cluster_ref),
        trunk=ctx.cache.trunk(ns, link.spec.trunk_ref),
        slug_taken_by=slug_conflicts(siblings).get(link.key),
        serving=(serving.serving, serving.ready) if serving is not None else None,
    )
    upcoming = next_phase_change(link, now)
    if upcoming is not None:
        ctx.queue.add_after(("GuestLink", key), (upcoming - now).total_seconds() + WAKE_MARGIN_SECONDS)
    valid = link_phase_and_condition(link, facts, now)[1].reason in VALID_REASONS
    # Its cluster has not rendered a configuration yet (a restarted operator) or some pods lag.
    if valid and (serving is None or not serving.complete):
        waited = time.monotonic() - ctx.publications.wait(cluster_key, link.key, time.monotonic())
        if waited < STATUS_WAIT_SECONDS:
            ctx.queue.add_after(("GuestLink", key), STATUS_WAIT_SECONDS - waited)
            return
    else:
        ctx.publications.served(cluster_key, link.key)
    await ctx.write_status(body, link_status(link, facts, now))
