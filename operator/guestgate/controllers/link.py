"""Reconcile a GuestLink's status: URL and phase, and a wake-up when time changes the phase."""

from __future__ import annotations

from guestgate.api.objects import GuestLink
from guestgate.controllers.context import Context
from guestgate.render.link import next_phase_change, slug_conflicts
from guestgate.render.status import LinkFacts, link_status

# Wake a little after the boundary so `now` is past it when the phase is computed.
WAKE_MARGIN_SECONDS = 0.5


async def reconcile_link(ctx: Context, key: str) -> None:
    loaded = await ctx.load("GuestLink", key, GuestLink, "Published", phase="Invalid")
    if loaded is None:
        return
    body, link = loaded
    now = ctx.clock()
    ns = link.metadata.namespace
    # Only links asking for the same slug can take it (an index lookup, not a scan of every link).
    same_slug = ctx.cache.links_with_slug(ns, link.spec.slug) if link.spec.slug else [link]
    siblings = [other for other in same_slug if other.spec.cluster_ref == link.spec.cluster_ref]
    facts = LinkFacts(
        cluster=ctx.cache.cluster(ns, link.spec.cluster_ref),
        trunk=ctx.cache.trunk(ns, link.spec.trunk_ref),
        slug_taken_by=slug_conflicts(siblings).get(link.key),
    )
    await ctx.write_status(body, link_status(link, facts, now))
    upcoming = next_phase_change(link, now)
    if upcoming is not None:
        ctx.queue.add_after(("GuestLink", key), (upcoming - now).total_seconds() + WAKE_MARGIN_SECONDS)
