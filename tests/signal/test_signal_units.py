"""Pure pieces of the signalling side: message-log parsing, keepalive state, config loading,
ringback policy, secrets, the engine's input checks. Tables: one row per case."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    AuthConfig,
    ClusterConfig,
    EarlyMediaConfig,
    PeerConfig,
    PublishedConfig,
    TrunkProfile,
    TrunksFile,
)
from guestgate.engine.capture import MessageStore, call_id_of, parse_log_entry
from guestgate.engine.config import EngineInputError, call_limit, check_number, codec_priorities, peer_uri
from guestgate.signal.config_loader import ConfigError, ConfigWatcher, load_config
from guestgate.signal.keepalive import PeerState, TrunkState, final_status, options_request, record
from guestgate.signal.ringback import plays_local_ringback
from guestgate.signal.secrets import SecretError, admin_token, trunk_credentials

INVITE = "INVITE sip:100@127.0.0.1:5099 SIP/2.0\r\nCall-ID: abc@guestgate\r\nCSeq: 1 INVITE\r\n\r\n"


@pytest.mark.parametrize(
    ("entry", "direction", "remote"),
    [
        (f"TX 120 bytes Request msg INVITE/cseq=1 (tdta0x1) to UDP 127.0.0.1:5099:\n{INVITE}\n--end msg--",
         "sent", "127.0.0.1:5099"),
        (f"RX 120 bytes Response msg 183/INVITE/cseq=1 (rdata0x2) from TCP 10.0.0.7:5060:\n{INVITE}\n--end msg--",
         "received", "10.0.0.7:5060"),
        (f"TX 120 bytes Request msg INVITE/cseq=1 (tdta0x1) to UDP [2001:db8::1]:5060:\n{INVITE}--end msg--",
         "sent", "[2001:db8::1]:5060"),
    ],
    ids=["udp sent", "tcp received", "ipv6 remote"],
)
def test_message_log_entries_are_parsed(entry: str, direction: str, remote: str) -> None:
    logged = parse_log_entry(entry)
    assert logged is not None
    assert logged.direction == direction and logged.remote == remote
    assert logged.data.startswith(b"INVITE sip:100@")
    assert call_id_of(logged.data) == "abc@guestgate"


@pytest.mark.parametrize(
    "entry",
    ["Module mod-ua registered", "TX something else", "", "RX 12 bytes garbage without address\n"],
    ids=["module", "tx without shape", "empty", "rx without address"],
)
def test_other_log_entries_are_ignored(entry: str) -> None:
    assert parse_log_entry(entry) is None


def test_message_store_keeps_only_watched_calls_and_is_bounded() -> None:
    store = MessageStore(max_calls=2, max_messages=3)
    entry = f"TX 1 bytes Request msg INVITE (t) to UDP 127.0.0.1:5099:\n{INVITE}\n--end msg--"
    assert store.feed(entry) is None  # not watched
    store.watch("abc@guestgate")
    for _ in range(5):
        store.feed(entry)
    assert len(store.messages("abc@guestgate")) == 3
    store.watch("b")
    store.watch("c")
    assert store.messages("abc@guestgate") == []  # the oldest watched call made room


def test_compact_call_id_and_binary_garbage() -> None:
    assert call_id_of(b"BYE sip:x SIP/2.0\r\ni: compact@x\r\n\r\n") == "compact@x"
    garbage = "RX 9 bytes Request msg (r) from UDP 1.2.3.4:5:\n\udcff\udcfe\x00\n--end msg--"
    logged = parse_log_entry(garbage)
    assert logged is not None and call_id_of(logged.data) is None


@pytest.mark.parametrize(
    ("results", "threshold", "up", "changes"),
    [
        ([200], 3, True, 1),
        ([None, None], 3, None, 0),
        ([None, None, None], 3, False, 1),
        ([200, None, None, None, 200], 3, True, 3),
        ([404], 3, True, 1),  # any answer proves a SIP stack is there
    ],
    ids=["first answer", "below threshold", "down at threshold", "down then back", "404 is alive"],
)
def test_keepalive_state(results: list[int | None], threshold: int, up: bool | None, changes: int) -> None:
    state = PeerState(PeerConfig(host="127.0.0.1"))
    changed = sum(record(state, status, threshold, float(i)) for i, status in enumerate(results))
    assert state.up is up
    assert changed == changes


def test_failover_takes_the_first_peer_not_down() -> None:
    profile = TrunkProfile(id="a/b", namespace="a", name="b",
                           peers=(PeerConfig(host="10.0.0.1"), PeerConfig(host="10.0.0.2")))
    trunk = TrunkState(profile, [PeerState(p) for p in profile.peers])
    assert trunk.active_peer().host == "10.0.0.1"
    trunk.peers[0].up = False
    assert trunk.active_peer().host == "10.0.0.2"
    trunk.peers[1].up = False
    assert trunk.active_peer().host == "10.0.0.1"  # all down: keep trying the first


def test_options_request_and_response_matching() -> None:
    call_id, message = options_request(PeerConfig(host="10.0.0.1", transport="tcp"), "10.0.0.9", 5070, "tcp", "GG")
    text = message.decode()
    assert text.startswith("OPTIONS sip:10.0.0.1:5060;transport=tcp SIP/2.0\r\n")
    assert f"Call-ID: {call_id}\r\n" in text and text.endswith("\r\n\r\n")
    ok = f"SIP/2.0 200 OK\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\r\n".encode()
    assert final_status(ok, call_id) == 200
    assert final_status(ok.replace(b"200 OK", b"100 Trying"), call_id) is None
    assert final_status(ok, "other@x") is None
    assert final_status(b"\x00\xff garbage", call_id) is None


@pytest.mark.parametrize(
    ("policy", "status", "has_sdp", "local"),
    [
        (EarlyMediaConfig(), 180, False, True),
        (EarlyMediaConfig(), 183, True, False),
        (EarlyMediaConfig(local_ringback="never"), 180, False, False),
        (EarlyMediaConfig(local_ringback="always"), 183, True, True),
        (EarlyMediaConfig(disable_on_180=True), 180, True, True),
        (EarlyMediaConfig(disable_on_180=True), 183, True, False),
        (EarlyMediaConfig(), 100, False, False),
    ],
    ids=["auto 180 no sdp", "auto 183 sdp", "never", "always", "disable on 180", "183 unaffected", "100"],
)
def test_local_ringback_policy(policy: EarlyMediaConfig, status: int, has_sdp: bool, local: bool) -> None:
    assert plays_local_ringback(policy, status, has_sdp) is local


def _write(config_dir: Path, trunks: list[TrunkProfile]) -> None:
    config_dir.mkdir(exist_ok=True)
    published = PublishedConfig(
        cluster=ClusterConfig(namespace="n", name="c", public_url="https://x.example"),
        trunks=TrunksFile(trunks=tuple(trunks)),
    )
    for name, text in published.files().items():
        (config_dir / name).write_text(text)


def test_config_watcher_keeps_the_last_good(tmp_path: Path) -> None:
    trunk = TrunkProfile(id="a/b", namespace="a", name="b", peers=(PeerConfig(host="10.0.0.1"),))
    _write(tmp_path, [trunk])
    watcher = ConfigWatcher(tmp_path)
    first = watcher.load_initial()
    assert watcher.poll() is None  # unchanged
    (tmp_path / "trunks.json").write_text('{"trunks": [{"id": 1}]}')
    assert watcher.poll() is None
    assert "trunks.json" in watcher.last_error
    assert watcher.current == first
    _write(tmp_path, [])
    new = watcher.poll()
    assert new is not None and new.config.trunks.trunks == () and watcher.last_error == ""


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "cluster.json: missing"),
        ({"cluster.json": "{"}, "not valid JSON"),
        ({"cluster.json": '{"namespace": "n"}'}, "cluster.json"),
    ],
    ids=["no cluster", "bad json", "missing fields"],
)
def test_bad_config_names_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_secrets(tmp_path: Path) -> None:
    with pytest.raises(SecretError):
        admin_token(tmp_path)
    (tmp_path / ADMIN_TOKEN_FILE).parent.mkdir(parents=True)
    (tmp_path / ADMIN_TOKEN_FILE).write_text("short")
    with pytest.raises(SecretError, match="at least"):
        admin_token(tmp_path)
    (tmp_path / ADMIN_TOKEN_FILE).write_text("a-long-enough-admin-token\n")
    assert admin_token(tmp_path) == "a-long-enough-admin-token"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "n.t.username").write_text("gg")
    (creds / "n.t.password").write_text("secret\n")
    with_auth = TrunkProfile(id="n/t", namespace="n", name="t", peers=(PeerConfig(host="h"),),
                             auth=AuthConfig(credentials_key="n.t"))
    missing = with_auth.model_copy(update={"id": "n/u", "auth": AuthConfig(credentials_key="n.u")})
    found = trunk_credentials(tmp_path, [with_auth, missing])
    assert list(found) == ["n.t"] and found["n.t"].password == "secret"


@pytest.mark.parametrize(
    "number", ["", "12 34", "1;x", "a" * 65, "sip:1@x", "+" * 2], ids=["empty", "space", "param", "long", "uri", "plus"]
)
def test_numbers_pjsua2_never_sees(number: str) -> None:
    with pytest.raises(EngineInputError):
        check_number(number)


def test_uris_and_codecs() -> None:
    assert peer_uri(PeerConfig(host="::1", port=5070, transport="tcp"), "100") == "sip:100@[::1]:5070;transport=tcp"
    assert peer_uri(PeerConfig(host="cube.example", transport="tls")) == "sips:cube.example:5060;transport=tls"
    profile = TrunkProfile(id="a/b", namespace="a", name="b", peers=(PeerConfig(host="h"),), codecs=("G722", "PCMU"))
    available = {"PCMU/8000/1", "PCMA/8000/1", "G722/16000/1", "speex/8000/1"}
    priorities = codec_priorities(profile, available)
    assert priorities["G722/16000/1"] > priorities["PCMU/8000/1"] > 0
    assert priorities["PCMA/8000/1"] == 0 and priorities["speex/8000/1"] == 0


def test_message_store_has_a_byte_budget() -> None:
    store = MessageStore(max_calls=10, max_messages=100, max_bytes=2000)  # ~480 bytes a message
    for call in ("a", "b", "c"):
        store.watch(call)
        body = INVITE.replace("abc@guestgate", call)
        for _ in range(2):
            store.feed(f"TX 1 bytes Request msg INVITE (t) to UDP 127.0.0.1:5099:\n{body}{'x' * 400}\n--end msg--")
    assert store.messages("a") == []  # the oldest call made room
    assert len(store.messages("c")) == 2


@pytest.mark.parametrize(
    ("wanted", "build", "fds", "limit", "reason"),
    [
        (100, 1024, 20000, 100, "spec.limits.maxCallsPerPod=100"),
        (5000, 1024, None, 1024, "PJSUA_MAX_CALLS"),
        (500, 1024, 1024, 384, "RLIMIT_NOFILE=1024"),
        (0, 1024, None, 1, "maxCallsPerPod=0"),
        (1024, 1024, 2304, 1024, "maxCallsPerPod=1024"),
    ],
    ids=["the spec decides", "the build caps it", "file descriptors cap it", "never below one", "a tie names the spec"],
)
def test_call_limit(wanted: int, build: int, fds: int | None, limit: int, reason: str) -> None:
    got, why = call_limit(wanted, build, fds)
    assert got == limit and reason in why
