"""The configuration the operator pushes (ConfigWatcher.push) beside the mounted ConfigMap, and the
peer resolver that keeps DNS off the call path. Pure or in-process: no SIP engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from guestgate.config.schema import (
    ClusterConfig,
    PeerConfig,
    PublishedConfig,
    TrunkProfile,
    TrunksFile,
    files_digest,
)
from guestgate.signal.config_loader import BaseMismatch, ConfigError, ConfigWatcher
from guestgate.signal.peers import PeerResolver, Resolution, due, ip_literal


def files_of(*trunk_names: str) -> dict[str, str]:
    trunks = tuple(
        TrunkProfile(id=f"a/{n}", namespace="a", name=n, peers=(PeerConfig(host="10.0.0.1"),)) for n in trunk_names
    )
    return PublishedConfig(
        cluster=ClusterConfig(namespace="a", name="c", public_url="https://x.example"), trunks=TrunksFile(trunks=trunks)
    ).files()


def write(config_dir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (config_dir / name).write_text(text)


def trunks(watcher: ConfigWatcher) -> list[str]:
    assert watcher.current is not None
    return [t.name for t in watcher.current.config.trunks.trunks]


def test_a_push_wins_over_a_kubelet_that_lags(tmp_path: Path) -> None:
    a, b, c, d = files_of("a"), files_of("b"), files_of("c"), files_of("d")
    write(tmp_path, a)
    watcher = ConfigWatcher(tmp_path)
    watcher.load_initial()
    assert watcher.source == "disk"

    pushed = watcher.push(b)
    assert pushed is not None and pushed.digest == files_digest(b)
    assert trunks(watcher) == ["b"] and watcher.source == "pushed"
    assert watcher.push(b) is None  # the same again: nothing to apply
    assert watcher.poll() is None  # the disk still holds a: the push stays

    watcher.push(c)
    write(tmp_path, b)  # the kubelet brings an older edit than the one pushed
    assert watcher.poll() is None and trunks(watcher) == ["c"]
    write(tmp_path, c)  # ... and then catches up
    assert watcher.poll() is None and trunks(watcher) == ["c"]
    write(tmp_path, d)  # no push came (the operator could not reach this pod): the disk is the fallback
    loaded = watcher.poll()
    assert loaded is not None and trunks(watcher) == ["d"] and watcher.source == "disk"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"trunks.json": "{}"}, "pushed/cluster.json: missing"),
        ({**files_of("a"), "trunks.json": "{"}, "pushed/trunks.json: not valid JSON"),
        ({**files_of("a"), "trunks.json": '{"trunks": [{"id": 1}]}'}, "pushed/trunks.json: trunks.0"),
    ],
    ids=["no cluster.json", "bad json", "bad trunk"],
)
def test_a_bad_push_changes_nothing_and_names_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    write(tmp_path, files_of("a"))
    watcher = ConfigWatcher(tmp_path)
    first = watcher.load_initial()
    with pytest.raises(ConfigError, match=message):
        watcher.push(files)
    assert watcher.current == first


def test_a_push_of_what_changed_applies_over_the_configuration_in_force(tmp_path: Path) -> None:
    a, b = files_of("a"), files_of("b")
    write(tmp_path, a)
    watcher = ConfigWatcher(tmp_path)
    first = watcher.load_initial()
    extra = {**b, "links-1.json": '{"links":[],"withdrawn":[]}'}
    with pytest.raises(BaseMismatch):  # relative to a configuration the pod does not serve: nothing changes
        watcher.push({"trunks.json": b["trunks.json"]}, base="0123456789abcdef")
    assert watcher.current == first
    pushed = watcher.push({"trunks.json": b["trunks.json"], "links-1.json": extra["links-1.json"]}, base=first.digest)
    assert pushed is not None and pushed.digest == files_digest(extra) and trunks(watcher) == ["b"]
    assert pushed.files["cluster.json"] is first.files["cluster.json"]  # taken from the one in force
    # The shard that did not change is the one parsed before; a removed file goes.
    assert pushed.shards["links.json"][1] is first.shards["links.json"][1]
    gone = watcher.push({}, base=pushed.digest, removed=["links-1.json"])
    assert gone is not None and gone.digest == files_digest(b) and "links-1.json" not in gone.files
    with pytest.raises(ConfigError, match=r"pushed/trunks\.json: not valid JSON"):
        watcher.push({"trunks.json": "{"}, base=gone.digest)
    assert watcher.current == gone


@pytest.mark.parametrize(
    ("host", "literal"),
    [("10.1.2.3", "10.1.2.3"), ("[2001:db8::1]", "2001:db8::1"), ("2001:db8::1", "2001:db8::1"),
     ("cucm-pub.example.com", None), ("10.1.2", None)],
)
def test_ip_literal(host: str, literal: str | None) -> None:
    assert ip_literal(host) == literal


@pytest.mark.parametrize(
    ("case", "resolution", "now", "is_due"),
    [
        ("never_looked_up", None, 0.0, True),
        ("resolved_recently", Resolution(("10.0.0.1",), at=100.0), 110.0, False),
        ("resolved_long_ago", Resolution(("10.0.0.1",), at=100.0), 131.0, True),
        ("failed_recently", Resolution((), at=100.0, error="x"), 103.0, False),
        ("failed_a_while_ago", Resolution((), at=100.0, error="x"), 106.0, True),
    ],
)
def test_due(case: str, resolution: Resolution | None, now: float, is_due: bool) -> None:
    assert due(resolution, now, refresh=30.0, retry=5.0) is is_due, case


async def test_a_name_that_never_answers_delays_no_other_peer() -> None:
    never = asyncio.Event()
    changes: list[int] = []

    async def lookup(name: str) -> list[str]:
        if name == "dead.example":
            await never.wait()  # a DNS server that never answers
        return ["192.0.2.7"]

    resolver = PeerResolver(on_change=lambda: changes.append(1), lookup=lookup)
    dead = PeerConfig(host="dead.example")
    alive = PeerConfig(host="alive.example")
    literal = PeerConfig(host="192.0.2.9")
    resolver.watch([dead, alive, literal])
    # Answers never wait: before any lookup, literals are known and names are not.
    assert resolver.all_addresses([dead, alive, literal]) == {"192.0.2.9"}
    for _ in range(100):
        if resolver.addresses("alive.example"):
            break
        await asyncio.sleep(0.01)
    assert resolver.addresses("alive.example") == ("192.0.2.7",)
    assert resolver.addresses("dead.example") == ()
    assert resolver.error("dead.example") == "peer name dead.example not resolved yet"
    assert changes  # the server updates its peer filter then
    assert resolver.for_call(alive).host == "192.0.2.7"  # pjsip never resolves a name itself
    assert resolver.for_call(dead).host == "dead.example"
    assert resolver.for_call(PeerConfig(host="alive.example", transport="tls")).host == "alive.example"
    await resolver.stop()
