"""`guestgate-dev demo` (`make demo`): the product on its embedded default, on this machine.

Starts the local control plane (building it on first use), installs the CRDs, runs the operator,
applies the examples, then the demo's own GuestCluster, SipTrunk and GuestLink, a pjsua2 phone
behind that trunk and the signalling server as a local process fed by the operator's ConfigMap
(demo/local.py); prints each resource's status and the links' URLs, with the one to open in a
browser on this machine; then waits for Ctrl-C and stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from guestgate_dev.cluster import DevCluster
from guestgate_dev.demo.console import serve_until_stopped, step
from guestgate_dev.demo.local import DEMO_CLUSTER, DemoPorts, LocalSignal, stop_on_signals

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "guestgate-demo"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="demo", help="name of the local cluster (default demo)")
    parser.add_argument("--examples", type=Path, default=REPO / "examples", help="folder with a kustomization")
    parser.add_argument("--exit-after", type=float, default=None, metavar="SECONDS",
                        help="stop by itself after this many seconds (for scripts and tests)")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster running on exit")
    parser.add_argument("--node", action="store_true",
                        help="real pods: a node, images built with buildah, the chart installed with Helm "
                             "(root; see guestgate_dev.demo.node)")
    parser.add_argument("--no-call", action="store_true",
                        help="skip the demo phone and the local signalling server (resources only)")


def _links(cluster: DevCluster) -> list[dict[str, str]]:
    items = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "guestlinks", "-o", "json").stdout)["items"]
    return [{"name": i["metadata"]["name"], **(i.get("status") or {})} for i in items]


def _wait_phases(
    cluster: DevCluster, stop: dict[str, bool], operator: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stop["now"]:
        links = _links(cluster)
        if links and all(link.get("phase") for link in links):
            return
        if operator.poll() is not None:
            raise RuntimeError(f"the operator exited; see {log_path}")
        time.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    if args.node:
        from guestgate_dev.demo import node as demo_node

        return demo_node.run(args)
    started = time.monotonic()
    cluster = DevCluster(args.name)
    operator: subprocess.Popen[bytes] | None = None
    local: LocalSignal | None = None
    stop = stop_on_signals()
    try:
        step("local control plane: etcd, kube-apiserver, kube-controller-manager "
             "(built from their Go modules on first run: several minutes; cached afterwards)")
        cluster.start()
        step(f"cluster up: export KUBECONFIG={cluster.kubeconfig}")
        step("installing the CRDs")
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        for crd in ("guestclusters", "siptrunks", "guestlinks"):
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}.guestgate.io", "--timeout=60s")
        ports = None if args.no_call else DemoPorts()
        step("starting the operator")
        log_path = cluster.state_dir / "logs" / "operator.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        operator = subprocess.Popen(
            [sys.executable, "-m", "guestgate", "operator", "--kubeconfig", str(cluster.kubeconfig),
             "--metrics-port", "0", "--health-port", "0",
             # The demo's signalling server runs outside the cluster: tell the operator where its
             # admin API is, so the demo trunk's Reachable/Healthy come from real checks.
             *([] if ports is None else ["--signal-endpoint", f"{NAMESPACE}/{DEMO_CLUSTER}={ports.admin_url}"])],
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, env=cluster.env(),
        )
        step(f"applying the examples from {args.examples} (namespace {NAMESPACE})")
        cluster.kubectl("apply", "-k", str(args.examples))
        if ports is not None:
            local = LocalSignal(cluster, NAMESPACE, ports)
            step(f"demo phone: pjsua2 on 127.0.0.1:{local.ports.phone}, answers and echoes what it hears")
            local.start_phone()
            step("demo GuestCluster 'local' (its publicURL is this machine), SipTrunk 'demo-phone', GuestLink 'try-me'")
            local.apply_resources()
            step("waiting for the operator to publish the demo configuration (ConfigMap local-config)")
            local.wait_published(lambda: stop["now"])
            step(f"signalling server: a local process on 127.0.0.1 (SIP {local.ports.sip}, web {local.ports.web}), "
                 f"fed by that ConfigMap")
            local.start_server()
            step("the operator checks the demo trunk through the server's admin API (a real call to the phone)")
            print(f"   siptrunk/demo-phone: {local.wait_trunk_checked(lambda: stop['now'])}", flush=True)
        _wait_phases(cluster, stop, operator, log_path)
        print(cluster.kubectl("-n", NAMESPACE, "get", "guestgate").stdout)
        step("links")
        for link in _links(cluster):
            print(f"   {link['name']:<14} {link.get('phase', '?'):<10} {link.get('url', '')}")
        step(f"ready in {time.monotonic() - started:.0f}s; logs: {log_path.parent}")
        next_sync = [time.monotonic()]
        running_operator, running_local = operator, local

        def check() -> str | None:
            if running_operator.poll() is not None:
                return f"the operator exited; see {log_path}"
            if running_local is None:
                return None
            problem = running_local.check()
            if not problem and time.monotonic() >= next_sync[0]:  # links and trunks edited with kubectl
                running_local.sync()                               # reach the server
                next_sync[0] = time.monotonic() + 2.0
            return problem

        return serve_until_stopped(local.url if local is not None else None, stop, args.exit_after, check)
    except RuntimeError as error:
        print(f"guestgate-dev demo: {error}", file=sys.stderr)
        return 1
    finally:
        step("stopping")
        if local is not None:
            local.stop()
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                operator.kill()
        if not args.keep_cluster:
            cluster.stop()
