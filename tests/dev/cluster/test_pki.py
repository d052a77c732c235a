"""Certificates: who each one says it is, who signed it, and what survives a restart."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guestgate_dev.cluster.pki import (
    FRONT_PROXY_CA_NAME,
    ClientIdentity,
    PkiPlan,
    ServingIdentity,
    issue_client,
    issue_serving,
    new_authority,
    new_service_account_key,
    write_pki,
)

CA = new_authority("t")
ADMIN = ClientIdentity("admin", "guestgate-admin", ("system:masters",))
SERVING = ServingIdentity("kube-apiserver", "kube-apiserver", ("localhost", "kubernetes"), ("127.0.0.1",))


def cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@pytest.mark.parametrize(
    ("case", "identity", "cn", "orgs"),
    [
        ("admin is in system:masters", ADMIN, "guestgate-admin", ["system:masters"]),
        ("a component is a plain user", ClientIdentity("kcm", "system:kube-controller-manager"),
         "system:kube-controller-manager", []),
        ("several groups", ClientIdentity("n", "system:node:n1", ("system:nodes", "extra")), "system:node:n1",
         ["system:nodes", "extra"]),
    ],
)
def test_client_subject(case: str, identity: ClientIdentity, cn: str, orgs: list[str]) -> None:
    issued = cert(issue_client(CA, identity).cert_pem)
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn, case
    assert [a.value for a in issued.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == orgs, case
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    issued.verify_directly_issued_by(CA.cert)


def test_serving_certificate_names_and_usage() -> None:
    issued = cert(issue_serving(CA, SERVING).cert_pem)
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "kubernetes"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    issued.verify_directly_issued_by(CA.cert)


def test_authority_is_a_ca() -> None:
    assert CA.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_service_account_public_key_matches_the_private_key() -> None:
    pair = new_service_account_key()
    private = serialization.load_pem_private_key(pair.key_pem, password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == pair.cert_pem


def test_write_pki_keeps_authorities_and_sa_key_and_reissues_leaves(tmp_path: Path) -> None:
    proxy = ClientIdentity("front-proxy-client", "front-proxy-client", issuer=FRONT_PROXY_CA_NAME)
    plan = PkiPlan("t", serving=(SERVING,), clients=(ADMIN, proxy))
    write_pki(tmp_path, plan)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    write_pki(tmp_path, plan)
    second = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    kept = {"ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "service-account.key",
            "service-account.pub"}
    assert kept | {"admin.crt", "admin.key", "kube-apiserver.crt", "kube-apiserver.key",
                   "front-proxy-client.crt", "front-proxy-client.key"} == set(first)
    assert {name for name in first if first[name] == second[name]} == kept
    # The front-proxy client is signed by its own CA, not the cluster CA.
    cert((tmp_path / "front-proxy-client.crt").read_bytes()).verify_directly_issued_by(
        cert((tmp_path / "front-proxy-ca.crt").read_bytes())
    )
    for key in tmp_path.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
