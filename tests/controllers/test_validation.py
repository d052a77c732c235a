"""Bad input is rejected by the API server itself, with a message that says what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fixtures.operator import Kubectl

pytestmark = pytest.mark.cluster

CLUSTER = {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": {"name": "bad"},
           "spec": {"publicURL": "https://call.example.com"}}
TRUNK = {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk", "metadata": {"name": "bad"},
         "spec": {"clusterRef": "gc", "peer": {"host": "cucm.example.com"}}}
LINK: dict[str, Any] = {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": {"name": "bad"},
        "spec": {"clusterRef": "gc", "trunkRef": "t", "destination": "2001", "displayName": "Sales"}}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    node = obj["spec"]
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return obj


CASES = [
    ("replicas 0", _with(CLUSTER, "replicas", 0), "should be greater than or equal to 1"),
    ("replicas 51", _with(CLUSTER, "replicas", 51), "should be less than or equal to 50"),
    ("publicURL not a URL", _with(CLUSTER, "publicURL", "call.example.com"), "spec.publicURL"),
    ("unknown transport", _with(CLUSTER, "sip.transports", ["udp", "sctp"]), "Unsupported value: \"sctp\""),
    ("tls without a certificate", _with(CLUSTER, "sip.transports", ["tls"]), "tlsSecretName is required"),
    ("TURN without a secret", _with(CLUSTER, "ice.turnURLs", ["turn:turn.example.com"]), "turnSecretName"),
    ("unknown field", _with(CLUSTER, "replicaz", 3), "unknown field \"spec.replicaz\""),
    ("relay ports over the SIP engine's RTP", _with(CLUSTER, "media.ports", {"min": 24000, "max": 25999}),
     "media.ports must stay clear of 20000-24999"),
    ("wrong prack enum", _with(TRUNK, "prack", "disabled"), "Unsupported value: \"disabled\""),
    ("wrong platform", _with(TRUNK, "platform", "avaya"), "Unsupported value: \"avaya\""),
    ("unknown codec", _with(TRUNK, "codecs", ["OPUS"]), "Unsupported value: \"OPUS\""),
    ("duplicate codecs", _with(TRUNK, "codecs", ["PCMU", "PCMU"]), "codecs must be unique"),
    ("negative keepalive interval", _with(TRUNK, "keepalive.intervalSeconds", -5),
     "should be greater than or equal to 0"),
    ("duplicate destination names", _with(TRUNK, "healthCheck.destinations",
                                          [{"name": "local", "number": "1"}, {"name": "local", "number": "2"}]),
     "destination names must be unique"),
    ("health-check timeout below media time", _with(TRUNK, "healthCheck", {"timeoutSeconds": 2, "minMediaSeconds": 5}),
     "timeoutSeconds must be greater than minMediaSeconds"),
    ("minSE above expires", _with(TRUNK, "sessionTimer", {"expires": 100, "minSE": 200}),
     "minSE must not exceed expires"),
    ("port out of range", _with(TRUNK, "peer", {"host": "x", "port": 70000}), "should be less than or equal to 65535"),
    ("missing peer", {**TRUNK, "spec": {"clusterRef": "gc"}}, "spec.peer: Required value"),
    ("bad destination", _with(LINK, "destination", "2001@evil.example.com;transport=tcp"), "spec.destination"),
    ("validUntil before validFrom", _with(_with(LINK, "validFrom", "2027-02-01T00:00:00Z"), "validUntil",
                                          "2027-01-01T00:00:00Z"), "validUntil must be after validFrom"),
    ("validFrom not a time", _with(LINK, "validFrom", "next tuesday"), "spec.validFrom"),
    ("video asked for", _with(LINK, "media", {"video": True}), "set media.videoPolicy"),
    ("slug with capitals", _with(LINK, "slug", "Sales"), "spec.slug"),
    ("auto-call after a minute", _with(LINK, "autoCallAfterSeconds", 61), "should be less than or equal to 60"),
    ("auto-call negative", _with(LINK, "autoCallAfterSeconds", -1), "should be greater than or equal to 0"),
    ("a language we have no catalogue for", _with(LINK, "language", "it"), "Unsupported value: \"it\""),
    ("a colour that is not #rrggbb", _with(CLUSTER, "branding", {"colors": {"accent": "red"}}),
     "spec.branding.colors.accent"),
    ("CSS smuggled in a colour", _with(LINK, "branding", {"colors": {"background": "#fff;}body{x"}}),
     "spec.branding.colors.background"),
    ("a logo with both a URL and a ConfigMap", _with(CLUSTER, "branding", {"logo": {
        "url": "https://cdn.example.com/l.png", "configMap": {"name": "brand", "key": "logo.png"}}}),
     "logo needs exactly one of url and configMap"),
    ("a logo with neither", _with(LINK, "branding", {"logo": {"alt": "Corp"}}),
     "logo needs exactly one of url and configMap"),
    ("a logo URL that breaks out of the CSP", _with(CLUSTER, "branding", {"logo": {
        "url": "https://cdn.example.com/x.png; script-src *"}}), "spec.branding.logo.url"),
    ("a logo key that is no image", _with(CLUSTER, "branding", {"logo": {
        "configMap": {"name": "brand", "key": "page.html"}}}), "spec.branding.logo.configMap.key"),
    ("a title too long", _with(CLUSTER, "branding", {"title": "x" * 81}), "spec.branding.title"),
    ("caller name with a quote", _with(LINK, "callerName", 'x" <sip:evil>'), "spec.callerName"),
    ("rate limit zero", _with(LINK, "access", {"callsPerMinutePerIP": 0}), "should be greater than or equal to 1"),
    ("missing destination", {**LINK, "spec": {k: v for k, v in LINK["spec"].items() if k != "destination"}},
     "spec.destination: Required value"),
]


@pytest.mark.parametrize(("case", "manifest", "message"), CASES, ids=[c[0] for c in CASES])
def test_rejected_with_a_readable_message(kube: Kubectl, case: str, manifest: dict[str, Any], message: str) -> None:
    done = kube.apply(manifest, check=False)
    assert done.returncode != 0, f"{case}: accepted"
    assert message in done.stderr, f"{case}: {done.stderr}"


def test_good_objects_are_accepted_with_defaults(kube: Kubectl) -> None:
    kube.apply(TRUNK)
    trunk = kube.get("siptrunk", "bad")
    assert trunk is not None
    spec = trunk["spec"]
    assert spec["prack"] == "supported"
    assert spec["codecs"] == ["PCMU", "PCMA", "G722"]
    assert spec["peer"]["port"] == 5060 and spec["peer"]["transport"] == "udp"
    assert spec["earlyMedia"] == {"localRingback": "auto", "disableOn180": False}
    assert spec["keepalive"] == {"intervalSeconds": 30, "failureThreshold": 3}


def test_a_branded_cluster_and_link_with_language_and_auto_call_are_accepted(kube: Kubectl) -> None:
    branding = {
        "title": "Example Corp",
        "logo": {"configMap": {"name": "brand", "key": "logo.svg"}, "alt": "Example Corp"},
        "colors": {"accent": "#0B5CAD", "background": "#ffffff"},
        "text": "We answer weekdays 8-18.",
    }
    kube.apply(_with(CLUSTER, "branding", branding))
    link = _with(_with(_with(LINK, "language", "de"), "autoCallAfterSeconds", 60), "branding",
                 {"logo": {"url": "https://cdn.example.com/sales.png"}, "colors": {"accent": "#7a1f1f"}})
    kube.apply(link)
    cluster = kube.get("guestcluster", "bad")
    assert cluster is not None and cluster["spec"]["branding"] == branding
    stored = kube.get("guestlink", "bad")
    assert stored is not None
    assert (stored["spec"]["language"], stored["spec"]["autoCallAfterSeconds"]) == ("de", 60)
