"""A GuestCluster with its trunks and links -> the configuration published to its pods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
from guestgate.render.link import render_link_config, render_withdrawn, slug_conflicts
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


class RenderMemo:
    """Each link's rendered entry as compact JSON, kept from one render of a cluster to the next:
    an edit to one of 10,000 links renders and serialises that link, not all of them, and no
    model of the others is kept (the text is all the ConfigMaps and the pods need). An entry is
    reused while what it is made of is equal (the link's name, namespace and spec, the cluster's
    public URL and video policy); entries of links no longer rendered are dropped."""

    def __init__(self) -> None:
        # (kind, link key) -> (signature, sort key: id or path, JSON, the link's ConfigMap logo)
        self._entries: dict[tuple[str, str], tuple[Any, str, str, str | None]] = {}
        self._next: dict[tuple[str, str], tuple[Any, str, str, str | None]] = {}

    def entry(self, kind: str, link: GuestLink, public_url: str, video_policy: str) -> tuple[str, str, str | None]:
        """(id or path, compact JSON, ConfigMap logo file) of the link or withdrawn link."""
        key = (kind, link.key)
        signature = (link.metadata.namespace, link.metadata.name, link.spec, public_url, video_policy)
        known = self._entries.get(key)
        if known is None or known[0] != signature:
            if kind == "link":
                model = render_link_config(link, public_url, video_policy)
                logo = model.branding.logo_file if model.branding else None
                known = (signature, model.id, LinksFile.compact(model), logo)
            else:
                gone = render_withdrawn(link)
                known = (signature, gone.path, LinksFile.compact(gone), None)
        self._next[key] = known
        return known[1], known[2], known[3]

    def done(self) -> None:
        """The render is over: only the entries it used are kept."""
        self._entries, self._next = self._next, {}


def render_published_config(
    cluster: GuestCluster,
    trunks: Sequence[SipTrunk],
    links: Sequence[GuestLink],
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
    own_links = sorted((link for link in links if belongs_to(link, cluster)), key=lambda link: link.key)
    losers = slug_conflicts(own_links)
    published = [
        link
        for link in own_links
        if link.spec.enabled and link.spec.trunk_ref in trunk_names and link.key not in losers
    ]
    withdrawn = [link for link in own_links if not link.spec.enabled and link.key not in losers]
    url, policy = cluster.spec.public_url, cluster.spec.media.video_policy
    if memo is None:
        links_file = LinksFile(
            links=tuple(render_link_config(link, url, policy) for link in published),
            withdrawn=tuple(render_withdrawn(link) for link in withdrawn),
        )
    else:
        entries = [memo.entry("link", link, url, policy) for link in published]
        gone = [memo.entry("withdrawn", link, url, policy) for link in withdrawn]
        memo.done()
        links_file = LinksFile.rendered(
            [(key, text) for key, text, _ in entries],
            [(key, text) for key, text, _ in gone],
            sorted({logo for _, _, logo in entries if logo}),
        )
    return PublishedConfig(
        cluster=render_cluster_config(cluster, turn_endpoint),
        trunks=TrunksFile(trunks=tuple(render_trunk_profile(t) for t in own_trunks)),
        links=links_file,
    )
