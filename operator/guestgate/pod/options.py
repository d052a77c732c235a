"""The options of `guestgate signal --config-dir DIR`, the signalling pod's entrypoint, and the
server they describe. The command itself is guestgate.pod.serve: the layers keep signal below
web, so the server that also serves the link pages is assembled there.

--secrets-dir defaults to the directory `secrets` next to the config dir (the StatefulSet mounts
the ConfigMap at /etc/guestgate/config and the Secrets under /etc/guestgate/secrets), or to
$GUESTGATE_SECRETS_DIR when set. Exit 2 when the configuration or a secret cannot be used at
start (the message says which file and why); later bad changes are reported and ignored.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from guestgate.signal.server import ServerOptions, SignalServer


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


def build_server(args: argparse.Namespace) -> SignalServer:
    """The SIP engine, configuration reload, keepalive and admin API, as the options say."""
    return SignalServer(
        ServerOptions(
            config_dir=Path(args.config_dir),
            secrets_dir=secrets_dir(args),
            bind=args.bind,
            pod_name=args.pod_name,
            poll_seconds=args.reload_seconds,
        )
    )
