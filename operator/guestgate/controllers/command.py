"""`guestgate operator`: run the operator against the current kubeconfig (or in-cluster)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import sys

from guestgate.logs import setup_logging

M_ARENA_MAX = -8  # glibc's mallopt parameter


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", action="append", default=[], help="watch only these namespaces")
    parser.add_argument("--metrics-port", type=int, default=8081, help="port of /metrics (0: off)")
    parser.add_argument("--health-port", type=int, default=8082, help="port of the liveness probe /healthz")
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: in-cluster or KUBECONFIG)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--signal-endpoint", action="append", default=[], metavar="NAMESPACE/CLUSTER=URL",
        help="admin API of a signalling server running outside the cluster (repeatable); "
        "without it the operator finds the GuestCluster's ready pods itself",
    )
    parser.add_argument(
        "--no-config-push", dest="config_push", action="store_false",
        help="do not push the configuration to the pods: they follow their mounted ConfigMaps only (the "
        "kubelet's sync, up to a minute per change; the previous design, kept for comparison)",
    )


def _lean_process() -> None:
    """Memory: kopf imports the official Kubernetes client when it is installed (to log in with
    it; it has logins of its own for a kubeconfig and a service account): ~50 MiB of generated
    models this operator never uses (guestgate.kube talks JSON). And glibc gives each thread
    that allocates an arena of its own (the API calls run in a thread pool), which keeps freed
    memory: two arenas are plenty for one event loop and a few blocking calls."""
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


def run(args: argparse.Namespace) -> int:
    _lean_process()
    import kopf
    from prometheus_client import start_http_server

    import guestgate.controllers.handlers  # noqa: F401  (registers the handlers)
    from guestgate.controllers.endpoints import parse_static_endpoints
    from guestgate.kube.client import Kube
    from guestgate.render.names import FIELD_MANAGER

    setup_logging(args.log_level)
    logging.getLogger("kopf").setLevel(logging.WARNING)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    if args.kubeconfig:
        import os

        os.environ["KUBECONFIG"] = args.kubeconfig
    try:
        endpoints = parse_static_endpoints(args.signal_endpoint)
    except ValueError as error:
        print(f"guestgate operator: {error}", file=sys.stderr)
        return 2
    memo = kopf.Memo(kube=Kube.from_environment(FIELD_MANAGER, args.kubeconfig), signal_endpoints=endpoints,
                     namespaces=list(args.namespace), config_push=args.config_push)
    asyncio.run(
        kopf.operator(
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None,
            memo=memo,
        )
    )
    return 0
