"""Kubeconfig files, rendered from data (never from string templates)."""

from __future__ import annotations

import base64
from typing import Any

import yaml


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(
    *,
    cluster: str,
    server: str,
    ca_pem: bytes,
    user: str,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A one-context kubeconfig with the certificates embedded, so the file can be copied around.

    The context is called ``guestgate-<cluster>`` (like kind's ``kind-<name>``) so merging it
    into a user's ~/.kube/config never collides with a real cluster's entry.
    """
    context = f"guestgate-{cluster}"
    context_body: dict[str, str] = {"cluster": context, "user": f"{context}-{user}"}
    if namespace:
        context_body["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [
            {
                "name": f"{context}-{user}",
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
    }


def dump_kubeconfig(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
