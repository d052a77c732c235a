"""`guestgate probe`: health-check calls to a SIP peer from this machine, diagnosed.

The same engine, call and diagnosis as the signalling pods, outside the cluster; the output and
exit codes are those of `guestgate diagnose` (0 no error finding, 1 an error finding, 2 the
input was wrong or the engine could not start).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    from guestgate.sip.platforms import PLATFORMS

    parser.add_argument("--peer", metavar="HOST:PORT", help="the peer to call (default: the trunk's peer)")
    parser.add_argument(
        "--to",
        metavar="NUMBER",
        action="append",
        required=True,
        help="number to call; repeat to call several (compared in the report)",
    )
    parser.add_argument("--transport", choices=("udp", "tcp"), default=None, help="transport (default udp)")
    parser.add_argument("--trunk", metavar="FILE.yaml", help="take the profile from a SipTrunk manifest")
    parser.add_argument(
        "--prack",
        choices=("supported", "require"),
        default=None,
        help="100rel policy (default supported: offer 100rel, PRACK every reliable 18x)",
    )
    parser.add_argument(
        "--local-ringback",
        choices=("auto", "always", "never"),
        default=None,
        help="local ringback policy of the caller (default auto)",
    )
    parser.add_argument(
        "--disable-early-media-on-180",
        action="store_true",
        default=None,
        help="treat a 180 with SDP as ringing (local ringback) instead of early media",
    )
    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        default=None,
        help="what the peer runs (default: detected from Server/User-Agent)",
    )
    parser.add_argument(
        "--media-seconds",
        type=float,
        default=None,
        help="seconds to keep an answered call up while RTP is counted (default 3)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds a call may take (default 30)")
    parser.add_argument(
        "--bind",
        metavar="ADDRESS",
        default=None,
        help="local address to use (default: the one that routes to the peer)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON (as diagnose --json)")
    parser.add_argument("--svg", metavar="FILE", default=None, help="also write the ladders as SVG")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from guestgate.engine.config import EngineInputError

    try:
        profile = build_profile(args)
    except (ValueError, ValidationError, OSError, EngineInputError) as error:
        print(f"guestgate probe: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return asyncio.run(_probe(args, profile))


def _parse_peer(text: str, transport: str) -> dict[str, Any]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--peer {text!r}: expected HOST:PORT")
    return {"host": host.strip("[]"), "port": int(port), "transport": transport}


def _profile_from_manifest(path: str) -> dict[str, Any]:
    import yaml

    from guestgate.api.siptrunk import SipTrunkSpec

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("kind") != "SipTrunk":
        raise ValueError(f"{path}: not a SipTrunk manifest")
    meta = document.get("metadata") or {}
    spec = SipTrunkSpec.model_validate(document.get("spec") or {})
    data = spec.model_dump(by_alias=True, mode="json", exclude={"cluster_ref", "peer", "fallback_peers", "auth"})
    namespace, name = str(meta.get("namespace", "default")), str(meta.get("name", "probe"))
    data.update(
        id=f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        peers=[p.model_dump(mode="json") for p in (spec.peer, *spec.fallback_peers)],
    )
    return data


def build_profile(args: argparse.Namespace) -> Any:
    from guestgate.config.schema import TrunkProfile
    from guestgate.engine.config import check_number

    data: dict[str, Any] = (
        _profile_from_manifest(args.trunk)
        if args.trunk
        else {"id": "probe/probe", "namespace": "probe", "name": "probe"}
    )
    if args.peer:
        transport = args.transport or "udp"
        data["peers"] = [_parse_peer(args.peer, transport), *data.get("peers", [])[1:]]
    elif not data.get("peers"):
        raise ValueError("give --peer HOST:PORT or --trunk FILE.yaml")
    elif args.transport:
        data["peers"] = [{**p, "transport": args.transport} for p in data["peers"]]
    if args.prack:
        data["prack"] = args.prack
    early = dict(data.get("earlyMedia", {}))
    if args.local_ringback:
        early["localRingback"] = args.local_ringback
    if args.disable_early_media_on_180:
        early["disableOn180"] = True
    data["earlyMedia"] = early
    if args.platform:
        data["platform"] = args.platform
    for number in args.to:
        check_number(number)
    check = dict(data.get("healthCheck", {}))
    check["destinations"] = [{"name": f"to-{i + 1}", "number": n} for i, n in enumerate(args.to)]
    if args.timeout is not None:
        check["timeoutSeconds"] = max(1, round(args.timeout))
    if args.media_seconds is not None:
        check["minMediaSeconds"] = max(0, round(args.media_seconds))
    data["healthCheck"] = check
    profile = TrunkProfile.model_validate(data)
    if profile.auth is not None:
        raise ValueError("probe does not read credentials; remove spec.auth or test without it")
    return profile


async def _probe(args: argparse.Namespace, profile: Any) -> int:
    from guestgate.engine.core import EngineError, EngineSettings, SipEngine
    from guestgate.signal.health import CallSettings, run_health_check
    from guestgate.signal.keepalive import local_address_towards
    from guestgate.sip.report import emit

    peer = profile.peers[0]
    try:
        bind = args.bind or local_address_towards(peer.host, peer.port)
    except OSError as error:  # e.g. a host name that does not resolve
        print(f"guestgate probe: cannot reach {peer.hostport()}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine = SipEngine(EngineSettings(bind_address=bind, sip_port=0, max_calls=8, user_agent="GuestGate-probe"))
    try:
        engine.start()
    except EngineError as error:
        print(f"guestgate probe: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        errors = await engine.set_trunks([profile], {})
        if errors:
            print(f"guestgate probe: {errors[profile.id]}", file=sys.stderr)
            return EXIT_BAD_INPUT
        timeout = args.timeout if args.timeout is not None else float(profile.health_check.timeout_seconds)
        media = args.media_seconds if args.media_seconds is not None else float(profile.health_check.min_media_seconds)
        result = await run_health_check(
            engine, profile, CallSettings(timeout=timeout, media_seconds=media), trigger="probe"
        )
    finally:
        engine.stop()
    refused = [o for o in result.destinations if o.error]
    if refused:
        for outcome in refused:
            print(f"guestgate probe: cannot call {outcome.destination.number}: {outcome.error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return emit(result.report, "probe", args.json, args.svg)
