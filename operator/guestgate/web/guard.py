"""What stands between the public web port and the handlers: nothing a visitor sends can raise
into aiohttp's 500 page, JSON is parsed only when it is small and shallow, and the visitor's
address is read from X-Forwarded-For only as far as trusted proxies wrote it.

- `error_middleware`: an exception a handler lets escape becomes a short JSON answer, logged and
  counted in `guestgate_web_errors_total{kind}`: 400 for the classes malformed input raises
  (ValueError and UnicodeError, TypeError, LookupError, RecursionError), 503 for anything else
  (a fault of ours or of the engine, never the visitor's; aiohttp's HTML 500 page is not sent).
- `parse_json`: at most `max_bytes`, nested at most `max_depth` deep (checked by a scan before
  the parser runs, so `[[[[...` tens of thousands deep is refused, not a RecursionError).
- `forwarded_client`: with N trusted proxies in front, each appending the address it received
  from, the visitor is the N-th X-Forwarded-For entry from the right; what lies left of it was
  written by the client itself and is never believed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from guestgate.web import metrics

log = logging.getLogger("guestgate.web.guard")

INPUT_ERRORS = (ValueError, TypeError, LookupError, RecursionError)  # UnicodeError is a ValueError
MAX_JSON_DEPTH = 16

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadJSON(ValueError):
    """The body is not JSON this server reads (too large, too deep, or not JSON); says which."""


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped; pure)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_json(data: bytes, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from a request body, or BadJSON naming what is wrong with it."""
    if len(data) > max_bytes:
        raise BadJSON(f"larger than {max_bytes} bytes")
    if json_depth(data) > max_depth:
        raise BadJSON(f"nested deeper than {max_depth}")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadJSON("not JSON") from exc


def forwarded_client(remote: str, forwarded_for: Iterable[str], trusted_hops: int) -> str:
    """The visitor's address behind `trusted_hops` proxies that each append to X-Forwarded-For.

    `forwarded_for` holds the header's values (a request may carry several headers; they read as
    one list). The nearest proxy appended the address it received from, the one before it the
    address it received from, and so on: the visitor is the trusted_hops-th entry from the right.
    Fewer entries than trusted proxies, or an entry that is no IP address, means the header was
    not written by the proxies as configured: the connection's own address is used.
    """
    if trusted_hops <= 0:
        return remote
    entries = [entry.strip() for value in forwarded_for for entry in value.split(",")]
    entries = [entry for entry in entries if entry]
    if len(entries) < trusted_hops:
        return remote
    candidate = entries[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate.strip("[]")))
    except ValueError:
        return remote


def _answer(status: int, kind: str, text: str) -> web.Response:
    metrics.WEB_ERRORS.labels(kind).inc()
    headers = {"Retry-After": "5"} if status == 503 else None
    return web.json_response({"error": kind, "text": text}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise  # aiohttp's own answers (404, 405, 413...) and cancellation pass through
    except INPUT_ERRORS as exc:
        log.warning(
            "malformed request method=%s path=%r error=%s: %s",
            request.method,
            request.path[:200],
            type(exc).__name__,
            str(exc)[:200],
        )
        return _answer(400, "bad-request", "The request could not be understood.")
    except Exception:
        log.exception("request failed method=%s path=%r", request.method, request.path[:200])
        return _answer(503, "unavailable", "Something went wrong on our side. Please try again shortly.")
