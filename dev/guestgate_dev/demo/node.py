"""`guestgate-dev demo --node`: the demo on real pods.

A local cluster with a node (containerd, kubelet, kube-proxy), the operator and signalling images
built from `images/` with buildah and imported into it, the chart installed with Helm (the
operator runs as a pod), the examples applied with the local signalling image (3 pods), a pjsua2
echo phone on this host's address behind a demo SipTrunk, a demo GuestLink, and a NodePort on
127.0.0.1 in front of the pods' web port: the printed link works in a browser on this machine.
Root only (the node), one node per machine. Ctrl-C stops the phone and the cluster.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from guestgate.config.schema import TRUNKS_FILE, files_digest, is_links_file
from guestgate.render import names
from guestgate_dev.cluster import DevCluster
from guestgate_dev.cluster.components import WITH_NODE
from guestgate_dev.cluster.images import load_images
from guestgate_dev.cluster.node import NodePaths
from guestgate_dev.demo.console import serve_until_stopped, step
from guestgate_dev.demo.local import stop_on_signals
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "guestgate-demo"
RELEASE_NAMESPACE = "guestgate-system"
CLUSTER = "contact-center"
LINK = "try-me"
SERVICE = "links-local"
SELECTOR = {"app.kubernetes.io/name": "guestgate-signal", "app.kubernetes.io/instance": CLUSTER}


def _wait(what: str, probe: Callable[[], Any], stop: dict[str, bool], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop["now"]:
        found = probe()
        if found:
            return found
        time.sleep(1.0)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def served_everywhere(status: dict[str, Any], files: dict[str, str], phone: str) -> str | None:
    """A line saying so once a call through the demo link would connect: the rendered
    configuration (the ConfigMaps' `files`) has the demo link and the demo trunk towards the
    phone's current address, and every signalling pod is ready and serves exactly that
    configuration (the GuestCluster's status, which the operator keeps from the pods' own word).
    Else None. Pure, for the tables."""
    trunks = json.loads(files.get(TRUNKS_FILE, "{}")).get("trunks", [])
    trunk = next((t for t in trunks if t.get("id") == f"{NAMESPACE}/demo-phone"), None)
    peers = [f"{p.get('host')}:{p.get('port')}" for p in (trunk or {}).get("peers", [])]
    has_link = any(
        link.get("path") == f"/call/{LINK}"
        for name, text in files.items() if is_links_file(name)
        for link in json.loads(text).get("links", [])
    )
    replicas = int(status.get("replicas") or 0)
    if not (trunk and peers[:1] == [phone] and has_link and replicas):
        return None
    if status.get("configDigest") != files_digest(files):
        return None
    if not (status.get("readyReplicas") == replicas == status.get("podsServingConfig")):
        return None
    return f"all {replicas} signalling pods serve the demo link and trunk (config {status['configDigest']})"


def _served(cluster: DevCluster, phone: str) -> str | None:
    items = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "configmaps", "-o", "json").stdout)["items"]
    ours = {names.config_map_name(CLUSTER)} | {names.links_config_map_name(CLUSTER, i) for i in range(1, 16)}
    files = {k: v for cm in items if cm["metadata"]["name"] in ours for k, v in (cm.get("data") or {}).items()}
    done = cluster.kubectl("-n", NAMESPACE, "get", "guestcluster", CLUSTER, "-o", "json", check=False)
    status = (json.loads(done.stdout).get("status") or {}) if done.returncode == 0 else {}
    return served_everywhere(status, files, phone)


def demo_objects(host: str, phone_port: int, origin: str) -> list[dict[str, Any]]:
    """What the demo adds to the examples: the phone's trunk and link, and the NodePort (client
    affinity: the page, the call and its event socket reach the same pod)."""
    return [
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk",
         "metadata": {"name": "demo-phone", "namespace": NAMESPACE},
         "spec": {"clusterRef": CLUSTER, "platform": "generic",
                  "peer": {"host": host, "port": phone_port, "transport": "udp"}, "keepalive": {"intervalSeconds": 10},
                  "healthCheck": {"destinations": [{"name": "phone", "number": "2001"}], "intervalSeconds": 0}}},
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink",
         "metadata": {"name": LINK, "namespace": NAMESPACE},
         "spec": {"clusterRef": CLUSTER, "trunkRef": "demo-phone", "destination": "2001", "slug": LINK,
                  "displayName": "Try GuestGate: a phone that echoes you", "access": {"allowedOrigins": [origin]}}},
    ]


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # A name of its own: `guestgate-dev demo`'s control-plane cluster of the same name may be running.
    cluster = DevCluster(f"{args.name}-node", components=WITH_NODE)
    phone: subprocess.Popen[bytes] | None = None
    stop = stop_on_signals()
    try:
        step("local cluster with a node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, "
             "containerd, kubelet, kube-proxy (Go builds on first run: minutes; cached afterwards)")
        cluster.start()
        step(f"cluster up: export KUBECONFIG={cluster.kubeconfig}")
        step("images from images/ with buildah (a Debian base on first run: about 2 minutes), imported into the node")
        images = load_images(NodePaths(cluster.state_dir).containerd_socket)
        for image in images.values():
            print(f"   {image.ref}", flush=True)
        repository, tag = images["operator"].ref.rsplit(":", 1)
        step("helm install charts/guestgate: the operator runs as a pod")
        cluster.helm("upgrade", "--install", "guestgate", str(REPO / "charts" / "guestgate"), "-n", RELEASE_NAMESPACE,
                     "--create-namespace", "--wait", "--timeout", "180s", "--set", f"image.repository={repository}",
                     "--set-string", f"image.tag={tag}", "--set", "image.pullPolicy=Never")
        host = json.loads(cluster.layout.state_file.read_text())["advertiseAddress"]
        logs = cluster.state_dir / "logs"
        phone_port = free_port(address=host)
        step(f"demo phone: pjsua2 on {host}:{phone_port} (the host address pods reach), answers and echoes")
        phone = subprocess.Popen(
            [sys.executable, "-m", "guestgate_dev.demo.phone", "--bind", host, "--port", str(phone_port),
             "--mode", "echo"],
            stdout=(logs / "demo-phone.log").open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                   "spec": {"type": "NodePort", "sessionAffinity": "ClientIP", "selector": SELECTOR,
                            "ports": [{"name": "web", "port": 8080, "targetPort": "web", "protocol": "TCP"}]}}
        step(f"applying the examples from {args.examples} with the local signalling image, the demo trunk and link")
        examples = [d for d in yaml.safe_load_all(cluster.kubectl("kustomize", str(args.examples)).stdout) if d]
        for manifest in examples:
            if manifest["kind"] == "GuestCluster":
                manifest["spec"]["image"] = images["signal"].ref
                # rtpengine beside every pod: the demo's browser call goes through the relay.
                manifest["spec"].setdefault("media", {})["image"] = images["media"].ref
                manifest["spec"].setdefault("turn", {})["image"] = images["turn"].ref
        cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                             "items": [*examples, service]}))
        node_port = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "service", SERVICE, "-o", "json").stdout)[
            "spec"]["ports"][0]["nodePort"]
        origin = f"http://127.0.0.1:{node_port}"
        cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": demo_objects(
            host, phone_port, origin)}))
        url = f"{origin}/call/{LINK}"
        step("waiting for 3 signalling pods Ready, each serving the demo link and trunk")
        step(_wait("every pod serving the current configuration", lambda: _served(cluster, f"{host}:{phone_port}"),
                   stop, timeout=300))
        _wait("the link page", lambda: _answers(url), stop, timeout=60)
        print(cluster.kubectl("-n", NAMESPACE, "get", "pods,guestgate", "-o", "wide").stdout, flush=True)
        step(f"ready in {time.monotonic() - started:.0f}s; logs: {logs}")
        running = phone
        gone = f"the demo phone exited; see {logs / 'demo-phone.log'}"
        return serve_until_stopped(url, stop, args.exit_after, lambda: gone if running.poll() is not None else None)
    except RuntimeError as error:
        print(f"guestgate-dev demo --node: {error}", file=sys.stderr)
        return 1
    finally:
        step("stopping")
        stop_process(phone)
        if not args.keep_cluster:
            cluster.stop()
