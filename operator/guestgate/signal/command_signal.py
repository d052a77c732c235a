"""`guestgate signal --config-dir DIR`: the signalling pod's entrypoint.

--secrets-dir defaults to the directory `secrets` next to the config dir (the StatefulSet mounts
the ConfigMap at /etc/guestgate/config and the Secrets under /etc/guestgate/secrets), or to
$GUESTGATE_SECRETS_DIR when set. Exit 2 when the configuration or a secret cannot be used at
start (the message says which file and why); later bad changes are reported and ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path

EXIT_BAD_CONFIG = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", required=True, type=Path, help="the rendered configuration (cluster.json...)")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=None,
        help="admin token and trunk credentials (default: $GUESTGATE_SECRETS_DIR, else "
        "the directory 'secrets' next to the config dir)",
    )
    parser.add_argument(
        "--bind",
        default=os.environ.get("GUESTGATE_BIND", "0.0.0.0"),
        help="address to listen on for SIP and the admin API (default 0.0.0.0)",
    )
    parser.add_argument("--pod-name", default=os.environ.get("POD_NAME", ""), help="name reported in results")
    parser.add_argument("--reload-seconds", type=float, default=2.0, help="how often to look for config changes")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")


def secrets_dir(args: argparse.Namespace) -> Path:
    if args.secrets_dir is not None:
        return Path(args.secrets_dir)
    env = os.environ.get("GUESTGATE_SECRETS_DIR")
    return Path(env) if env else Path(args.config_dir).resolve().parent / "secrets"


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the key=value pairs of GuestGate's messages become fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in _FIELD.findall(message):
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


_FIELD = re.compile(r"\b([a-z_]+)=(\S+)")


def _setup_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def run(args: argparse.Namespace) -> int:
    _setup_logging(args.log_format)
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from guestgate.signal.config_loader import ConfigError
    from guestgate.signal.secrets import SecretError
    from guestgate.signal.server import ServerOptions, SignalServer
    from guestgate.sip.engine import EngineError

    server = SignalServer(
        ServerOptions(
            config_dir=Path(args.config_dir),
            secrets_dir=secrets_dir(args),
            bind=args.bind,
            pod_name=args.pod_name,
            poll_seconds=args.reload_seconds,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except (ConfigError, SecretError, EngineError, OSError) as error:
        print(f"guestgate signal: {error}", file=sys.stderr)
        await server.stop()
        return EXIT_BAD_CONFIG
    print(f"guestgate signal: ready, admin API on port {server.admin_port}", file=sys.stderr, flush=True)
    await stop.wait()
    await server.stop()
    return 0
