"""Signed link tokens: `<payload>.<mac>`, HMAC-SHA256 with the cluster's signing key (pure).

A link with `access.requireToken` only opens with `?token=...` minted for that link and not yet
expired. The payload names the link, so a token for one link never opens another; the expiry is
inside the MAC, so it cannot be stretched. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

TokenProblem = Literal["missing", "malformed", "bad-signature", "wrong-link", "expired"]


@dataclass(frozen=True, slots=True)
class TokenCheck:
    ok: bool
    problem: TokenProblem | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, link_id: str, expires_at: int) -> str:
    """A token opening link_id until expires_at (Unix seconds)."""
    payload = _b64(json.dumps({"link": link_id, "exp": int(expires_at)}, separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def verify(key: bytes, token: str | None, link_id: str, now: float) -> TokenCheck:
    if not token:
        return TokenCheck(False, "missing")
    payload, dot, mac = token.partition(".")
    # A token is base64url text: anything else (non-ASCII above all, which the MAC could not be
    # computed over nor compared with) is malformed, never an error.
    if not dot or not payload or not mac or len(token) > 2048 or not token.isascii():
        return TokenCheck(False, "malformed")
    if not hmac.compare_digest(_mac(key, payload).encode("ascii"), mac.encode("ascii")):
        return TokenCheck(False, "bad-signature")
    try:
        claims = json.loads(_unb64(payload))
        link, expires = claims["link"], claims["exp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return TokenCheck(False, "malformed")
    if not isinstance(link, str) or not isinstance(expires, int):
        return TokenCheck(False, "malformed")
    if link != link_id:
        return TokenCheck(False, "wrong-link")
    if now >= expires:
        return TokenCheck(False, "expired")
    return TokenCheck(True)
