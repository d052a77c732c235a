"""From a TrunkProfile to what pjsua2 is told: checked values first, pjsua2 objects last.

Everything that can be wrong in a profile is checked here in plain Python before pjsua2 sees it:
pjsua2 asserts (and so aborts the whole process) on some bad arguments, and a bad trunk must
never take the calls of the good ones down with it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from guestgate.config.schema import PeerConfig, TrunkProfile

# The CRD's codec names -> pjmedia codec ids of the project's build (checked with
# Endpoint.codecEnum2: speex 8/16/32k, iLBC, GSM, PCMU, PCMA, G722, opus/48000/2, L16; no G.729).
CODEC_IDS: dict[str, str] = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1", "G722": "G722/16000/1"}

# Compile-time sizes of the project's pjsua2 build (hack/pjsua2/config_site.h, pjproject 2.17).
# The engine refuses a trunk or a call past them itself, with an error that names the limit:
# pjsua's own checks would only say "too many" (or, in a debug build, abort the process).
# PJSUA_MAX_CALLS is read back from the build (UaConfig's default); PJSUA_MAX_ACC is not exposed
# by pjsua2, so it is mirrored here (a test compares it with config_site.h).
PJSUA_MAX_ACC = 128
CONFIG_SITE = "hack/pjsua2/config_site.h"
# Each call holds two UDP sockets (RTP and RTCP); the rest of the process (SIP listeners and
# connections, the web server, WebRTC legs) gets this many descriptors besides.
FDS_BESIDES_CALLS = 256

_NUMBER = re.compile(r"^(\+?[0-9*#]{1,32}|[A-Za-z0-9][A-Za-z0-9._~-]{0,63})$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")


class EngineInputError(ValueError):
    """A value the engine refuses before it reaches pjsua2 (it would assert or misbehave)."""


def check_number(number: str) -> str:
    if not _NUMBER.match(number):
        raise EngineInputError(f"cannot dial {number!r}: use digits (+, *, #) or a SIP user part")
    return number


def check_display_name(name: str) -> str:
    """A From display name: quoted on the wire, so no quote, backslash, angle bracket or line break."""
    if len(name) > 64 or any(c in name for c in '"\\<>\r\n') or not name.isprintable():
        raise EngineInputError(f"bad caller name {name!r}")
    return name


def check_host(host: str) -> str:
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    if not _HOST.match(bare) or len(bare) > 253:
        raise EngineInputError(f"{host!r} is not a host name or IP address")
    return bare


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise EngineInputError(f"port {port} is outside 1..65535")
    return port


def check_token(value: str, what: str) -> str:
    if not _TOKEN.match(value):
        raise EngineInputError(f"{what} {value!r} may only hold letters, digits and ._~-")
    return value


def host_for_uri(host: str) -> str:
    bare = check_host(host)
    return f"[{bare}]" if ":" in bare else bare


def peer_uri(peer: PeerConfig, user: str | None = None) -> str:
    """sip:user@host:port;transport=x for a peer (user omitted for OPTIONS)."""
    check_port(peer.port)
    userinfo = f"{check_number(user)}@" if user else ""
    scheme = "sips" if peer.transport == "tls" else "sip"
    params = "" if peer.transport == "udp" else f";transport={peer.transport}"
    return f"{scheme}:{userinfo}{host_for_uri(peer.host)}:{peer.port}{params}"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


PrackUse = Literal["optional", "mandatory"]


def prack_use(profile: TrunkProfile) -> PrackUse:
    # pjsip as a UAC PRACKs every reliable 18x whatever this says (see docs/prack.md); the
    # setting only chooses between `Supported: 100rel` and `Require: 100rel` in the INVITE.
    return "mandatory" if profile.prack == "require" else "optional"


def codec_priorities(profile: TrunkProfile, available: set[str]) -> dict[str, int]:
    """pjmedia codec id -> priority: the profile's codecs in order, everything else off."""
    wanted = [CODEC_IDS[name] for name in profile.codecs if name in CODEC_IDS]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise EngineInputError(f"codecs {', '.join(missing)} are not in this pjsua2 build")
    if not wanted:
        raise EngineInputError(f"trunk {profile.id}: no usable codec in {list(profile.codecs)}")
    priorities = {codec: 0 for codec in available}
    for rank, codec in enumerate(wanted):
        priorities[codec] = 250 - rank
    return priorities


