"""ICE servers handed to the browser, with time-limited TURN credentials (pure).

The TURN REST API convention (coturn's `use-auth-secret`): username = "<expiry>:<link id>",
password = base64(HMAC-SHA1(shared secret, username)). The TURN server checks the MAC and the
expiry itself, so no credential is stored anywhere and a leaked one dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from guestgate.config.schema import IceConfig

TURN_CREDENTIAL_SECONDS = 3600


def turn_credentials(secret: bytes, link_id: str, now: float, ttl: int = TURN_CREDENTIAL_SECONDS) -> tuple[str, str]:
    username = f"{int(now) + ttl}:{link_id}"
    password = base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode("ascii")
    return username, password


def ice_servers(ice: IceConfig, turn_secret: bytes | None, link_id: str, now: float) -> list[dict[str, Any]]:
    """RTCPeerConnection's `iceServers`. TURN is left out when no secret is mounted: a TURN URL
    without credentials only makes the browser fail slowly."""
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_urls and turn_secret:
        username, password = turn_credentials(turn_secret, link_id, now)
        servers.append({"urls": list(ice.turn_urls), "username": username, "credential": password})
    return servers
