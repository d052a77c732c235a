"""Which answer a link URL gets, and whether a signalling connection's Origin may call (pure).

Order matters: an unknown path is 404 before anything else; a withdrawn (disabled) link is 403;
a published link outside its validity window is 410; only then is the token checked, so a
visitor holding a token for an expired link is told the link expired, not that the token is bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from guestgate.config.schema import LinkConfig, LinksFile
from guestgate.web.tokens import TokenProblem, verify

Verdict = Literal["open", "unknown", "disabled", "not-yet-valid", "expired", "token"]

HTTP_STATUS: dict[Verdict, int] = {
    "open": 200,
    "unknown": 404,
    "disabled": 403,
    "not-yet-valid": 410,
    "expired": 410,
    "token": 403,
}


@dataclass(frozen=True, slots=True)
class LinkDecision:
    verdict: Verdict
    link: LinkConfig | None = None
    display_name: str = ""
    token_problem: TokenProblem | None = None

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.verdict]


def normalize_path(path: str) -> str:
    return "/" + path.strip("/")


def decide(links: LinksFile, path: str, now: datetime, key: bytes | None, token: str | None) -> LinkDecision:
    found = links.find(path)  # an index: 10,000 links cost no scan per request
    if not isinstance(found, LinkConfig):
        if found is not None:  # withdrawn
            return LinkDecision("disabled", display_name=found.display_name)
        return LinkDecision("unknown")
    link = found
    if link.valid_from is not None and now < _aware(link.valid_from):
        return LinkDecision("not-yet-valid", link, link.display_name)
    if link.valid_until is not None and now >= _aware(link.valid_until):
        return LinkDecision("expired", link, link.display_name)
    if link.access.require_token:
        # No key mounted: no token can be valid, so the link stays closed rather than open.
        check = verify(key, token, link.id, now.timestamp()) if key else verify(b"", None, link.id, 0)
        if not check.ok:
            return LinkDecision("token", link, link.display_name, check.problem)
    return LinkDecision("open", link, link.display_name)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower case, default ports dropped (as browsers send it);
    "" for anything that is not one (a port that is no number or out of range, a broken IPv6
    literal: urlsplit raises ValueError for those)."""
    try:
        parts = urlsplit(url.strip())
        hostname, port_number = parts.hostname, parts.port
    except ValueError:
        return ""
    if not parts.scheme or not hostname:
        return ""
    host = hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{port_number}" if port_number is not None and port_number != default else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def origin_allowed(origin: str | None, link: LinkConfig, cluster_origins: tuple[str, ...], public_url: str) -> bool:
    """The page itself (the cluster's public URL) may always call; so may the origins the link or
    the cluster allow (a website embedding the link). A connection without Origin is no browser
    and is refused: a script dialling out is exactly what the check is for."""
    if not origin:
        return False
    wanted = origin_of(origin)
    allowed = {origin_of(public_url), *(origin_of(o) for o in (*link.access.allowed_origins, *cluster_origins))}
    allowed.discard("")
    return wanted in allowed
