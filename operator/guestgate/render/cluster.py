"""Everything a GuestCluster's reconcile applies, in order (pure): the one list the controller
applies and the golden files check.

Not in it: the signing key, the admin token and a generated TURN secret, created once
(create-if-missing, never rotated); and links shards a smaller configuration no longer needs,
which the controller finds in the cluster and empties (secrets.empty_links_shard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import PublishedConfig
from guestgate.render import network, secrets, turn, workload
from guestgate.render.secrets import Manifest


def children(
    cluster: GuestCluster,
    published: PublishedConfig,
    credentials: Mapping[str, tuple[bytes, bytes]],
    sources: network.SipSources,
    *,
    signal_pod_ips: Sequence[str] = (),
) -> list[Manifest]:
    """The children to apply: service account, configuration, trunk credentials, Services,
    disruption budget, SIP network policy, the signalling StatefulSet, and the TURN server's when
    spec.turn is on (relaying to signal_pod_ips only)."""
    out = [
        workload.service_account(cluster),
        *secrets.config_maps(cluster, published),
        secrets.credentials_secret(cluster, credentials),
        network.headless_service(cluster),
        network.service(cluster),
        network.pod_disruption_budget(cluster),
        network.sip_network_policy(cluster, sources),
        workload.statefulset(cluster, published.cluster.pod_start_hash(), published.logo_files()),
    ]
    if turn.enabled(cluster):
        out += [
            turn.config_map(cluster, signal_pod_ips),
            turn.service(cluster),
            turn.network_policy(cluster),
            turn.deployment(cluster),
        ]
    return out
