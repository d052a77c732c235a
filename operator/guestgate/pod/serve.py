"""`python -m guestgate.pod.serve`: the signalling server with the browser leg on its web port.

The layers keep `guestgate.signal` below `guestgate.web`, so the signalling server cannot mount
the link pages itself; this entrypoint starts it (SIP engine, config reload, keepalive, admin
API) and serves the browser leg on the cluster's `web.port` with the same engine and the same
configuration. It takes the options of `guestgate signal`, plus the web ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from guestgate.config.schema import SIGNING_KEY_FILE, TURN_SECRET_FILE, PublishedConfig
from guestgate.logs import setup_logging
from guestgate.media.ng import NgClient, NgError
from guestgate.pod import options
from guestgate.web import metrics
from guestgate.web.app import WebState, build_app

log = logging.getLogger("guestgate.pod.serve")
GIL_SWITCH_SECONDS = 0.0005
EXIT_BAD_CONFIG = 2


def configure(parser: argparse.ArgumentParser) -> None:
    options.configure(parser)
    parser.add_argument(
        "--web-port",
        type=int,
        default=None,
        help="port of the link pages (default: the cluster's web.port; 0 for any free port)",
    )
    parser.add_argument("--web-metrics", action="store_true", help="also serve /_gg/metrics on the web port")
    parser.add_argument(
        "--trust-forwarded-for",
        nargs="?",
        type=int,
        const=1,
        default=0,
        metavar="PROXIES",
        help="behind PROXIES load balancers or proxies (default 1) that each append to X-Forwarded-For: "
        "the visitor's address is the entry that many from the right",
    )
    parser.add_argument(
        "--rtpengine",
        metavar="HOST:PORT",
        default=None,
        help="the media relay's ng control address (the pod's rtpengine, on loopback): every browser "
        "call's media goes through it. Without one no browser call can be made (the page says the media "
        "server is unavailable); while it does not answer the server is not ready",
    )


def _read_secret(path: Path) -> bytes | None:
    try:
        value = path.read_bytes().strip()
    except OSError:
        return None
    return value or None


def tls_context(secrets: Path, cert_dir: str | None) -> ssl.SSLContext | None:
    """HTTPS for the link pages when the cluster names a certificate (web.tlsSecretName): a browser
    only lends its microphone to a secure page. Without one, TLS ends in front of the pods."""
    if not cert_dir:
        return None
    folder = secrets / cert_dir
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")  # OSError/SSLError: exit 2, file named
    return context


async def _relay(address: str) -> tuple[NgClient, bool]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise OSError(f"--rtpengine wants HOST:PORT, not {address!r}")
    client = await NgClient.connect(host, int(port))
    try:
        await client.ping()
    except NgError as exc:  # not fatal: the relay may start after us; the pod is not ready till it answers
        log.warning("media relay not answering yet at %s: %s", address, exc)
        return client, False
    return client, True


def run(args: argparse.Namespace) -> int:
    # A crash in native code (pjsua2) leaves the Python stacks of every thread in the log.
    faulthandler.enable(all_threads=True)
    # The pjsua2 thread and the event loop share the GIL, and every pjsua2 call lets it go (SWIG
    # -threads): a thread taking it back waits out the other's switch interval, 5 ms by default.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    setup_logging("info", args.log_format)
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from guestgate.engine.core import EngineError
    from guestgate.signal.config_loader import ConfigError
    from guestgate.signal.secrets import SecretError

    secrets = options.secrets_dir(args)
    server = options.build_server(args)
    server.expect("web")  # not ready before the link pages answer
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    try:
        await server.start()
        # The pod's admin port serves /metrics from the signalling server's own registry: the
        # browser leg's metrics join it there (the public web port serves them only on request).
        metrics.register_into(server.metrics.registry)

        def current() -> PublishedConfig:
            loaded = server.watcher.current
            assert loaded is not None  # start() refuses to finish without a configuration
            return loaded.config

        relay: NgClient | None = None
        if args.rtpengine:
            relay, answering = await _relay(args.rtpengine)
            if not answering:
                server.expect("media")  # ready once the relay answers (the watch below says so)
        else:
            log.error("no media relay (--rtpengine): browser calls cannot be made (media server unavailable)")

        def media_up(up: bool) -> None:
            if up:
                server.started("media")
            else:
                server.expect("media")

        state = WebState(
            source=current,
            engine=server.engine,
            relay=relay,
            media_up=media_up,
            signing_key=_read_secret(secrets / SIGNING_KEY_FILE),
            turn_secret=_read_secret(secrets / TURN_SECRET_FILE),
            trust_forwarded_for=args.trust_forwarded_for,
            # Browser calls follow the keepalive's failover, like health checks do.
            peer_for=server.call_peer,
            expose_metrics=args.web_metrics,
            config_dir=Path(args.config_dir),  # logos kept in ConfigMaps are projected there
        )
        if state.signing_key is None:
            log.warning("no signing key at %s: links that require a token stay closed", secrets / SIGNING_KEY_FILE)
        runner = web.AppRunner(build_app(state), access_log=None)
        await runner.setup()
        port = current().cluster.web.port if args.web_port is None else args.web_port
        site = web.TCPSite(
            runner, args.bind, port, ssl_context=tls_context(secrets, current().cluster.web.tls_cert_dir)
        )
        await site.start()
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        web_port = int(sockets[0].getsockname()[1]) if sockets else port
        server.started("web")
    except (ConfigError, SecretError, EngineError, OSError) as error:  # ssl.SSLError is an OSError
        print(f"guestgate signal: {error}", file=sys.stderr)
        if runner is not None:
            await runner.cleanup()
        await server.stop()
        return EXIT_BAD_CONFIG
    sip = server.engine.local_address("udp") if server.engine is not None else "?"
    # One parseable line: the demo and the tests read the ports from it.
    print(
        f"guestgate signal: ready sip={sip} web={args.bind}:{web_port} admin={args.bind}:{server.admin_port}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    log.info("stopping: ending calls in progress")
    with contextlib.suppress(Exception):
        await runner.cleanup()  # on_shutdown ends every browser call (BYE) first
    await server.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="guestgate-web", description=__doc__.splitlines()[0] if __doc__ else None)
    configure(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
