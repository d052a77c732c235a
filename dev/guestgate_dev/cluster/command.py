"""`guestgate-dev cluster up|down|status|build`: a local Kubernetes for people without one.

    guestgate-dev cluster up            # build on first use (minutes), start, print `export KUBECONFIG=...`
    guestgate-dev cluster up --node     # the same plus a node (scheduler, containerd, kubelet, kube-proxy; root)
    eval "$(guestgate-dev cluster up)"  # the same, and point this shell at it
    guestgate-dev cluster status
    guestgate-dev cluster down          # stop; `down --delete` also removes data, certificates, logs
    guestgate-dev cluster build         # only build the pinned binaries (CI, Makefile)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from guestgate_dev.cluster.cluster import DEFAULT_NAME, ClusterError, ClusterStatus, DevCluster, export_line
from guestgate_dev.cluster.components import CONTROL_PLANE, WITH_NODE
from guestgate_dev.cluster.gobuild import BuildError, build_binaries, ensure_binaries
from guestgate_dev.cluster.images import ImageError
from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.cluster.versions import ALL_BINARIES, KUBECTL

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--name", default=DEFAULT_NAME, help=f"cluster name (default {DEFAULT_NAME})")
        return command

    up = add("up", "build if needed, start the cluster and print `export KUBECONFIG=...`")
    up.add_argument("--fresh", action="store_true", help="wipe the cluster's data and certificates first")
    up.add_argument("--node", action="store_true",
                    help="also run a node: kube-scheduler, containerd, kubelet and kube-proxy, so pods run "
                         "(needs root; one node per machine)")
    down = add("down", "stop the cluster (its data is kept for the next `up`)")
    down.add_argument("--delete", action="store_true", help="also remove data, certificates and logs")
    add("status", "show each component, the server URL and whether the API is ready "
                  "(exit 0 only when running and ready)")
    add("images", "build the operator and signalling images from images/ (buildah, cached) and import "
                  "them into the cluster's node; prints their references")
    sub.add_parser("build", help="build the pinned binaries into the cache, nothing else",
                   description="build the pinned binaries into the cache, nothing else")


def _setup_logging() -> None:
    # Progress goes to stderr so `eval "$(guestgate-dev cluster up)"` only sees the export line.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(args: argparse.Namespace) -> int:
    _setup_logging()
    try:
        match args.cluster_command:
            case "build":
                return _build()
            case "up":
                components = WITH_NODE if args.node else CONTROL_PLANE
                cluster = DevCluster(args.name, components=components).start(fresh=args.fresh)
                kubectl = ensure_binaries([KUBECTL])["kubectl"]
                print(f"kubectl {KUBECTL.version} (if you have none): {kubectl}", file=sys.stderr)
                print(export_line(cluster.kubeconfig))
                return 0
            case "down":
                cluster = DevCluster.existing(args.name)
                if args.delete:
                    cluster.delete()
                    print(f"cluster {args.name} stopped and deleted", file=sys.stderr)
                else:
                    stopped = cluster.stop()
                    outcome = "stopped" if stopped else "was not running"
                    print(f"cluster {args.name} {outcome}", file=sys.stderr)
                return 0
            case "images":
                return _images(args.name)
            case "status":
                status = DevCluster.existing(args.name).status()
                print(format_status(status))
                return 0 if status.running and status.ready else 1
    except (ClusterError, BuildError, ImageError, ValueError) as error:
        print(f"guestgate-dev cluster {args.cluster_command}: {error}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled subcommand {args.cluster_command!r}")


def _images(name: str) -> int:
    from guestgate_dev.cluster.images import load_images
    from guestgate_dev.cluster.node import NodePaths

    cluster = DevCluster.existing(name)
    if not cluster.status().running or "kubelet" not in {c.name for c in cluster.components}:
        print(f"guestgate-dev cluster images: cluster {name} runs no node; start it with "
              f"`guestgate-dev cluster up --node --name {name}`", file=sys.stderr)
        return 1
    for image in load_images(NodePaths(cluster.state_dir).containerd_socket).values():
        how = f"built in {image.seconds:.0f}s" if image.built else "cached"
        print(f"{image.spec_name:10} {how:16} {image.ref}")
    return 0


def _build() -> int:
    started = time.monotonic()
    for result in build_binaries(ALL_BINARIES, CacheLayout.default()):
        how = f"built in {result.seconds:.0f}s" if result.built else "cached"
        print(f"{result.binary.cache_name:32} {how:18} {result.path}")
    print(f"total {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


def format_status(status: ClusterStatus) -> str:
    if not status.exists:
        hint = f"start it with `guestgate-dev cluster up --name {status.name}`"
        return f"cluster {status.name}: does not exist ({hint})"
    if status.running:
        state = "running, API ready" if status.ready else "running, API not ready"
    elif any(c.running for c in status.components):
        state = "partly running (run `guestgate-dev cluster down` then `up`)"
    else:
        state = "stopped"
    lines = [
        f"cluster {status.name}: {state}",
        f"  server:     {status.server or '-'}",
        f"  kubeconfig: {status.kubeconfig}",
        f"  state dir:  {status.state_dir}",
    ]
    for component in status.components:
        pid = f"pid {component.pid}" if component.pid else "stopped"
        lines.append(f"  {component.name:24} {pid:12} log {component.log_file}")
    return "\n".join(lines)
