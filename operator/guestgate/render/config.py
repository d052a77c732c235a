"""A GuestCluster with its trunks and links -> the configuration published to its pods."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.config.schema import (
    ClusterConfig,
    IceConfig,
    LimitsConfig,
    LinksFile,
    PublishedConfig,
    SipListenConfig,
    TrunksFile,
    WebConfig,
)
from guestgate.render import turn
from guestgate.render.branding import render_branding
from guestgate.render.link import LinkRecord, as_record, render_link_config, render_withdrawn, slug_conflicts
from guestgate.render.link_memo import RenderContext, RenderMemo
from guestgate.render.names import ADMIN_PORT
from guestgate.render.profile import render_trunk_profile
from guestgate.render.turn import TurnEndpoint


def render_cluster_config(cluster: GuestCluster, turn_endpoint: TurnEndpoint | None = None) -> ClusterConfig:
    """Pod-start settings. The page's TURN URLs are the user's ice.turnURLs, else the managed
    TURN server's (UDP, TCP and TLS) once it has an address visitors reach."""
    spec = cluster.spec
    turn_urls = tuple(spec.ice.turn_urls) or (turn_endpoint.urls() if turn_endpoint else ())
    return ClusterConfig(
        namespace=cluster.metadata.namespace,
        name=cluster.metadata.name,
        public_url=spec.public_url,
        admin_port=ADMIN_PORT,
        sip=SipListenConfig(
            port=spec.sip.port,
            tls_port=spec.sip.tls_port,
            transports=tuple(spec.sip.transports),
            external_address=spec.sip.external_address,
            tls_cert_dir="sip-tls" if spec.sip.tls_secret_name else None,
        ),
        web=WebConfig(
            port=spec.web.port,
            tls_cert_dir="web-tls" if spec.web.tls_secret_name else None,
            allowed_origins=tuple(spec.web.allowed_origins),
        ),
        ice=IceConfig(
            stun_urls=tuple(spec.ice.stun_urls),
            turn_urls=turn_urls,
            turn_secret=turn.shared_secret_name(cluster) is not None,
            ice_transport_policy=spec.ice.ice_transport_policy,
        ),
        limits=LimitsConfig(
            max_calls_per_pod=spec.limits.max_calls_per_pod,
            new_calls_per_second_per_pod=spec.limits.new_calls_per_second_per_pod,
        ),
        log_level=spec.log_level,
        branding=render_branding(spec.branding),
    )


def belongs_to(obj: SipTrunk | GuestLink, cluster: GuestCluster) -> bool:
    return (
        obj.metadata.namespace == cluster.metadata.namespace and obj.spec.cluster_ref == cluster.metadata.name
    )


def render_published_config(
    cluster: GuestCluster,
    trunks: Sequence[SipTrunk],
    links: Sequence[GuestLink | LinkRecord],
    turn_endpoint: TurnEndpoint | None = None,
    memo: RenderMemo | None = None,
) -> PublishedConfig:
    """Everything the cluster's pods serve. Order is by key, so the output (and its hash) is stable.

    A link is published when it is enabled, its trunk belongs to the cluster and it holds its
    slug; disabled links are listed as withdrawn (their URL answers 403). Links outside their
    validity window stay published: the pods answer 410 on time without waiting for an update.
    """
    own_trunks = sorted((t for t in trunks if belongs_to(t, cluster)), key=lambda t: t.key)
    trunk_names = {t.metadata.name for t in own_trunks}
    ns, name = cluster.metadata.namespace, cluster.metadata.name
    url, policy = cluster.spec.public_url, cluster.spec.media.video_policy
    records = [as_record(link) for link in links]
    if memo is not None:
        links_file = memo.links_file(records, RenderContext(ns, name, url, policy, frozenset(trunk_names)))
    else:
        own_links = sorted(
            (link for link in records if link.cluster_ref == name and link.namespace == ns), key=attrgetter("key")
        )
        losers = slug_conflicts(own_links)
        links_file = LinksFile(
            links=tuple(
                render_link_config(link.model(), url, policy)
                for link in own_links
                if link.enabled and link.trunk_ref in trunk_names and link.key not in losers
            ),
            withdrawn=tuple(
                render_withdrawn(link.model()) for link in own_links if not link.enabled and link.key not in losers
            ),
        )
    return PublishedConfig(
        cluster=render_cluster_config(cluster, turn_endpoint),
        trunks=TrunksFile(trunks=tuple(render_trunk_profile(t) for t in own_trunks)),
        links=links_file,
    )
