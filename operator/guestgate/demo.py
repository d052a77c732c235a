"""`guestgate demo` (`make demo`): the product on its embedded default, on this machine.

Starts the local control plane (building it on first use), installs the CRDs, runs the operator,
applies the examples and prints each resource's status and the links' URLs; then waits for
Ctrl-C and stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from guestgate.devcluster import DevCluster

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "guestgate-demo"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="demo", help="name of the local cluster (default demo)")
    parser.add_argument("--examples", type=Path, default=REPO / "examples", help="folder with a kustomization")
    parser.add_argument("--exit-after", type=float, default=None, metavar="SECONDS",
                        help="stop by itself after this many seconds (for scripts and tests)")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster running on exit")


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _links(cluster: DevCluster) -> list[dict[str, str]]:
    items = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "guestlinks", "-o", "json").stdout)["items"]
    return [{"name": i["metadata"]["name"], **(i.get("status") or {})} for i in items]


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    cluster = DevCluster(args.name)
    operator: subprocess.Popen[bytes] | None = None
    stop = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        step("local control plane: etcd, kube-apiserver, kube-controller-manager "
             "(built from their Go modules on first run: several minutes; cached afterwards)")
        cluster.start()
        step(f"cluster up: export KUBECONFIG={cluster.kubeconfig}")
        step("installing the CRDs")
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        for crd in ("guestclusters", "siptrunks", "guestlinks"):
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}.guestgate.io", "--timeout=60s")
        step("starting the operator")
        log_path = cluster.state_dir / "logs" / "operator.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        operator = subprocess.Popen(
            [sys.executable, "-m", "guestgate", "operator", "--kubeconfig", str(cluster.kubeconfig),
             "--metrics-port", "0", "--health-port", "0"],
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, env=cluster.env(),
        )
        step(f"applying the examples from {args.examples} (namespace {NAMESPACE})")
        cluster.kubectl("apply", "-k", str(args.examples))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop["now"]:
            links = _links(cluster)
            if links and all(link.get("phase") for link in links):
                break
            if operator.poll() is not None:
                print(f"the operator exited; see {log_path}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(cluster.kubectl("-n", NAMESPACE, "get", "guestgate").stdout)
        step("links")
        for link in _links(cluster):
            print(f"   {link['name']:<14} {link.get('phase', '?'):<10} {link.get('url', '')}")
        step(f"ready in {time.monotonic() - started:.0f}s; operator log: {log_path}")
        print("   Ctrl-C stops everything this command started.", flush=True)
        until = None if args.exit_after is None else time.monotonic() + args.exit_after
        while not stop["now"] and (until is None or time.monotonic() < until):
            if operator.poll() is not None:
                print(f"the operator exited; see {log_path}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        step("stopping")
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()
        if not args.keep_cluster:
            cluster.stop()
