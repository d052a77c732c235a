"""SipTrunk -> the trunk profile the signalling pods load."""

from __future__ import annotations

from guestgate.api.objects import SipTrunk
from guestgate.api.siptrunk import Peer
from guestgate.config.schema import (
    AuthConfig,
    DestinationConfig,
    EarlyMediaConfig,
    HealthCheckConfig,
    KeepaliveConfig,
    PeerConfig,
    SessionTimerConfig,
    TrunkProfile,
)


def trunk_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def credentials_key(namespace: str, name: str) -> str:
    """Key prefix of a trunk's credentials in the cluster's credentials Secret."""
    return f"{namespace}.{name}"


def _peer(peer: Peer) -> PeerConfig:
    return PeerConfig(host=peer.host, port=peer.port, transport=peer.transport)


def render_trunk_profile(trunk: SipTrunk) -> TrunkProfile:
    spec = trunk.spec
    meta = trunk.metadata
    return TrunkProfile(
        id=trunk_id(meta.namespace, meta.name),
        namespace=meta.namespace,
        name=meta.name,
        peers=tuple(_peer(p) for p in (spec.peer, *spec.fallback_peers)),
        platform=spec.platform,
        auth=(
            AuthConfig(credentials_key=credentials_key(meta.namespace, meta.name), realm=spec.auth.realm)
            if spec.auth
            else None
        ),
        prack=spec.prack,
        early_media=EarlyMediaConfig(
            local_ringback=spec.early_media.local_ringback, disable_on_180=spec.early_media.disable_on180
        ),
        codecs=tuple(spec.codecs),
        dtmf=spec.dtmf,
        session_timer=SessionTimerConfig(
            enabled=spec.session_timer.enabled,
            expires=spec.session_timer.expires,
            min_se=spec.session_timer.min_se,
        ),
        keepalive=KeepaliveConfig(
            interval_seconds=spec.keepalive.interval_seconds,
            failure_threshold=spec.keepalive.failure_threshold,
        ),
        health_check=HealthCheckConfig(
            destinations=tuple(
                DestinationConfig(name=d.name, number=d.number) for d in spec.health_check.destinations
            ),
            interval_seconds=spec.health_check.interval_seconds,
            timeout_seconds=spec.health_check.timeout_seconds,
            min_media_seconds=spec.health_check.min_media_seconds,
        ),
    )
