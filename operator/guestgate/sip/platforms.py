"""Which product runs a side of a call, from its User-Agent / Server header (pure).

The names are the vocabulary of ``--caller-platform`` / ``--callee-platform`` and of the fix
wording in sip.fixes.
"""

from __future__ import annotations

import re
from typing import Final

PLATFORMS: Final = ("guestgate", "cucm", "cube", "asterisk", "freeswitch", "kamailio", "generic")
LABELS: Final[dict[str, str]] = {
    "guestgate": "GuestGate",
    "cucm": "Cisco Unified CM",
    "cube": "Cisco CUBE",
    "asterisk": "Asterisk",
    "freeswitch": "FreeSWITCH",
    "kamailio": "Kamailio",
    "generic": "unknown platform",
}

# First match wins; order matters because "Cisco-SIPGateway" and "Cisco-CUCM" share a prefix.
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"guestgate", re.I), "guestgate"),
    (re.compile(r"cisco-cucm|cisco-cp|callmanager", re.I), "cucm"),
    (re.compile(r"cisco-sipgateway|cisco-ios|\bcube\b", re.I), "cube"),
    (re.compile(r"asterisk", re.I), "asterisk"),
    (re.compile(r"freeswitch|mod_sofia", re.I), "freeswitch"),
    (re.compile(r"kamailio|openser|opensips", re.I), "kamailio"),
)


def detect_platform(products: list[str]) -> str:
    """The platform named by the first recognisable User-Agent/Server value, else "generic"."""
    for product in products:
        for pattern, platform in _PATTERNS:
            if pattern.search(product):
                return platform
    return "generic"


# CUCM's dialog tags are "<number>~<uuid>-<number>" (sip-field-guide.md); no other product writes
# them, so a side that sent no User-Agent/Server (a partial trace: the other side's BYE only) is
# still recognised by the tag the other side quotes.
_CUCM_TAG: Final = re.compile(r"^\d+~[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\d+$", re.I)


def platform_of_tags(tags: list[str]) -> str:
    """The platform a side's dialog tags betray, else "generic"."""
    return "cucm" if any(_CUCM_TAG.match(tag) for tag in tags) else "generic"


def check_platform(name: str) -> str:
    """Normalise a user-given platform name; ValueError lists the accepted names."""
    lowered = name.strip().lower()
    if lowered not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; use one of: {', '.join(PLATFORMS)}")
    return lowered
