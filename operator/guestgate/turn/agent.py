"""`guestgate turn-agent`: coturn's companion in the TURN pod (started by the image's entrypoint).

It reads coturn's log on stdin and writes it on to stdout unchanged (the pod's log stays coturn's),
counting what the lines record (turn/metrics.py), and serves on the pod's admin port:

    GET /metrics     guestgate_turn_* (Prometheus)
    GET /healthz     200 while coturn's log is open
    GET /v1/peers    {"source": "pushed"|"config", "peers": [...], "digest": ...}: the allow-list in force
    PUT /v1/peers    {"peers": [...]} with `Authorization: Bearer <token>`: the operator's push

It ends when coturn's log ends (coturn exited); the entrypoint ends coturn when the agent ends.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import sys
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from guestgate.logs import setup_logging
from guestgate.turn import peers
from guestgate.turn.metrics import TurnMetrics

log = logging.getLogger("guestgate.turn.agent")
MAX_BODY_BYTES = 64 * 1024
MAX_PEERS = 4096


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="0.0.0.0", help="address of the admin port (default all)")
    parser.add_argument("--port", type=int, default=9641, help="admin port: /metrics, /v1/peers (default 9641)")
    parser.add_argument("--config-dir", type=Path, required=True, help="the TURN ConfigMap (its peers file)")
    parser.add_argument("--run-dir", type=Path, required=True, help="where the pushed allow-list is written")
    parser.add_argument("--token-file", type=Path, help="bearer token the operator pushes with (no file: no pushes)")
    parser.add_argument("--log-level", default="info")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def make_app(metrics: TurnMetrics, config_dir: Path, run_dir: Path, token: str | None,
             log_open: asyncio.Event) -> web.Application:
    def current() -> dict[str, object]:
        source, found = peers.in_force(config_dir, run_dir)
        metrics.peers.set(len(found))
        return {"source": source, "peers": found, "digest": peers.digest(found)}

    async def show_metrics(_request: web.Request) -> web.Response:
        current()
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"alive": True}) if log_open.is_set() else _error(503, "coturn's log is closed")

    async def show_peers(_request: web.Request) -> web.Response:
        return web.json_response(current())

    async def push_peers(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not token or not hmac.compare_digest(given, f"Bearer {token}".encode()):
            response = _error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="guestgate-turn"'
            return response
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _error(413, "body too large")
        try:
            body = json.loads(await request.read() or b"{}")
        except (ValueError, RecursionError):
            return _error(400, "body must be JSON")
        wanted = body.get("peers") if isinstance(body, dict) else None
        if not isinstance(wanted, list) or len(wanted) > MAX_PEERS or not all(isinstance(p, str) for p in wanted):
            return _error(400, f'body must be {{"peers": [IP address, ...]}} (at most {MAX_PEERS})')
        if len(peers.addresses(wanted)) != len(set(wanted)):
            return _error(400, "peers must be IP addresses")
        found = await asyncio.to_thread(peers.write_pushed, run_dir, wanted)
        log.info("allow-list pushed", extra={"peers": len(found)})
        return web.json_response(current())

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/metrics", show_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/peers", show_peers)
    app.router.add_put("/v1/peers", push_peers)
    return app


async def relay_log(metrics: TurnMetrics, log_open: asyncio.Event) -> None:
    """coturn's log from stdin to stdout, a line at a time, fed to the metrics."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    log_open.set()
    while True:
        try:
            raw = await reader.readline()
        except ValueError:  # a line longer than the limit: pass on what there is
            raw = await reader.read(1 << 16)
        if not raw:
            break
        out.write(raw)
        out.flush()
        try:
            metrics.feed(raw.decode("utf-8", "replace"))
        except Exception:  # garbage in the log never stops the relay of the rest
            log.exception("could not read a coturn log line")
    log_open.clear()


async def serve(args: argparse.Namespace) -> int:
    token = None
    if args.token_file is not None and args.token_file.exists():
        token = args.token_file.read_text().strip() or None
    args.run_dir.mkdir(parents=True, exist_ok=True)
    metrics = TurnMetrics()
    log_open = asyncio.Event()
    runner = web.AppRunner(make_app(metrics, args.config_dir, args.run_dir, token, log_open), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.listen, args.port).start()
    log.info("turn agent serving", extra={"port": args.port, "pushes": token is not None})
    try:
        await relay_log(metrics, log_open)
    finally:
        await runner.cleanup()
    log.info("coturn's log ended")
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    return asyncio.run(serve(args))
