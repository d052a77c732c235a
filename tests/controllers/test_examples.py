"""The examples, applied to the real control plane, become the children and status a user expects."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import yaml

from fixtures.operator import Kubectl, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = ["brand-logo.yaml", "guestcluster.yaml", "siptrunk-cucm.yaml", "siptrunk-cube.yaml", "guestlink-sales.yaml",
         "guestlink-support.yaml", "guestlink-webinar.yaml"]

pytestmark = pytest.mark.cluster


def _apply_examples(kube: Kubectl) -> None:
    for name in FILES:
        kube("apply", "-f", str(EXAMPLES / name))


def test_kustomization_builds_every_example(kube: Kubectl) -> None:
    built = list(yaml.safe_load_all(kube.cluster.kubectl("kustomize", str(EXAMPLES)).stdout))
    kinds = sorted(d["kind"] for d in built)
    assert kinds == ["ConfigMap", "GuestCluster", "GuestLink", "GuestLink", "GuestLink", "Namespace", "SipTrunk",
                     "SipTrunk"]


def test_examples_make_children_and_status(kube: Kubectl) -> None:
    _apply_examples(kube)
    sts = wait_for("the StatefulSet", lambda: kube.get("statefulset", "contact-center-signal"))
    spec = sts["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:1] == ["signal"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert "guestgate.io/config-hash" in spec["template"]["metadata"]["annotations"]
    # The logo ConfigMap is projected into the pods' config dir, where the pages serve it from.
    (config,) = [v for v in pod["volumes"] if v["name"] == "config"]
    logo = {"name": "brand", "optional": True, "items": [{"key": "logo.svg", "path": "brand/brand/logo.svg"}]}
    assert {"configMap": logo} in config["projected"]["sources"]
    assert sts["metadata"]["ownerReferences"][0]["kind"] == "GuestCluster"

    for kind, name in [("service", "contact-center-signal"), ("service", "contact-center-signal-pods"),
                       ("pdb", "contact-center-signal"), ("serviceaccount", "contact-center-signal"),
                       ("configmap", "contact-center-config"), ("secret", "contact-center-signing-key"),
                       ("secret", "contact-center-admin-token"), ("secret", "contact-center-trunk-credentials")]:
        obj = wait_for(f"{kind}/{name}", functools.partial(kube.get, kind, name))
        assert obj["metadata"]["ownerReferences"][0]["name"] == "contact-center", (kind, name)
    svc = kube.get("service", "contact-center-signal")
    assert svc is not None
    assert {(p["name"], p["protocol"]) for p in svc["spec"]["ports"]} >= {("sip-udp", "UDP"), ("sip-tcp", "TCP")}
    headless = kube.get("service", "contact-center-signal-pods")
    assert headless is not None and headless["spec"]["clusterIP"] == "None"

    def links_published() -> list[dict[str, object]] | None:
        cm = kube.get("configmap", "contact-center-config")
        links = json.loads(cm["data"]["links.json"])["links"] if cm else []
        return links if len(links) == 3 else None

    links = wait_for("three links in the published config", links_published)
    webinar_link = next(entry for entry in links if entry["name"] == "launch-event")
    assert (webinar_link["language"], webinar_link["autoCallAfterSeconds"]) == ("de", 5)
    assert {entry["path"] for entry in links} == {"/call/sales", f"/call/{kube.namespace}/support",
                                                  f"/call/{kube.namespace}/launch-event"}
    cm = kube.get("configmap", "contact-center-config")
    assert cm is not None
    trunks = json.loads(cm["data"]["trunks.json"])["trunks"]
    assert [t["name"] for t in trunks] == ["cube", "cucm"]

    sales = wait_for("sales status", lambda: kube.status("guestlink", "sales").get("url") and
                     kube.status("guestlink", "sales"))
    assert sales["url"] == "https://call.example.com/call/sales" and sales["phase"] == "Active"
    webinar = wait_for("webinar phase", lambda: kube.status("guestlink", "launch-event").get("phase"))
    assert webinar == "Scheduled"
    rendered = wait_for("trunk profile", lambda: kube.condition("siptrunk", "cucm", "ProfileRendered"))
    assert rendered["status"] == "True"
    assert kube.status("siptrunk", "cucm")["profileHash"]
    gc_status = wait_for("cluster status", lambda: kube.status("guestcluster", "contact-center").get("links") == 3
                         and kube.status("guestcluster", "contact-center"))
    assert gc_status["linkBaseURL"] == "https://call.example.com/call/"
    peers_only = kube.condition("guestcluster", "contact-center", "SipPeersOnly")
    assert peers_only is not None and peers_only["reason"] == "PeersByName"  # the examples name their peers
    assert kube.get("networkpolicy", "contact-center-signal") is not None
    redundant = kube.condition("guestcluster", "contact-center", "Redundant")
    assert redundant is not None and redundant["status"] == "True"

    # What a user sees in kubectl's columns.
    table = kube("get", "guestlinks").stdout
    assert table.split("\n")[0].split() == ["NAME", "URL", "PHASE", "DESTINATION", "AGE"]
    assert "https://call.example.com/call/sales" in table and "Scheduled" in table
    trunk_table = kube("get", "st").stdout
    header = trunk_table.split("\n")[0].split()
    assert header[:5] == ["NAME", "PEER", "PLATFORM", "PRACK", "REACHABLE"]
    assert "cucm-pub.example.com" in trunk_table and "supported" in trunk_table
    everything = kube("get", "guestgate").stdout
    for kind in ("guestcluster.guestgate.io/contact-center", "siptrunk.guestgate.io/cube",
                 "guestlink.guestgate.io/sales"):
        assert kind in everything


def test_events_are_posted_on_changes(kube: Kubectl) -> None:
    _apply_examples(kube)
    wait_for("an Applied event", lambda: "Applied" in kube("get", "events").stdout)
