"""Certificates for the local cluster: one CA, serving certs, client certs, the SA signing key.

ECDSA P-256 everywhere: every Kubernetes component accepts it and a key takes a millisecond
instead of RSA's tens, which keeps `cluster up` quick. Issuing is pure (returns PEM bytes);
``write_pki`` is the only function touching the disk.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "ca"
# A second CA only for the apiserver's front proxy (aggregation layer, request-header auth): a
# certificate from it lets its holder assert any user in headers, so nothing else is signed by it
# (the kubeadm layout).
FRONT_PROXY_CA_NAME = "front-proxy-ca"
SERVICE_ACCOUNT_KEY = "service-account"
_VALIDITY = datetime.timedelta(days=3650)
# Issued a little in the past so a freshly started component never sees "not yet valid".
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class ClientIdentity:
    """Who a component (or the admin) is to the apiserver: CN is the user, O the groups."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    issuer: str = CA_NAME


@dataclass(frozen=True)
class ServingIdentity:
    name: str
    common_name: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _private_pem(self.key)


@dataclass(frozen=True)
class PkiPlan:
    """Everything to issue for one cluster; components contribute identities to it."""

    cluster_name: str
    serving: tuple[ServingIdentity, ...] = ()
    clients: tuple[ClientIdentity, ...] = field(default=())


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False,
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, ca: bool
             ) -> x509.CertificateBuilder:
    """What every certificate here shares: serial, validity, basic constraints, key usage."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca), critical=True)
    )


def new_authority(cluster_name: str, ca_name: str = CA_NAME) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"guestgate-{cluster_name}-{ca_name}")])
    cert = (
        _builder(name, name, key, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def load_authority(cert_pem: bytes, key_pem: bytes) -> Authority:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the cluster CA key is not an ECDSA key; delete the cluster's pki/ to regenerate")
    return Authority(x509.load_pem_x509_certificate(cert_pem), key)


def _leaf(
    ca: Authority,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: Sequence[x509.GeneralName] = (),
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca.cert.subject, key, ca=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _private_pem(key))


def issue_client(ca: Authority, identity: ClientIdentity) -> KeyPair:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in identity.organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name))
    return _leaf(ca, x509.Name(attributes), ExtendedKeyUsageOID.CLIENT_AUTH)


def issue_serving(ca: Authority, identity: ServingIdentity) -> KeyPair:
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in identity.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in identity.ip_addresses]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name)])
    return _leaf(ca, subject, ExtendedKeyUsageOID.SERVER_AUTH, sans)


def new_service_account_key() -> KeyPair:
    """The token signing key; ``cert_pem`` holds the public key (kube-apiserver verifies with it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(public, _private_pem(key))


# --- I/O --------------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _ensure_authority(pki_dir: Path, cluster_name: str, ca_name: str) -> Authority:
    ca_cert, ca_key = pki_dir / f"{ca_name}.crt", pki_dir / f"{ca_name}.key"
    if ca_cert.is_file() and ca_key.is_file():
        return load_authority(ca_cert.read_bytes(), ca_key.read_bytes())
    ca = new_authority(cluster_name, ca_name)
    _write_private(ca_key, ca.key_pem)
    ca_cert.write_bytes(ca.cert_pem)
    return ca


def write_pki(pki_dir: Path, plan: PkiPlan) -> Authority:
    """Keep the CAs and the SA key across restarts (data in etcd and issued kubeconfigs stay
    valid); reissue the leaves every time (cheap, and a changed plan, e.g. a new SAN, takes
    effect). Returns the cluster CA."""
    issuers = {CA_NAME, *(client.issuer for client in plan.clients)}
    authorities = {name: _ensure_authority(pki_dir, plan.cluster_name, name) for name in sorted(issuers)}
    ca = authorities[CA_NAME]
    sa_pub, sa_key = pki_dir / f"{SERVICE_ACCOUNT_KEY}.pub", pki_dir / f"{SERVICE_ACCOUNT_KEY}.key"
    if not (sa_pub.is_file() and sa_key.is_file()):
        pair = new_service_account_key()
        _write_private(sa_key, pair.key_pem)
        sa_pub.write_bytes(pair.cert_pem)
    issued = [(s.name, issue_serving(ca, s)) for s in plan.serving]
    issued += [(c.name, issue_client(authorities[c.issuer], c)) for c in plan.clients]
    for name, pair in issued:
        _write_private(pki_dir / f"{name}.key", pair.key_pem)
        (pki_dir / f"{name}.crt").write_bytes(pair.cert_pem)
    return ca
