"""Where the API server is and how to talk to it: a kubeconfig or the pod's service account.

The operator needs plain JSON over HTTPS with a bearer token or a client certificate, nothing
else; the official client's ApiClient brings ~1,000 generated model classes (about 50 MiB of the
operator's memory, half of it before the first object is cached) for that. urllib3 (which it
used underneath) does the HTTP here: one pool of keep-alive connections, safe across threads.

Supported: certificate-authority(-data), client-certificate(-data) + client-key(-data), token,
tokenFile, insecure-skip-tls-verify, tls-server-name, the context's namespace being ignored.
Exec and auth-provider plugins are not: the error says so.
"""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0  # bound service account tokens are rotated by the kubelet
TOO_MANY_RETRIES = 5  # a 429 (too many requests) is asked again this many times at most


class ConfigException(RuntimeError):
    """No usable in-cluster or kubeconfig credentials; the message says what is missing."""


class ApiException(Exception):
    """The API server answered with an error (status 0: it could not be reached)."""

    def __init__(self, status: int, reason: str = "", body: str = "") -> None:
        super().__init__(f"({status}) {reason}: {body[:500]}")
        self.status = status
        self.reason = reason
        self.body = body


@dataclass
class Connection:
    server: str  # https://host:port, no trailing slash
    ssl_context: ssl.SSLContext | None = None
    token: str = ""
    token_file: Path | None = None
    server_hostname: str | None = None
    pool_size: int = 8
    _token_read: float = 0.0
    _pool: urllib3.PoolManager | None = field(default=None, repr=False)

    def pool(self) -> urllib3.PoolManager:
        if self._pool is None:
            extra: dict[str, Any] = {"server_hostname": self.server_hostname} if self.server_hostname else {}
            self._pool = urllib3.PoolManager(
                num_pools=2, maxsize=self.pool_size, ssl_context=self.ssl_context, retries=False, **extra
            )
        return self._pool

    def bearer(self) -> str:
        if self.token_file is not None and time.monotonic() - self._token_read > TOKEN_REREAD_SECONDS:
            self.token = self.token_file.read_text().strip()
            self._token_read = time.monotonic()
        return self.token

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> bytes:
        """The answer's body; ApiException on a status >= 400 or when the server is not reached."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        token = self.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = self.server + path
        if query:
            url += "?" + urlencode(query)
        for attempt in range(TOO_MANY_RETRIES + 1):
            try:
                response = self.pool().request(
                    method, url, body=body, headers=headers, timeout=urllib3.Timeout(total=timeout), redirect=False
                )
            except urllib3.exceptions.HTTPError as error:
                raise ApiException(0, type(error).__name__, str(error)) from error
            if response.status != 429 or attempt == TOO_MANY_RETRIES:
                break
            # "Too many requests" (a new CRD's storage still initialising, priority and fairness):
            # again after the Retry-After the API server asks for, as client-go does.
            with contextlib.suppress(ValueError):
                time.sleep(min(5.0, max(0.1, float(response.headers.get("Retry-After", "1")))))
        if response.status >= 400:
            raise ApiException(response.status, response.reason or "", response.data.decode(errors="replace"))
        return bytes(response.data)


def _context(ca: bytes | None, cert: bytes | None, key: bytes | None, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca is not None:
        context.load_verify_locations(cadata=ca.decode())
    if cert is not None and key is not None:
        # ssl wants files: a private directory that lives only while they are loaded.
        with tempfile.TemporaryDirectory(prefix="guestgate-kube-") as folder:
            cert_path, key_path = Path(folder) / "tls.crt", Path(folder) / "tls.key"
            cert_path.write_bytes(cert)
            key_path.touch(mode=0o600)
            key_path.write_bytes(key)
            context.load_cert_chain(cert_path, key_path)
    return context


def in_cluster() -> Connection:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT / "token"
    if not host or not port or not token_file.exists():
        raise ConfigException("not in a pod: KUBERNETES_SERVICE_HOST/PORT or the service account token missing")
    host = f"[{host}]" if ":" in host else host
    ca = (SERVICE_ACCOUNT / "ca.crt").read_bytes()
    return Connection(f"https://{host}:{port}", _context(ca, None, None, False), token_file=token_file)


def _data(entry: Mapping[str, Any], name: str, base: Path) -> bytes | None:
    """`name-data` (base64) or the file `name` (relative to the kubeconfig's folder)."""
    if entry.get(f"{name}-data"):
        return base64.b64decode(entry[f"{name}-data"])
    if entry.get(name):
        return (base / str(entry[name])).expanduser().read_bytes()
    return None


def _named(items: list[dict[str, Any]] | None, name: str, what: str, source: Path) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            found: dict[str, Any] = item.get(what) or {}
            return found
    raise ConfigException(f"{source}: no {what} named {name!r}")


def from_kubeconfig(path: str | os.PathLike[str] | None = None) -> Connection:
    """The current context of `path` (else the first file of KUBECONFIG, else ~/.kube/config)."""
    chosen = Path(path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config").expanduser()
    try:
        document = yaml.safe_load(chosen.read_text()) or {}
    except OSError as error:
        raise ConfigException(f"{chosen}: {error.strerror or error}") from error
    context = _named(document.get("contexts"), str(document.get("current-context", "")), "context", chosen)
    cluster = _named(document.get("clusters"), str(context.get("cluster", "")), "cluster", chosen)
    user = _named(document.get("users"), str(context.get("user", "")), "user", chosen) if context.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigException(f"{chosen}: exec and auth-provider credentials are not supported")
    base = chosen.parent
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise ConfigException(f"{chosen}: the cluster has no server")
    token = str(user.get("token", ""))
    token_file = (base / str(user["tokenFile"])).expanduser() if user.get("tokenFile") else None
    context_ssl = (
        _context(
            _data(cluster, "certificate-authority", base),
            _data(user, "client-certificate", base),
            _data(user, "client-key", base),
            bool(cluster.get("insecure-skip-tls-verify")),
        )
        if server.startswith("https://")
        else None
    )
    return Connection(
        server, context_ssl, token=token, token_file=token_file, server_hostname=cluster.get("tls-server-name")
    )


def from_environment(kubeconfig: str | None = None) -> Connection:
    """In a pod: the service account (unless a kubeconfig is named); elsewhere: the kubeconfig."""
    if kubeconfig is None:
        try:
            return in_cluster()
        except ConfigException:
            pass
    return from_kubeconfig(kubeconfig)
