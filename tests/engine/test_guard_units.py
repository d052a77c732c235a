"""Tables for the pure parts of the SIP guard glue: the guard module's log lines read back as
refusals, and the peer list it compares source addresses with."""

from __future__ import annotations

import pytest

from guestgate.engine.guard import Refusal, parse_refusal, peer_list

LINES: list[tuple[str, str, Refusal | None]] = [
    (
        "a refusal",
        "refused REFER from 10.0.0.1:5060 status=403 why=transfers are not accepted",
        Refusal("REFER", "10.0.0.1:5060", 403, "transfers are not accepted"),
    ),
    (
        "with pjlib's sender and indent before it",
        "gg-sip-guard  .refused info from [2001:db8::1]:5060 status=415 why=only DTMF is taken in INFO\n",
        Refusal("INFO", "[2001:db8::1]:5060", 415, "only DTMF is taken in INFO"),
    ),
    ("any other pjsip line", "pjsua_call.c  Call 0 is DISCONNECTED [reason=200 (Normal call clearing)]", None),
    ("a status that is no number", "refused REFER from 10.0.0.1:5060 status=x why=y", None),
]


@pytest.mark.parametrize(("name", "line", "refusal"), LINES, ids=[c[0] for c in LINES])
def test_parse_refusal(name: str, line: str, refusal: Refusal | None) -> None:
    assert parse_refusal(line) == refusal


PEERS: list[tuple[str, list[str], str]] = [
    ("none", [], ""),
    ("IPv4 also as IPv4-mapped IPv6", ["10.0.0.1"], "10.0.0.1,::ffff:10.0.0.1"),
    ("IPv6 canonical", ["2001:DB8:0::1"], "2001:db8::1"),
    ("IPv4-mapped also as IPv4", ["::ffff:10.0.0.2"], "10.0.0.2,::ffff:10.0.0.2"),
    ("names and junk are left out", ["cucm.example.com", "", "10.0.0.3"], "10.0.0.3,::ffff:10.0.0.3"),
]


@pytest.mark.parametrize(("name", "hosts", "csv"), PEERS, ids=[c[0] for c in PEERS])
def test_peer_list(name: str, hosts: list[str], csv: str) -> None:
    assert peer_list(hosts) == csv
