"""Diagnosis: how fast a finding comes, from the engine alone and from live health checks.

1. The diagnosis engine alone: the seed's field failure (tests/sip/data/seed-prack-missing.sip,
   the unacknowledged reliable 183 then BYE cause 65) imported and diagnosed many times.
2. Decisive message to finding: a real `guestgate signal` process runs health checks (admin API
   POST, as the operator does) against SIPp playing a CUCM in front of a CUBE (BYE with
   Reason: Q.850;cause=65 after the answer) and a CUCM giving up with 503 cause 47 after a 183.
   The decisive message's time comes from SIPp's message trace; the finding's time is the
   health result's `time` (set when the diagnosis is done), and the answer's arrival at the client.
3. A whole health check: 3 signalling processes x a trunk of 3 destinations, run on all three at
   once through AdminClient as the operator's health controller does, against one SIPp CUBE that
   answers after a reliable 183 (PRACKed). Its wall time is set by the calls: each holds the
   check's minimum media seconds, so the table splits call time from the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench.diagnosis_pods import TOKEN, Pod, launch_pod, wait_ready
from bench.measure import percentile
from bench.report import PartResult
from bench.settings import Settings
from bench.sip_sipp import REPO, sipp_trace, start_peer
from guestgate.config.schema import DestinationConfig, HealthCheckConfig, KeepaliveConfig, PeerConfig, TrunkProfile
from guestgate.signal.admin_client import AdminClient
from guestgate.sip.diagnosis import diagnose
from guestgate.sip.importers import import_bytes
from guestgate_dev.support.sipp import Sipp

SEED = REPO / "tests" / "sip" / "data" / "seed-prack-missing.sip"
MEDIA_SECONDS = 1  # each answered health-check call holds this long (the profile's minimum)
PODS = 3
CHECK_TIMEOUT = 60.0


def trunk(name: str, peer: Sipp, destinations: int) -> TrunkProfile:
    numbers = ["1000", "0044123456", "0041225673"]
    return TrunkProfile(
        id=f"bench/{name}",
        namespace="bench",
        name=name,
        peers=(PeerConfig(host="127.0.0.1", port=peer.port, transport="udp"),),
        keepalive=KeepaliveConfig(interval_seconds=0),  # the scenarios answer INVITEs, not OPTIONS
        health_check=HealthCheckConfig(
            destinations=tuple(
                DestinationConfig(name=f"d{i + 1}", number=numbers[i % len(numbers)]) for i in range(destinations)
            ),
            timeout_seconds=8,
            min_media_seconds=MEDIA_SECONDS,
        ),
    )


# ---- 1. the engine alone ----------------------------------------------------------------------


def engine_speed(repeats: int) -> dict[str, Any]:
    data = SEED.read_bytes()
    imports: list[float] = []
    diagnoses: list[float] = []
    code = ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        imported = import_bytes(data, SEED.name)
        t1 = time.perf_counter()
        report = diagnose(imported.ladders)
        t2 = time.perf_counter()
        imports.append((t1 - t0) * 1000)
        diagnoses.append((t2 - t1) * 1000)
        code = report.outcome
    messages = sum(len(ladder.messages) for ladder in imported.ladders)
    return {"repeats": repeats, "importMs": imports, "diagnoseMs": diagnoses, "outcome": code, "messages": messages}


CAPTURES = REPO / "tests" / "sip" / "data" / "captures"
TICKET = REPO / "tests" / "sip" / "data" / "ticket-lone-bye.txt"
BIG_CALLS = 500  # copies of a capture, each its own call, for the throughput row


def importer_speed(repeats: int) -> list[dict[str, Any]]:
    """Each importer on its capture (tests/sip/data/captures, the ticket paste), and one large
    tshark -V export of many calls: detection + import + ladders, then the diagnosis."""
    inputs = [(path.name, path.read_bytes()) for path in sorted(CAPTURES.iterdir())]
    inputs.append((TICKET.name, TICKET.read_bytes()))
    one = (CAPTURES / "tshark-V.txt").read_bytes()
    big = b"\n".join(one.replace(b"7e1b2c80-9a3f1d22", f"{n:08d}-9a3f1d22".encode()) for n in range(BIG_CALLS))
    inputs.append((f"tshark-V.txt x {BIG_CALLS} calls", big))
    rows = []
    for name, data in inputs:
        imports: list[float] = []
        diagnoses: list[float] = []
        runs = max(1, repeats // 20) if len(data) > 100_000 else repeats
        for _ in range(runs):
            t0 = time.perf_counter()
            imported = import_bytes(data, name)
            t1 = time.perf_counter()
            report = diagnose(imported.ladders)
            diagnoses.append((time.perf_counter() - t1) * 1000)
            imports.append((t1 - t0) * 1000)
        rows.append({"input": name, "format": imported.format, "bytes": len(data), "runs": runs,
                     "calls": len(imported.ladders), "importMs": imports, "diagnoseMs": diagnoses,
                     "outcome": report.outcome})
    return rows


# ---- 2. decisive message to finding -------------------------------------------------------------


def _when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _call_span(ladder: list[str]) -> float:
    """Seconds from the first to the last message of a ladder as the admin API renders it."""
    offsets = [float(line.split(" ", 1)[0][1:]) for line in ladder if line.startswith("+")]
    return max(offsets) if offsets else 0.0


async def live_checks(
    pod: Pod, trunk_id: str, peer: Sipp, decisive: Callable[[str], bool], repeats: int
) -> list[dict[str, Any]]:
    client = AdminClient(pod.url, TOKEN)
    rows = []
    for _ in range(repeats):
        sent = time.time()
        result = await client.health_check(trunk_id, trigger="bench", timeout=CHECK_TIMEOUT)
        arrived = time.time()
        call_id = result["calls"][0]["callId"]
        trace = [m for m in sipp_trace(peer.log.parent / "trace.msg") if m.call_id == call_id]
        key = next((m for m in trace if m.direction == "sent" and decisive(m.text)), None)
        invite = next((m for m in trace if m.first_line.startswith("INVITE")), None)
        found = _when(result["time"])
        findings = [f["code"] for f in result["findings"] if f.get("severity", "") != "info"] or [result["outcome"]]
        rows.append(
            {
                "outcome": result["outcome"],
                "findings": findings,
                "requested": sent,
                "answered": arrived,
                "decisive": key.wall if key else None,
                "invite": invite.wall if invite else None,
                "finding": found,
                "decisiveToFindingMs": (found - key.wall) * 1000 if key else None,
                "decisiveToAnswerMs": (arrived - key.wall) * 1000 if key else None,
                "inviteToDecisiveMs": (key.wall - invite.wall) * 1000 if key and invite else None,
                "checkSeconds": result["durationSeconds"],
                "ladder": result["podHealth"]["destinations"][0]["ladder"],
            }
        )
    return rows


# ---- 3. a whole health check on three pods ------------------------------------------------------


async def whole_checks(pods: list[Pod], trunk_id: str, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(repeats):
        start = time.monotonic()
        results = await asyncio.gather(
            *(
                AdminClient(pod.url, TOKEN).health_check(trunk_id, trigger="bench", timeout=CHECK_TIMEOUT)
                for pod in pods
            )
        )
        wall = time.monotonic() - start
        per_pod = []
        for result in results:
            spans = [_call_span(d["ladder"]) for d in result["podHealth"]["destinations"]]
            per_pod.append(
                {
                    "outcome": result["outcome"],
                    "outcomes": [d["outcome"] for d in result["podHealth"]["destinations"]],
                    "checkSeconds": result["durationSeconds"],
                    "callSeconds": sum(spans),
                    "setupSeconds": [c["setupSeconds"] for c in result["calls"]],
                }
            )
        rows.append({"wallSeconds": wall, "pods": per_pod})
    return rows


# ---- the part ------------------------------------------------------------------------------------


def run(settings: Settings) -> PartResult:
    quick = settings.quick
    scratch = settings.scratch("diagnosis")
    result = PartResult(name="diagnosis")
    speed = engine_speed(200 if quick else 3000)
    importers = importer_speed(40 if quick else 400)

    repeats = 1 if quick else 5
    whole_repeats = 1 if quick else 3
    trace = ("-trace_msg", "-message_file", "trace.msg")
    peers: list[Sipp] = []
    pods: list[Pod] = []
    try:
        cucm = start_peer(scratch / "cucm", "cucm-over-cube", rtp_echo=True, extra=trace)
        peers.append(cucm)
        busy = start_peer(scratch / "cause47", "cucm-183-then-503-cause47", extra=trace)
        peers.append(busy)
        cube = start_peer(scratch / "cube", "cube-reliable-183", rtp_echo=True)
        peers.append(cube)
        trunks = [trunk("cucm", cucm, 1), trunk("cause47", busy, 1), trunk("cube", cube, 3)]
        pods = [launch_pod(scratch, f"edge-{i}", trunks) for i in range(PODS)]
        for pod in pods:
            wait_ready(pod)
        bye = asyncio.run(
            live_checks(pods[0], "bench/cucm", cucm, lambda t: t.startswith("BYE ") and "cause=65" in t, repeats)
        )
        cause47 = asyncio.run(
            live_checks(pods[0], "bench/cause47", busy, lambda t: t.startswith("SIP/2.0 503"), repeats)
        )
        whole = asyncio.run(whole_checks(pods, "bench/cube", whole_repeats))
    finally:
        for pod in pods:
            pod.stop()
        for peer in peers:
            peer.stop()

    table = result.table("Diagnosis: the engine alone (seed ladder)", ["step", "runs", "p50 ms", "p99 ms", "outcome"])
    table.add(
        "import + ladders", speed["repeats"], percentile(speed["importMs"], 50), percentile(speed["importMs"], 99), ""
    )
    table.add(
        "diagnose",
        speed["repeats"],
        percentile(speed["diagnoseMs"], 50),
        percentile(speed["diagnoseMs"], 99),
        speed["outcome"],
    )
    table.notes += [
        f"{SEED.relative_to(REPO)}: {speed['messages']} SIP messages, the unacknowledged reliable 183 and the "
        "BYE with cause 65; one Python process, nothing else (the reference for the rows below)",
    ]

    formats = result.table("Diagnosis: each importer on its capture",
                           ["input", "format", "bytes", "calls", "runs", "import p50 ms", "p99 ms",
                            "diagnose p50 ms", "MB/s", "outcome"])
    for row in importers:
        p50 = percentile(row["importMs"], 50)
        formats.add(row["input"], row["format"], row["bytes"], row["calls"], row["runs"], p50,
                    percentile(row["importMs"], 99), percentile(row["diagnoseMs"], 50),
                    round(row["bytes"] / 1e6 / (p50 / 1000), 1) if p50 else "", row["outcome"])
    formats.notes += [
        "tests/sip/data/captures: one call (CUCM -> FreeSWITCH, 486) as each tool prints it; the ticket is the "
        "field notes' lone BYE pasted with prose (INCONCLUSIVE); the last row is one tshark -V export of "
        f"{BIG_CALLS} such calls (detection, import and ladders; then the diagnosis of every call)",
    ]

    live = result.table(
        "Diagnosis: decisive SIP message to finding (live health check, one pod)",
        [
            "decisive message",
            "checks",
            "finding",
            "to finding p50 ms",
            "p99 ms",
            "to client p50 ms",
            "call before it ms",
            "check s",
        ],
    )
    for label, rows in (("BYE Reason cause=65 (CUCM over CUBE)", bye), ("503 cause=47 after 183 (CUCM)", cause47)):
        to_finding = [r["decisiveToFindingMs"] for r in rows if r["decisiveToFindingMs"] is not None]
        to_client = [r["decisiveToAnswerMs"] for r in rows if r["decisiveToAnswerMs"] is not None]
        before = [r["inviteToDecisiveMs"] for r in rows if r["inviteToDecisiveMs"] is not None]
        live.add(
            label,
            len(rows),
            "/".join(sorted({c for r in rows for c in r["findings"]})),
            percentile(to_finding, 50),
            percentile(to_finding, 99),
            percentile(to_client, 50),
            percentile(before, 50),
            percentile([r["checkSeconds"] for r in rows], 50),
        )
    live.notes += [
        "decisive message: when SIPp sent it (its -trace_msg clock); finding: the health result's `time`, "
        "stamped once the diagnosis is done; to client: the admin API's answer read by the caller (same host clock)",
        "between them: pjsip ends the call, the check waits for the last transaction to settle (polled every "
        "50 ms), builds the ladder, diagnoses; 'call before it' is INVITE to the decisive message (the "
        "scenario's own pauses: 300 ms + 500 ms, and 800 ms)",
    ]

    whole_table = result.table(
        f"Diagnosis: a whole health check, {PODS} pods x 3 destinations at once (as the operator runs it)",
        ["repeat", "wall s", "pod check s (max)", "calls s (max pod)", "not calls s (max pod)", "floor s", "outcomes"],
    )
    floor = 3 * MEDIA_SECONDS
    for index, row in enumerate(whole):
        pods_rows = row["pods"]
        worst = max(pods_rows, key=lambda p: p["checkSeconds"])
        whole_table.add(
            index + 1,
            row["wallSeconds"],
            worst["checkSeconds"],
            worst["callSeconds"],
            worst["checkSeconds"] - worst["callSeconds"],
            float(floor),
            "/".join(sorted({o for p in pods_rows for o in p["outcomes"]})),
        )
    walls = [r["wallSeconds"] for r in whole]
    whole_table.notes += [
        f"wall p50 {percentile(walls, 50):.2f} s over {len(walls)} run(s); each pod calls its 3 destinations one "
        f"after another (GuestGate's design), the pods at once; every answered call holds the minimum media "
        f"time ({MEDIA_SECONDS} s), so the floor of a check is 3 x {MEDIA_SECONDS} s",
        "calls s: first to last SIP message of each call (INVITE ... BYE/200), summed over the pod's destinations; "
        "not calls s: the rest of the pod's check (placing, hang-up settle, ladders, diagnosis, result); "
        "the engine's own diagnosis time is the first table",
        "peer: one SIPp CUBE (reliable 183, PRACKed, 200 after 200 ms, RTP echoed) shared by the three pods, as "
        "one SipTrunk's peer is",
    ]
    result.data = {
        "engine": {k: v for k, v in speed.items()},
        "importers": importers,
        "decisive": {"bye65": bye, "503cause47": cause47},
        "whole": whole,
        "mediaSeconds": MEDIA_SECONDS,
        "pods": PODS,
    }
    return result
