"""Signalling pods under change, on the real node: a pod deleted while calls are being placed, and a
configuration change reaching running pods without a restart and without dropping a call."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fixtures.operator import wait_for
from node.conftest import CLUSTER, DEMO_NAMESPACE, SIGNAL_SELECTOR, AdminAPI, Node, pod_ready

pytestmark = [pytest.mark.cluster, pytest.mark.node]
log = logging.getLogger(__name__)

ROUNDS = 6  # rounds of calls from every Ready pod: bounded, about 3 s each against the SIPp peer


def _three_ready(admin: AdminAPI) -> dict[str, str] | None:
    pods = admin.ready_pods()
    return pods if len(pods) == 3 else None


def _pods_by_name(node: Node) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in node.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR)}


def test_deleting_a_pod_during_calls_spares_the_others_and_the_statefulset_heals(
    node_cluster: Node, examples: list[dict[str, Any]]
) -> None:
    admin = AdminAPI.of(node_cluster)
    pods = wait_for("3 Ready pods", lambda: _three_ready(admin), timeout=120)
    victim = f"{CLUSTER}-signal-1"
    survivors = {name: ip for name, ip in pods.items() if name != victim}
    outcomes: dict[str, list[str]] = {name: [] for name in pods}
    deleted = threading.Event()

    def place(name: str, ip: str) -> None:
        outcomes[name].append(admin.call(ip))

    with ThreadPoolExecutor(max_workers=3) as pool:
        for round_number in range(ROUNDS):
            futures = [pool.submit(place, name, ip) for name, ip in pods.items()]
            if round_number == 1:
                # Mid-call: the victim's call of this round is in flight.
                time.sleep(0.5)
                node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "delete", "pod", victim, "--wait=false")
                deleted.set()
            for future in futures:
                future.result(timeout=120)
            if deleted.is_set():
                pods = {name: ip for name, ip in pods.items() if name != victim}

    failed = {name: [o for o in results if o != "OK"] for name, results in outcomes.items()}
    log.info("call outcomes %s", json.dumps(outcomes))
    print(f"\nfailed calls during the pod deletion: {sum(len(f) for f in failed.values())} "
          f"(victim {victim}: {failed[victim]}; others: {[f for n, f in failed.items() if n != victim]})")
    for name in survivors:
        assert outcomes[name] == ["OK"] * ROUNDS, f"calls on {name} were affected: {outcomes[name]}"

    # The StatefulSet heals: a new pod of the same name, Ready, with a new UID.
    def back() -> dict[str, Any] | None:
        pod = _pods_by_name(node_cluster).get(victim)
        return pod if pod is not None and pod_ready(pod) else None

    healed = wait_for("the deleted pod back and Ready", back, timeout=180)
    assert healed["status"]["podIP"]
    # New calls succeed on every pod, the new one included.
    fresh = AdminAPI.of(node_cluster).ready_pods()
    assert len(fresh) == 3
    with ThreadPoolExecutor(max_workers=3) as pool:
        after = dict(zip(fresh, pool.map(admin.call, fresh.values()), strict=True))
    assert set(after.values()) == {"OK"}, after


def test_a_config_change_reaches_running_pods_without_restart_or_dropping_a_call(
    node_cluster: Node, examples: list[dict[str, Any]]
) -> None:
    admin = AdminAPI.of(node_cluster)
    pods = wait_for("3 Ready pods", lambda: _three_ready(admin), timeout=180)
    before = _pods_by_name(node_cluster)
    identity = {name: (p["metadata"]["uid"], p["status"]["containerStatuses"][0]["restartCount"])
                for name, p in before.items()}
    digests = {name: admin.digest(ip) for name, ip in pods.items()}

    # A call in progress on one pod while the configuration changes under it.
    first_ip = next(iter(pods.values()))
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(admin.call, first_ip)
        time.sleep(0.3)
        link = {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink",
                "metadata": {"name": "node-test-link", "namespace": DEMO_NAMESPACE},
                "spec": {"clusterRef": CLUSTER, "trunkRef": "cube", "destination": "2999",
                         "displayName": "Added while calls run"}}
        node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps(link))
        node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "patch", "siptrunk", "cube", "--type=merge",
                                     "-p", json.dumps({"spec": {"codecs": ["PCMA", "PCMU"]}}))
        # The kubelet refreshes mounted ConfigMaps on its sync (10 s here) plus the pods' reload.
        changed = wait_for("every pod on the new configuration", lambda: all(
            admin.digest(ip) != digests[name] for name, ip in pods.items()) or None, timeout=120)
        assert changed
        assert in_flight.result(timeout=120) == "OK", "the call in progress survived the reload"

    after = _pods_by_name(node_cluster)
    assert {name: (p["metadata"]["uid"], p["status"]["containerStatuses"][0]["restartCount"])
            for name, p in after.items()} == identity, "no pod was restarted or replaced"
    trunk = next(t for t in admin.request(first_ip, "GET", "/v1/trunks", timeout=10)["trunks"]
                 if t["trunk"] == f"{DEMO_NAMESPACE}/cube")
    assert trunk["profileHash"], trunk
    # A call with the changed profile still works.
    assert admin.call(first_ip) == "OK"
