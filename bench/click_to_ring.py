"""Click to ring (through the pod's rtpengine): from the browser's offer to the INVITE leaving, and
from the 200 OK to the page's connected state, p50 / p99 over a bounded number of calls, one call
at a time.

The caller (bench/browser_caller.py, aiortc) stamps its offer with the wall clock as it POSTs it;
the SIPp peer (same host, same clock) stamps the INVITE it receives and the 200 OK it sends
(-trace_msg). Calls are matched by SIP Call-ID: GuestGate's log says which Call-ID each browser
call placed, Janus's "calling" event carries it. Reference: the Janus SIP plugin, same caller, same
peer, same run.
"""

from __future__ import annotations

import time
from typing import Any

from bench.browser_rig import LINK_PATH, EchoPeer, sip_call_ids, start_callers, start_echo_peer, start_signal
from bench.janus_rig import janus_note, janus_reference, start_janus
from bench.measure import ms, percentile
from bench.report import PartResult
from bench.settings import Settings
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import start_relay

INTERVALS = [
    ("offer -> INVITE at the peer", "offer_to_invite"),
    ("200 OK sent -> page connected", "ok_to_page"),
    ("200 OK sent -> WebRTC media up", "ok_to_media"),
    ("offer -> WebRTC media up (whole click)", "offer_to_connected"),
]


def _intervals(results: list[dict[str, Any]], peer: EchoPeer, call_ids: dict[str, str]) -> dict[str, list[float]]:
    invites: dict[str, float] = {}
    oks: dict[str, float] = {}
    for message in peer.messages():
        if message.direction == "received" and message.first_line.startswith("INVITE "):
            invites.setdefault(message.call_id, message.wall)
        elif message.direction == "sent" and message.first_line.startswith("SIP/2.0 200"):
            oks.setdefault(message.call_id, message.wall)  # the first 200 of a call answers its INVITE
    out: dict[str, list[float]] = {key: [] for _, key in INTERVALS}
    for result in results:
        times = result.get("times", {})
        call_id = result.get("sip_call_id") or call_ids.get(result.get("server_id", ""), "")
        if result.get("error") or call_id not in invites or "offer" not in times:
            continue
        out["offer_to_invite"].append(invites[call_id] - times["offer"])
        if call_id in oks and "page_connected" in times:
            out["ok_to_page"].append(times["page_connected"] - oks[call_id])
        if call_id in oks and "connected" in times:
            out["ok_to_media"].append(times["connected"] - oks[call_id])
        if "connected" in times:
            out["offer_to_connected"].append(times["connected"] - times["offer"])
    return out


def _run_calls(spec: dict[str, Any], calls: int, scratch: Any, timeout: float) -> list[dict[str, Any]]:
    callers = start_callers(spec | {"sequential": True, "hold": 0.3}, calls, calls, scratch)
    callers.wait(("done",), 1, timeout)
    return callers.stop(timeout=5)


def run(settings: Settings) -> PartResult:
    result = PartResult(name="click_to_ring")
    scratch = settings.scratch("click_to_ring")
    calls = 5 if settings.quick else 200  # a p99 over 50 calls is their slowest but one
    timeout = 30.0 if settings.quick else 90.0
    measured: dict[str, dict[str, list[float]]] = {}
    failed: dict[str, int] = {}
    peer = start_echo_peer(scratch)
    notes = []
    try:
        relay = start_relay(scratch / "rtpengine.log")  # what a pod runs beside its signal process
        try:
            signal = start_signal(scratch, peer.port, relay=relay.ng)
            try:
                spec = {"system": "guestgate", "web_url": signal.web_url, "origin": signal.web_url, "path": LINK_PATH}
                results = _run_calls(spec, calls, scratch, timeout)
                time.sleep(0.3)  # the last lines of the server's log and SIPp's trace
                measured["GuestGate"] = _intervals(results, peer, sip_call_ids(signal))
                failed["GuestGate"] = calls - len(measured["GuestGate"]["offer_to_invite"])
            finally:
                stop_process(signal.process)
        finally:
            relay.stop()
        why_not, ice_ip = janus_reference()
        if why_not:
            notes.append(f"No Janus reference: {why_not}")
        else:
            janus = start_janus(scratch / "janus", free_port(), (42000, 42999), ice_ip)
            try:
                spec = {"system": "janus", "janus_url": janus.url, "sip_uri": peer.uri(), "ice_ip": ice_ip}
                results = _run_calls(spec, calls, scratch, timeout)
                time.sleep(0.3)
                measured["Janus"] = _intervals(results, peer, {})
                failed["Janus"] = calls - len(measured["Janus"]["offer_to_invite"])
            finally:
                stop_process(janus.process)
            notes.append(janus_note(ice_ip))
    finally:
        stop_process(peer.process)

    systems = list(measured)
    columns = ["interval"] + [f"{s} {q} ms" for s in systems for q in ("p50", "p99")]
    table = result.table(f"Click to ring: {calls} calls one at a time, per system", columns)
    for title, key in INTERVALS:
        row: list[Any] = [title]
        for system in systems:
            values = measured[system][key]
            row += [ms(percentile(values, 50)), ms(percentile(values, 99))]
        table.add(*row)
    table.notes += [
        "Caller: aiortc in its own process (not a browser), offering PCMU; peer: SIPp UAS (180, then 200 with PCMU"
        " at once, RTP echo); same host clock for the caller's and SIPp's timestamps (SIPp stamps per loop turn).",
        "GuestGate: one signal process beside its rtpengine, as a pod runs them: the browser's offer goes through"
        " rtpengine (ng offer) before the INVITE leaves; the far end's answer goes back through it (ng answer).",
        "offer -> INVITE: caller POSTs its offer (GuestGate: POST /_gg/calls; Janus: the SIP plugin's `call`"
        " request, after session, attach and guest register, which are not counted) until SIPp receives the INVITE.",
        "page connected: GuestGate's event socket says `connected` (the relay's answer came as an event before it);"
        " Janus's `accepted` event with the SDP answer, applied. Both WebRTC legs only start with the answer.",
        "WebRTC media up: page connected and the caller's ICE+DTLS connected, whichever is later.",
        "failed calls: "
        + ", ".join(f"{s} {failed[s]} of {calls}" for s in systems)
        + " (no INVITE matched, or the call did not connect).",
        *notes,
    ]
    result.data = {
        "calls": calls,
        "failed": failed,
        "seconds": {s: {k: [round(v, 5) for v in vals] for k, vals in m.items()} for s, m in measured.items()},
    }
    if failed.get("GuestGate"):
        result.error = f"GuestGate: {failed['GuestGate']} of {calls} calls failed"
    return result
