"""The managed TURN edge: coturn's configuration, its children, the page's URLs, TurnReady."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.render import network, turn, workload
from guestgate.render.config import render_cluster_config
from guestgate.render.media_ports import PortSpan, policy_ports, signal_media_ports
from guestgate.render.turn import TurnEndpoint
from render.objects import cluster


def _conf_lines(**turn_spec: Any) -> list[str]:
    return turn.turnserver_conf(cluster(turn=turn_spec)).splitlines()


def test_conf_denies_every_peer_and_checks_rest_credentials() -> None:
    lines = _conf_lines()
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in lines
    assert "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" in lines
    assert not [line for line in lines if line.startswith("allowed-peer-ip")]  # only the pods, dynamically
    assert "use-auth-secret" in lines
    assert "no-multicast-peers" in lines and "no-tcp-relay" in lines
    assert not [line for line in lines if "allow-loopback-peers" in line]
    assert not [line for line in lines if "static-auth-secret" in line]  # the secret is never in a ConfigMap


@pytest.mark.parametrize(
    ("spec", "present", "absent"),
    [
        ({}, ["realm=call.example.com", "listening-port=3478", "no-tls", "user-quota=10", "total-quota=2000",
              "min-port=49152", "max-port=65535"], ["tls-listening-port=5349"]),
        ({"realm": "turn.example.net"}, ["realm=turn.example.net"], ["realm=call.example.com"]),
        ({"tlsSecretName": "turn-cert"}, ["tls-listening-port=5349", "cert=/etc/guestgate/turn-tls/tls.crt",
                                          "pkey=/etc/guestgate/turn-tls/tls.key", "no-tlsv1"], ["no-tls"]),
        ({"tlsSecretName": "turn-cert", "tlsPort": 443}, ["tls-listening-port=443"], []),
        ({"quotas": {"perUser": 4, "total": 100, "maxBps": 64000}},
         ["user-quota=4", "total-quota=100", "max-bps=64000"], []),
        ({"relayPorts": {"min": 40000, "max": 40100}}, ["min-port=40000", "max-port=40100"], []),
    ],
    ids=["defaults", "realm", "tls", "tls-443", "quotas", "relay-ports"],
)
def test_conf_follows_the_spec(spec: dict[str, Any], present: list[str], absent: list[str]) -> None:
    lines = _conf_lines(**spec)
    for line in present:
        assert line in lines
    for line in absent:
        assert line not in lines


@pytest.mark.parametrize(
    ("ips", "expected"),
    [
        ([], ""),
        (["10.1.0.7", "10.1.0.5"], "10.1.0.5\n10.1.0.7\n"),
        (["10.1.0.5", "10.1.0.5"], "10.1.0.5\n"),
        (["fd00::5"], "fd00::5\n"),
        (["10.1.0.5'); DROP TABLE x; --", "not-an-ip", ""], ""),
    ],
    ids=["none", "sorted", "deduplicated", "ipv6", "garbage-left-out"],
)
def test_peers_file_holds_only_addresses(ips: list[str], expected: str) -> None:
    assert turn.peers_file(ips) == expected


def _service(ports: dict[str, tuple[int, int]], ingress: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "spec": {"ports": [{"name": n, "port": p, "nodePort": np} for n, (p, np) in ports.items()]},
        "status": {"loadBalancer": {"ingress": ingress or []}},
    }


PLAIN = {"turn-udp": (3478, 31001), "turn-tcp": (3478, 31002)}
WITH_TLS = {**PLAIN, "turns": (5349, 31003)}


@pytest.mark.parametrize(
    ("spec", "service", "expected"),
    [
        ({"enabled": False}, _service(PLAIN, [{"ip": "198.51.100.7"}]), None),
        ({}, None, None),
        ({}, _service(PLAIN), None),
        ({}, _service(PLAIN, [{"ip": "198.51.100.7"}]), TurnEndpoint("198.51.100.7", 3478, 3478, None)),
        ({}, _service(PLAIN, [{"hostname": "lb.example.net"}]), TurnEndpoint("lb.example.net", 3478, 3478, None)),
        ({"externalAddress": "turn.example.com"}, _service(PLAIN, [{"ip": "198.51.100.7"}]),
         TurnEndpoint("turn.example.com", 3478, 3478, None)),
        ({"externalAddress": "turn.example.com", "tlsSecretName": "c"}, None,
         TurnEndpoint("turn.example.com", 3478, 3478, 5349)),
        ({"tlsSecretName": "c"}, _service(WITH_TLS, [{"ip": "198.51.100.7"}]),
         TurnEndpoint("198.51.100.7", 3478, 3478, 5349)),
        ({"tlsSecretName": "c"}, _service(PLAIN, [{"ip": "198.51.100.7"}]), None),
        ({"serviceType": "NodePort"}, _service(PLAIN), None),
        ({"serviceType": "NodePort", "externalAddress": "203.0.113.4"}, _service(PLAIN),
         TurnEndpoint("203.0.113.4", 31001, 31002, None)),
        ({"serviceType": "HostNetwork"}, None, None),
        ({"serviceType": "HostNetwork", "externalAddress": "203.0.113.4", "tlsSecretName": "c", "tlsPort": 443},
         None, TurnEndpoint("203.0.113.4", 3478, 3478, 443)),
    ],
    ids=["disabled", "no-service-yet", "lb-no-address-yet", "lb-ip", "lb-hostname", "external-address-wins",
         "external-address-needs-no-service",
         "lb-tls", "tls-port-not-there-yet", "nodeport-needs-address", "nodeport", "hostnetwork-needs-address",
         "hostnetwork"],
)
def test_endpoint(spec: dict[str, Any], service: dict[str, Any] | None, expected: TurnEndpoint | None) -> None:
    assert turn.endpoint(cluster(turn=spec), service) == expected


def test_urls_cover_udp_tcp_and_tls() -> None:
    assert TurnEndpoint("turn.example.com", 3478, 3479, 443).urls() == (
        "turn:turn.example.com:3478?transport=udp",
        "turn:turn.example.com:3479?transport=tcp",
        "turns:turn.example.com:443?transport=tcp",
    )
    assert TurnEndpoint("2001:db8::1", 3478, 3478, None).urls() == (
        "turn:[2001:db8::1]:3478?transport=udp",
        "turn:[2001:db8::1]:3478?transport=tcp",
    )
    assert TurnEndpoint("2001:db8::1", 3478, 3478, None).address() == "[2001:db8::1]:3478"


FOUND = TurnEndpoint("198.51.100.7", 3478, 3478, None)


@pytest.mark.parametrize(
    ("spec", "found", "ready", "status", "reason", "says"),
    [
        ({"enabled": False}, None, 0, "True", "NotManaged", "enabled is false"),
        ({}, None, 1, "False", "NoExternalAddress", "no load balancer address"),
        ({"serviceType": "NodePort"}, None, 1, "False", "NoExternalAddress", "spec.turn.externalAddress"),
        ({"serviceType": "HostNetwork"}, None, 1, "False", "NoExternalAddress", "spec.turn.externalAddress"),
        ({}, FOUND, 0, "False", "NotReady", "0/1 TURN pods ready"),
        ({}, FOUND, 1, "True", "Ready", "198.51.100.7:3478"),
    ],
    ids=["disabled", "lb-pending", "nodeport-no-address", "hostnetwork-no-address", "pods-not-ready", "ready"],
)
def test_condition(
    spec: dict[str, Any], found: TurnEndpoint | None, ready: int, status: str, reason: str, says: str
) -> None:
    change = turn.condition(cluster(turn=spec), found, ready)
    assert (change.type, change.status, change.reason) == ("TurnReady", status, reason)
    assert says in change.message


def test_page_gets_the_managed_turn_urls_unless_the_user_names_others() -> None:
    managed = render_cluster_config(cluster(), FOUND)
    assert managed.ice.turn_urls == FOUND.urls()
    assert managed.ice.turn_secret  # the generated secret is mounted
    own = render_cluster_config(
        cluster(ice={"turnURLs": ["turn:mine.example.com:3478"], "turnSecretName": "mine"}), FOUND
    )
    assert own.ice.turn_urls == ("turn:mine.example.com:3478",)
    assert render_cluster_config(cluster(), None).ice.turn_urls == ()
    assert not render_cluster_config(cluster(turn={"enabled": False}), FOUND).ice.turn_secret
    assert render_cluster_config(cluster(ice={"iceTransportPolicy": "relay"})).ice.ice_transport_policy == "relay"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [({}, "gc-turn-secret"), ({"ice": {"turnSecretName": "mine"}}, "mine"),
     ({"turn": {"enabled": False}}, None)],
    ids=["generated", "named-by-user", "off"],
)
def test_signal_pods_and_turn_share_one_secret(spec: dict[str, Any], expected: str | None) -> None:
    gc = cluster(**spec)
    assert turn.shared_secret_name(gc) == expected
    volumes = workload.statefulset(gc, "h")["spec"]["template"]["spec"]["volumes"]
    mounted = [v["secret"]["secretName"] for v in volumes if v["name"] == "turn"]
    assert mounted == ([expected] if expected else [])
    if expected and turn.enabled(gc):
        turn_volumes = turn.deployment(gc)["spec"]["template"]["spec"]["volumes"]
        assert [v["secret"]["secretName"] for v in turn_volumes if v["name"] == "secret"] == [expected]


def _pod(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = turn.deployment(cluster(turn=spec))["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def test_turn_pod_runs_without_root_and_without_capabilities() -> None:
    pod, container = _pod({})
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == turn.TURN_UID
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert "hostNetwork" not in pod and "sysctls" not in pod["securityContext"]


def test_tls_on_443_without_root_through_the_pods_own_sysctl() -> None:
    pod, _container = _pod({"tlsSecretName": "c", "tlsPort": 443})
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "443"}]


def test_host_network_on_443_binds_with_only_net_bind_service() -> None:
    pod, container = _pod({"serviceType": "HostNetwork", "tlsSecretName": "c", "tlsPort": 443})
    assert pod["hostNetwork"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert [p["hostPort"] for p in container["ports"]] == [3478, 3478, 443, 9641]


def test_host_network_pod_listens_on_the_node_and_replaces_itself() -> None:
    deployment = turn.deployment(cluster(turn={"serviceType": "HostNetwork"}))
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(
    ("service_type", "kind"),
    [("LoadBalancer", "LoadBalancer"), ("NodePort", "NodePort"), ("HostNetwork", "ClusterIP")],
)
def test_service_type(service_type: str, kind: str) -> None:
    service = turn.service(cluster(turn={"serviceType": service_type}))
    assert service["spec"]["type"] == kind
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(3478, "UDP"), (3478, "TCP")}


def test_turn_pods_reach_only_the_signalling_pods_media_ports() -> None:
    gc = cluster()
    policy = turn.network_policy(gc)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    signal = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "guestgate-signal",
                                              "app.kubernetes.io/instance": "gc"}}}
    assert policy["egress"] == [{"to": [signal], "ports": policy_ports(signal_media_ports(gc))}]
    relay_rule = policy["ingress"][1]
    assert relay_rule["from"] == [signal] and relay_rule["ports"][0]["endPort"] == 65535


def test_signalling_pods_let_the_turn_pods_in_on_the_media_ports_only_when_managed() -> None:
    gc = cluster()
    rules = network.sip_network_policy(gc, network.SipSources((), ()))["spec"]["ingress"]
    from_turn = [r for r in rules if r.get("from") == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "guestgate-turn", "app.kubernetes.io/instance": "gc"}}}]]
    assert from_turn == [{"from": from_turn[0]["from"], "ports": policy_ports(signal_media_ports(gc))}]
    off = network.sip_network_policy(cluster(turn={"enabled": False}), network.SipSources((), ()))
    assert not [r for r in off["spec"]["ingress"] if "from" in r]


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ((PortSpan("UDP", 32768, 60999),), [{"protocol": "UDP", "port": 32768, "endPort": 60999}]),
        ((PortSpan("UDP", 30000, 30000),), [{"protocol": "UDP", "port": 30000}]),
    ],
    ids=["range", "single-port"],
)
def test_policy_ports(spans: tuple[PortSpan, ...], expected: list[dict[str, Any]]) -> None:
    assert policy_ports(spans) == expected


def test_conf_change_rolls_the_turn_pods_but_peers_do_not() -> None:
    def conf_hash(gc: Any) -> str:
        return str(turn.deployment(gc)["spec"]["template"]["metadata"]["annotations"]["guestgate.io/config-hash"])

    assert conf_hash(cluster()) == conf_hash(cluster())
    assert conf_hash(cluster()) != conf_hash(cluster(turn={"quotas": {"perUser": 3}}))
    a, b = turn.config_map(cluster(), ["10.0.0.1"]), turn.config_map(cluster(), ["10.0.0.2"])
    assert a["data"]["turnserver.conf"] == b["data"]["turnserver.conf"] and a["data"]["peers"] != b["data"]["peers"]


@pytest.mark.parametrize(
    ("media", "expected"),
    [({}, (PortSpan("UDP", 30000, 30999),)),
     ({"ports": {"min": 40000, "max": 40999}}, (PortSpan("UDP", 40000, 40999),))],
    ids=["the-default-range", "a-range-of-its-own"],
)
def test_the_turn_relays_to_whatever_the_pods_media_ports_are(media: dict[str, Any],
                                                              expected: tuple[PortSpan, ...]) -> None:
    gc = cluster(media=media)
    assert signal_media_ports(gc) == expected
    assert turn.network_policy(gc)["spec"]["egress"][0]["ports"] == policy_ports(expected)
