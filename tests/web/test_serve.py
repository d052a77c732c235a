"""`guestgate.pod.serve` as a pod runs it: HTTPS with the cluster's certificate (a browser only
lends its microphone to a secure page) and the cluster's ICE servers, TURN with time-limited
credentials from the mounted shared secret, handed to the page; without its media relay it says
so (not ready, calls refused as "media-unavailable") and never carries media itself."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from browser.harness import Ports, offer, published, start_server, write_config
from guestgate.config.schema import TURN_SECRET_FILE, IceConfig, WebConfig
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import local_settings, start_relay
from guestgate_dev.support.wait import wait_for


def self_signed(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True)
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def test_link_pages_over_https_with_the_clusters_certificate_and_ice_servers(tmp_path: Path) -> None:
    ports = Ports()
    config = published(ports)
    web = WebConfig(port=ports.web, tls_cert_dir="web-tls")
    ice = IceConfig(
        stun_urls=("stun:stun.example.com:3478",), turn_urls=("turn:turn.example.com:3478",), turn_secret=True
    )
    config = config.model_copy(update={"cluster": config.cluster.model_copy(update={"web": web, "ice": ice})})
    config_dir, secrets = write_config(tmp_path, config)
    self_signed(secrets / "web-tls")
    (secrets / TURN_SECRET_FILE).parent.mkdir(parents=True)
    (secrets / TURN_SECRET_FILE).write_bytes(b"turn-shared-secret\n")
    server = start_server(config_dir, secrets, tmp_path / "server.log")
    try:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # our own self-signed test certificate
        url = server.web_url.replace("http://", "https://") + "/call/phone"
        with urllib.request.urlopen(url, context=insecure, timeout=10) as reply:
            page = reply.read().decode()
            assert reply.status == 200 and "Call phone" in page
        settings = json.loads(re.search(r'id="gg-settings">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
        stun, turn = settings["iceServers"]
        assert stun == {"urls": ["stun:stun.example.com:3478"]}
        assert turn["urls"] == ["turn:turn.example.com:3478"]
        expiry, _, link = turn["username"].partition(":")
        assert link == "demo/phone" and 0 < int(expiry) - time.time() <= 3600
        mac = hmac.new(b"turn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(mac).decode()
        try:
            urllib.request.urlopen(url.replace("https://", "http://"), timeout=5)
        except (urllib.error.URLError, ConnectionError):
            pass  # plain HTTP is not served on the TLS port
        else:
            raise AssertionError("plain HTTP answered on the TLS port")
    finally:
        stop_process(server.process, 20)


def call_attempt(web_url: str, sdp: str) -> tuple[int, dict[str, object]]:
    body = json.dumps({"path": "/call/phone", "sdp": sdp}).encode()
    request = urllib.request.Request(
        f"{web_url}/_gg/calls", data=body, headers={"Origin": web_url, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ready(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=5) as reply:
            return bool(reply.status == 200)
    except urllib.error.HTTPError:
        return False


async def test_without_its_media_relay_the_server_refuses_calls_and_is_not_ready(tmp_path: Path) -> None:
    """No --rtpengine: calls are refused with a reason the page shows (no Python media path);
    an --rtpengine that does not answer: not ready and calls refused, until it answers."""
    sdp = await offer()
    ports = Ports()
    config_dir, secrets = write_config(tmp_path, published(ports))
    alone = start_server(config_dir, secrets, tmp_path / "alone.log")
    try:
        code, answer = call_attempt(alone.web_url, sdp)
        assert (code, answer["error"]) == (503, "media-unavailable"), answer
        assert "media server is unavailable" in str(answer["text"])
        assert "no media relay (--rtpengine)" in alone.output()
    finally:
        stop_process(alone.process, 20)

    settings = local_settings(ng_port=free_port())  # nothing answers there yet
    ports = Ports()
    config_dir, secrets = write_config(tmp_path / "silent", published(ports))
    server = start_server(config_dir, secrets, tmp_path / "silent.log", "--rtpengine", f"127.0.0.1:{settings.ng_port}")
    relay = None
    try:
        assert not ready(ports.admin)
        code, answer = call_attempt(server.web_url, sdp)
        assert (code, answer["error"]) == (503, "media-unavailable"), answer
        relay = start_relay(tmp_path / "rtpengine.log", settings)
        wait_for("the server ready once its relay answers", lambda: ready(ports.admin), timeout=30)
        relay.stop()
        wait_for("the server not ready once its relay stops answering", lambda: not ready(ports.admin), timeout=30)
    finally:
        stop_process(server.process, 20)
        if relay is not None:
            relay.stop()
