"""`guestgate.pod.serve` as a pod runs it: HTTPS with the cluster's certificate (a browser only
lends its microphone to a secure page) and the cluster's ICE servers, TURN with time-limited
credentials from the mounted shared secret, handed to the page."""

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

from browser.harness import Ports, published, start_server, write_config
from guestgate.config.schema import TURN_SECRET_FILE, IceConfig, WebConfig
from guestgate_dev.support.process import stop_process


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
