"""The operator's side of the admin API: ask a signalling pod for a health check or its trunks.

    client = AdminClient("http://10.1.2.3:9090", token)
    result = await client.health_check("ns/trunk", trigger="annotation")
    PodHealth.model_validate(result["podHealth"])       # -> SipTrunk status.lastHealthCheck.pods[]
    states = await client.trunks()                        # -> Reachable condition (keepalive)

Errors come as AdminError with the HTTP status (0 when the pod could not be reached) and the
pod's message, so the operator can tell "pod down" from "trunk refused by the engine" (409).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

# A check calls every destination one after another; each may take timeoutSeconds (<= 300) plus
# hang-up time, and there are at most 10 destinations.
DEFAULT_CHECK_TIMEOUT = 10 * 310.0


class AdminError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"admin API {status or 'unreachable'}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | bytes | None, timeout: float
    ) -> Any:
        """`body`: an object sent as JSON, or JSON already encoded (sent as is)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        payload: dict[str, Any] = {"json": body}
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            payload = {"data": body}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.request(method, self.base_url + path, headers=headers, **payload) as response,
            ):
                data = await response.json(content_type=None)
                if response.status >= 400:
                    message = data.get("error", "") if isinstance(data, dict) else str(data)
                    raise AdminError(response.status, message)
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise AdminError(0, str(error) or type(error).__name__) from error

    async def health_check(
        self,
        trunk_id: str,
        destinations: list[str] | None = None,
        trigger: str = "",
        timeout: float = DEFAULT_CHECK_TIMEOUT,
    ) -> dict[str, Any]:
        """Run a health check now on that pod; returns when its calls are done."""
        namespace, _, name = trunk_id.partition("/")
        body: dict[str, Any] = {"trigger": trigger}
        if destinations is not None:
            body["destinations"] = destinations
        result = await self._call("POST", f"/v1/trunks/{namespace}/{name}/health-check", body, timeout)
        return dict(result)

    async def last_health_check(self, trunk_id: str) -> dict[str, Any] | None:
        namespace, _, name = trunk_id.partition("/")
        try:
            return dict(await self._call("GET", f"/v1/trunks/{namespace}/{name}/health-check", None, self.timeout))
        except AdminError as error:
            if error.status == 404:
                return None
            raise

    async def trunks(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/trunks", None, self.timeout)
        return list(data["trunks"])

    async def status(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/v1/status", None, self.timeout))

    async def push_config(self, files: dict[str, str] | bytes) -> dict[str, Any]:
        """Hand the pod the rendered configuration; {"digest", "applied"}. AdminError 400 says
        which file and field the pod refused. `files` may come encoded already
        (`config_payload`: one encoding of megabytes of links for every pod)."""
        body = files if isinstance(files, bytes) else config_payload(files)
        return dict(await self._call("PUT", "/v1/config", body, max(self.timeout, 30.0)))


def config_payload(files: dict[str, str], base: str | None = None, removed: list[str] | None = None) -> bytes:
    """The body of `PUT /v1/config`: every file, or (`base`: the digest the pod serves) only the
    files that changed since and the names of those removed."""
    body: dict[str, object] = {"files": files}
    if base is not None:
        body.update(base=base, removed=removed or [])
    return json.dumps(body, separators=(",", ":")).encode()
