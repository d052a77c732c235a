"""The pod's internal admin API (aiohttp), on its own port, for the operator.

Every route but the probes and /metrics needs `Authorization: Bearer <token>` (the token the
operator puts in the cluster's admin Secret).

  GET  /healthz                                      liveness: the SIP engine runs
  GET  /readyz                                       readiness: engine up and a configuration loaded
  GET  /metrics                                      Prometheus text format
  GET  /v1/status                                    pod, configuration digest and last reload error, trunks
  PUT  /v1/config                                    the operator pushes the rendered configuration:
                                                     {"files": {"cluster.json": "...", ...}}; answers
                                                     {"digest", "applied"}, 400 when it does not validate.
                                                     Or only what changed: {"base": "<digest served>",
                                                     "files": {changed}, "removed": [names]}; 409
                                                     {"error", "digest"} when the pod serves another base
  GET  /v1/trunks                                    every trunk: up/down per peer, active peer, engine error
  GET  /v1/trunks/{namespace}/{name}                 one trunk
  POST /v1/trunks/{namespace}/{name}/health-check    run a health check now; body (optional):
                                                     {"destinations": ["local"], "trigger": "annotation"};
                                                     answers with the result when the calls are done
  GET  /v1/trunks/{namespace}/{name}/health-check    the last result (404 before the first)
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger("guestgate.signal.admin")

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_BODY_BYTES = 16 * 1024
# A pushed configuration: cluster.json, trunks.json and up to 16 links shards of < 1 MiB each.
MAX_CONFIG_BYTES = 24 * 1024 * 1024


class UnknownTrunk(LookupError):
    pass


class BaseNotServed(LookupError):
    """A pushed change is relative to a configuration the pod does not serve (`digest`: what it serves)."""

    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class TrunkUnavailable(RuntimeError):
    """The trunk exists in the configuration but the engine refused it (the message says why)."""


class AdminBackend(Protocol):
    def alive(self) -> bool: ...

    def ready(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    def trunk_states(self) -> list[dict[str, Any]]: ...

    def last_result(self, trunk_id: str) -> dict[str, Any] | None: ...

    async def run_health_check(self, trunk_id: str, destinations: list[str] | None, trigger: str) -> dict[str, Any]: ...

    def metrics_exposition(self) -> tuple[bytes, str]: ...

    async def push_config(
        self, files: dict[str, str], base: str | None = None, removed: list[str] | None = None
    ) -> dict[str, Any]: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request, limit: int) -> dict[str, Any] | web.Response:
    """The request's JSON object body, or the error response to send."""
    if (request.content_length or 0) > limit:
        return _error(413, "body too large")
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, RecursionError):  # 16 KiB of "[" is too deep for the parser
        return _error(400, "body must be JSON")
    return body if isinstance(body, dict) else _error(400, "body must be a JSON object")


def make_app(backend: AdminBackend, token: str) -> web.Application:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            # Header bytes that are not UTF-8 arrive as surrogates: compared as the bytes they were.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                response = _error(401, "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = 'Bearer realm="guestgate-admin"'
                return response
        return await handler(request)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"alive": True}) if backend.alive() else _error(503, "SIP engine stopped")

    async def readyz(_request: web.Request) -> web.Response:
        return web.json_response({"ready": True}) if backend.ready() else _error(503, "not ready")

    async def metrics(_request: web.Request) -> web.Response:
        body, content_type = backend.metrics_exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(backend.status())

    async def trunks(_request: web.Request) -> web.Response:
        return web.json_response({"trunks": backend.trunk_states()})

    def trunk_id(request: web.Request) -> str:
        return f"{request.match_info['namespace']}/{request.match_info['name']}"

    async def trunk(request: web.Request) -> web.Response:
        wanted = trunk_id(request)
        for state in backend.trunk_states():
            if state["trunk"] == wanted:
                return web.json_response(state)
        return _error(404, f"no trunk {wanted}")

    async def last_check(request: web.Request) -> web.Response:
        result = backend.last_result(trunk_id(request))
        return web.json_response(result) if result is not None else _error(404, "no health check yet")

    async def run_check(request: web.Request) -> web.Response:
        destinations: list[str] | None = None
        trigger = "api"
        if request.can_read_body:
            body = await _json_object(request, MAX_BODY_BYTES)
            if isinstance(body, web.Response):
                return body
            names = body.get("destinations")
            if names is not None:
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    return _error(400, "destinations must be a list of destination names")
                destinations = names
            trigger = str(body.get("trigger", trigger))[:64]
        try:
            result = await backend.run_health_check(trunk_id(request), destinations, trigger)
        except UnknownTrunk as error:
            return _error(404, str(error))
        except TrunkUnavailable as error:
            return _error(409, str(error))
        except ValueError as error:
            return _error(400, str(error))
        return web.json_response(result)

    async def push_config(request: web.Request) -> web.Response:
        body = await _json_object(request, MAX_CONFIG_BYTES)
        if isinstance(body, web.Response):
            return body
        files = body.get("files")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            return _error(400, 'body must be {"files": {"<name>.json": "<content>", ...}}')
        base = body.get("base")
        removed = body.get("removed", [])
        if base is not None and not isinstance(base, str):
            return _error(400, "base must be the digest of the configuration the change applies to")
        if not isinstance(removed, list) or not all(isinstance(name, str) for name in removed):
            return _error(400, "removed must be a list of file names")
        try:
            return web.json_response(await backend.push_config(files, base, removed))
        except BaseNotServed as error:  # the operator sends every file instead
            return web.json_response({"error": str(error), "digest": error.digest}, status=409)
        except ValueError as error:  # ConfigError: the file and field that are wrong
            return _error(400, str(error))

    # Large enough for a pushed configuration (authenticated first); the other routes that read a
    # body refuse more than MAX_BODY_BYTES themselves.
    app = web.Application(middlewares=[authenticate], client_max_size=MAX_CONFIG_BYTES)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/status", status)
    app.router.add_put("/v1/config", push_config)
    app.router.add_get("/v1/trunks", trunks)
    app.router.add_get("/v1/trunks/{namespace}/{name}", trunk)
    app.router.add_post("/v1/trunks/{namespace}/{name}/health-check", run_check)
    app.router.add_get("/v1/trunks/{namespace}/{name}/health-check", last_check)
    return app