def media_port_range(start: int, count: int) -> tuple[int, int]:
    """pjsua's RTP ports as (start, count), checked: RTP on even ports from start, RTCP on the odd
    one above, all within count ports. start 0: any free ports (count unused)."""
    if start == 0:
        return 0, 0
    if start % 2 or not 1024 <= start <= 65534:
        raise EngineInputError(f"media port start {start} must be an even port from 1024 to 65534")
    if count < 2 or start + count - 1 > 65535:
        raise EngineInputError(f"media ports {start}+{count}: need at least 2 ports, none above 65535")
    return start, count


def account_config(
    pj: Any,
    profile: TrunkProfile,
    contact_host: str,
    media_bind: str,
    media_public: str | None,
    credentials: Credentials | None,
    media_ports: tuple[int, int] = (0, 0),
) -> Any:
    """The pjsua2 AccountConfig of a trunk (pj is the pjsua2 module, passed in to keep this testable).
    media_ports: pjsua's RTP ports as media_port_range gives them."""
    check_token(profile.name, "trunk name")
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:guestgate@{host_for_uri(contact_host)}"
    cfg.regConfig.registrarUri = ""  # a trunk is static: no REGISTER
    cfg.callConfig.prackUse = (
        pj.PJSUA_100REL_MANDATORY if prack_use(profile) == "mandatory" else pj.PJSUA_100REL_OPTIONAL
    )
    timer = profile.session_timer
    if timer.enabled:
        if not 90 <= timer.min_se <= timer.expires:
            raise EngineInputError(f"trunk {profile.id}: need 90 <= minSE <= expires")
        cfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_OPTIONAL
        cfg.callConfig.timerSessExpiresSec = timer.expires
        cfg.callConfig.timerMinSESec = timer.min_se
    else:
        cfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_INACTIVE
    cfg.natConfig.sipOutboundUse = 0  # RFC 5626 only matters with REGISTER
    cfg.mediaConfig.transportConfig.boundAddress = media_bind
    start, count = media_port_range(*media_ports)
    if start:
        # pjsua binds RTP at a port of [port, port + portRange] (RTCP one above, so the range
        # stops a port short) and moves on by two for each new media, wrapping within the range;
        # the first port is picked at random in it, so engines sharing a range seldom meet.
        cfg.mediaConfig.transportConfig.port = start
        cfg.mediaConfig.transportConfig.portRange = count - 2
        cfg.mediaConfig.transportConfig.randomizePort = True
    if media_public:
        cfg.mediaConfig.transportConfig.publicAddress = media_public
    cfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
    # pjsua re-INVITEs by default when an answer lists several codecs ("lock codec"); trunks
    # (CUBE, CUCM) answer with several all the time, and a surprise re-INVITE is a failure mode
    # of its own. The first codec of the answer is used without asking again.
    cfg.mediaConfig.lockCodecEnabled = False
    if credentials is not None:
        realm = profile.auth.realm if profile.auth and profile.auth.realm else "*"
        cred = pj.AuthCredInfo("digest", realm, credentials.username, 0, credentials.password)
        cfg.sipConfig.authCreds.append(cred)
    return cfg


def call_limit(wanted: int, build: int, fds: int | None) -> tuple[int, str]:
    """The calls a pod may hold at once and why: spec.limits.maxCallsPerPod (`wanted`), capped by
    the pjsua2 build's PJSUA_MAX_CALLS and by the file descriptors of the process (`fds`:
    RLIMIT_NOFILE, None when unlimited; two UDP sockets per call)."""
    limits = [(max(1, wanted), f"spec.limits.maxCallsPerPod={wanted}")]
    limits.append((build, f"this pjsua2 build holds {build} calls (PJSUA_MAX_CALLS, {CONFIG_SITE})"))
    if fds is not None:
        by_fds = max(1, (fds - FDS_BESIDES_CALLS) // 2)
        limits.append((by_fds, f"RLIMIT_NOFILE={fds} file descriptors leave room for {by_fds} calls"))
    return min(limits, key=lambda item: item[0])
