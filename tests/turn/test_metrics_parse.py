"""coturn 4.6.1's log lines (as its verbose log writes them) -> the events the TURN agent counts,
and the counting rules (one refusal per refused request, the first 401 challenge not a refusal)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from guestgate.turn import peers
from guestgate.turn.metrics import Allocated, Deleted, Event, Refused, TurnMetrics, Usage, parse, reason_label

S = "session 001000000000000002: "
USER = "1796501756:team/sales-0"


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (f"0: : {S}new, realm=<call.example.com>, username=<{USER}>, lifetime=600",
         Allocated("001000000000000002")),
        (f"2: : {S}delete: realm=<call.example.com>, username=<{USER}>", Deleted("001000000000000002")),
        (f"2: : {S}usage: realm=<r>, username=<{USER}>, rp=10, rb=1100, sp=10, sb=901",
         Usage("001000000000000002", "client", 10, 1100, 10, 901)),
        (f"2: : {S}peer usage: realm=<r>, username=<{USER}>, rp=5, rb=525, sp=5, sb=500",
         Usage("001000000000000002", "peer", 5, 525, 5, 500)),
        (f"0: : {S}realm <r> user <{USER}>: incoming packet ALLOCATE processed, error 486: Allocation Quota Reached",
         Refused("001000000000000002", "allocate", 486, "Allocation Quota Reached", USER)),
        (f"0: : {S}realm <r> user <>: incoming packet message processed, error 401: Unauthorized",
         Refused("001000000000000002", "message", 401, "Unauthorized", "")),
        # A link id may hold '>' and spaces: the name is everything up to the last "user <...>:".
        (f"0: : {S}realm <r> user <1:a> b>: incoming packet CHANNEL_BIND processed, error 403: Forbidden IP",
         Refused("001000000000000002", "channel_bind", 403, "Forbidden IP", "1:a> b")),
        (f"0: : {S}realm <r> user <{USER}>: incoming packet ALLOCATE processed, success", None),
        (f"0: : {S}refreshed, realm=<r>, username=<{USER}>, lifetime=0", None),
        (f"1: : {S}closed (2nd stage), user <{USER}> realm <r> origin <>, local 1.2.3.4:3478, remote x, reason: t",
         None),
        ("0: : ERROR: A peer IP 127.0.0.4 denied in the range: ::-ffff:ffff", None),
        ("", None),
        ("session garbage: usage: rp=x", None),
        ("\x00\xff session 1: usage: realm=<r>, username=<u>, rp=1, rb=2", None),  # cut short: not counted
    ],
)
def test_coturn_log_lines(line: str, event: Event | None) -> None:
    assert parse(line) == event


@pytest.mark.parametrize(
    ("reason", "label"),
    [("Allocation Quota Reached", "allocation_quota_reached"), ("Forbidden IP", "forbidden_ip"), ("", "unknown"),
     ("Wrong Transport Field", "wrong_transport_field"), ("x" * 100, "x" * 64)],
)
def test_reason_labels(reason: str, label: str) -> None:
    assert reason_label(reason) == label


def value(metrics: TurnMetrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_counting_rules() -> None:
    metrics = TurnMetrics(CollectorRegistry())
    lines = [
        # a visit: challenge, allocation, permission refused (request line + summary), traffic, end
        f"{S}realm <r> user <>: incoming packet message processed, error 401: Unauthorized",
        f"{S}new, realm=<r>, username=<{USER}>, lifetime=600",
        f"{S}new, realm=<r>, username=<{USER}>, lifetime=600",  # a retransmission: one allocation
        f"{S}realm <r> user <{USER}>: incoming packet CHANNEL_BIND processed, error 403: Forbidden IP",
        f"{S}realm <r> user <{USER}>: incoming packet message processed, error 403: Forbidden IP",
        f"{S}usage: realm=<r>, username=<{USER}>, rp=3, rb=300, sp=2, sb=200",
        f"{S}peer usage: realm=<r>, username=<{USER}>, rp=1, rb=100, sp=4, sb=400",
        f"{S}peer usage: realm=<r>, username=<{USER}>, rp=1, rb=100, sp=0, sb=0",
        # forged credentials: coturn names no request
        "session 3: realm <r> user <1:x>: incoming packet message processed, error 401: Unauthorized",
        "session 4: realm <r> user <1:x>: incoming packet message processed, error 438: Stale Nonce",
        "session 5: new, realm=<r>, username=<u>, lifetime=600",
    ]
    for line in lines:
        metrics.feed(line)
    assert value(metrics, "guestgate_turn_allocations") == 2
    assert value(metrics, "guestgate_turn_allocations_created_total") == 2
    assert value(metrics, "guestgate_turn_traffic_bytes_total", leg="peer", direction="received") == 200
    assert value(metrics, "guestgate_turn_traffic_bytes_total", leg="peer", direction="sent") == 400
    assert value(metrics, "guestgate_turn_traffic_packets_total", leg="client", direction="received") == 3
    refused = {(s.labels["request"], s.labels["code"], s.labels["reason"]): s.value
               for family in metrics.registry.collect() if family.name == "guestgate_turn_refused"
               for s in family.samples if s.name.endswith("_total")}
    assert refused == {("channel_bind", "403", "forbidden_ip"): 1.0, ("unknown", "401", "unauthorized"): 1.0}
    metrics.feed(f"{S}delete: realm=<r>, username=<{USER}>")
    metrics.feed(f"{S}delete: realm=<r>, username=<{USER}>")
    assert value(metrics, "guestgate_turn_allocations") == 1


@pytest.mark.parametrize(
    ("given", "kept"),
    [(["10.0.0.2", "10.0.0.1", "10.0.0.2"], ["10.0.0.1", "10.0.0.2"]),
     (["fd00::0001", " 10.0.0.3\n"], ["10.0.0.3", "fd00::1"]),
     (["10.0.0.1'); DROP TABLE allowed_peer_ip;--", "", "host.example"], [])],
)
def test_the_allow_list_keeps_addresses_only(given: list[str], kept: list[str]) -> None:
    assert peers.addresses(given) == kept
    assert peers.digest(given) == peers.digest(kept)
