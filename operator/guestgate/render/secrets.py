"""GuestCluster -> its ConfigMap and Secrets.

The signing key and the admin token are random: the controller generates them and creates the
Secrets once (never rotated by a reconcile: rotating the signing key would break every signed
link already handed out). These builders take the random values as arguments, so they stay pure.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import LINKS_FILE, PublishedConfig, is_links_file, link_shard_file
from guestgate.render import names

Manifest = dict[str, Any]


def config_maps(cluster: GuestCluster, published: PublishedConfig) -> list[Manifest]:
    """The cluster's ConfigMap (cluster.json, trunks.json, links.json), then one per further
    links shard (links-<n>.json in <cluster>-links-<n>): a ConfigMap holds at most 1 MiB."""
    c = cluster.metadata.name
    files = published.files()
    shards = sum(1 for name in files if is_links_file(name))
    first = {name: text for name, text in files.items() if not is_links_file(name) or name == LINKS_FILE}
    out = [_config_map(cluster, names.config_map_name(c), first)]
    for index in range(1, shards):
        name = link_shard_file(index)
        out.append(_config_map(cluster, names.links_config_map_name(c, index), {name: files[name]}))
    return out


def empty_links_shard(cluster: GuestCluster, index: int) -> Manifest:
    """A links shard the cluster no longer needs, emptied (its links moved to other shards)."""
    text = '{"links":[],"withdrawn":[]}\n'
    return _config_map(
        cluster, names.links_config_map_name(cluster.metadata.name, index), {link_shard_file(index): text}
    )


def _config_map(cluster: GuestCluster, name: str, data: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": names.child_metadata(cluster, name), "data": data}


def _secret(cluster: GuestCluster, name: str, data: Mapping[str, bytes]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": names.child_metadata(cluster, name),
        "data": {key: base64.b64encode(value).decode() for key, value in sorted(data.items())},
    }


def signing_secret(cluster: GuestCluster, key: bytes) -> Manifest:
    return _secret(cluster, names.signing_secret_name(cluster.metadata.name), {"key": key})


def admin_secret(cluster: GuestCluster, token: bytes) -> Manifest:
    return _secret(cluster, names.admin_secret_name(cluster.metadata.name), {"token": token})


def credentials_secret(cluster: GuestCluster, credentials: Mapping[str, tuple[bytes, bytes]]) -> Manifest:
    """Trunk digest credentials, copied from each trunk's Secret: key -> (username, password).

    One Secret per cluster mounted as a directory: adding a trunk updates the files in place
    instead of changing the pod template (which would restart the pods).
    """
    data: dict[str, bytes] = {}
    for key, (username, password) in credentials.items():
        data[f"{key}.username"] = username
        data[f"{key}.password"] = password
    return _secret(cluster, names.credentials_secret_name(cluster.metadata.name), data)
