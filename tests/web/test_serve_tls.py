"""`guestgate.web.serve` serves the link pages over HTTPS when the cluster names a certificate
(a browser only lends its microphone to a secure page)."""

from __future__ import annotations

import datetime
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from browser.harness import Ports, published, start_server, stop_process, write_config
from guestgate.config.schema import WebConfig


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


def test_link_pages_over_https_with_the_clusters_certificate(tmp_path: Path) -> None:
    ports = Ports()
    config = published(ports)
    web = WebConfig(port=ports.web, tls_cert_dir="web-tls")
    config = config.model_copy(update={"cluster": config.cluster.model_copy(update={"web": web})})
    config_dir, secrets = write_config(tmp_path, config)
    self_signed(secrets / "web-tls")
    server = start_server(config_dir, secrets, tmp_path / "server.log")
    try:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # our own self-signed test certificate
        url = server.web_url.replace("http://", "https://") + "/call/phone"
        with urllib.request.urlopen(url, context=insecure, timeout=10) as reply:
            assert reply.status == 200 and "Call phone" in reply.read().decode()
        try:
            urllib.request.urlopen(url.replace("https://", "http://"), timeout=5)
        except (urllib.error.URLError, ConnectionError):
            pass  # plain HTTP is not served on the TLS port
        else:
            raise AssertionError("plain HTTP answered on the TLS port")
    finally:
        stop_process(server.process, 20)
