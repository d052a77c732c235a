"""`make bench QUICK=1` runs every part briefly: the benchmarks never rot.

No timing is asserted here (figures are judged by the tables, never by tests): what is checked is
that each part ran, measured both GuestGate and its reference, and wrote its JSON.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster  # operator_scale runs a local control plane

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def bench_parts() -> list[str]:
    """The parts `python -m bench` runs, in its order (`--list`)."""
    listed = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=True).stdout
    return listed.split()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return run, {p: json.loads((out / f"{p}.json").read_text()) for p in bench_parts() if (out / f"{p}.json").exists()}


def rows(document: dict[str, Any], title_start: str) -> list[dict[str, Any]]:
    table = next(t for t in document["tables"] if t["title"].startswith(title_start))
    return [dict(zip(table["columns"], row, strict=False)) for row in table["rows"]]


def test_every_part_ran_and_wrote_its_tables(quick_run: Any) -> None:
    run, documents = quick_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(documents) == sorted(bench_parts())
    for name, document in documents.items():
        assert document["quick"] is True and document["error"] == "", (name, document["error"])
        assert document["machine"]["cores"] >= 1
        assert document["tables"] and all(t["rows"] for t in document["tables"]), name
        assert f"## {document['tables'][0]['title']}" in run.stdout  # printed for people too


def test_the_sip_leg_has_ours_and_the_sipp_reference(quick_run: Any) -> None:
    sip = quick_run[1]["sip_leg"]
    assert sip["data"]["maxSustained"]["ours"] > 0 and sip["data"]["maxSustained"]["sipp"] > 0
    assert all(step["ok"] > 0 for step in sip["data"]["ours"] + sip["data"]["sipp"])


def test_the_engine_holds_calls_at_once_beside_sipp(quick_run: Any) -> None:
    table = rows(quick_run[1]["concurrency"], "Concurrency")
    ours = [row for row in table if row["side"] == "GuestGate engine"]
    assert ours and all(row["ok"] == row["held"] and row["failed"] == 0 for row in ours), table
    assert any(row["side"] == "SIPp uac" and row["ok"] > 0 for row in table), table


def test_the_browser_leg_relays_and_transcodes_calls_beside_janus(quick_run: Any) -> None:
    steps = quick_run[1]["browser_leg"]["data"]["steps"]
    relayed = [s for s in steps if s["system"] == "GuestGate relayed"]
    transcoded = [s for s in steps if s["system"] == "GuestGate transcoded"]
    reference = [s for s in steps if s["system"] == "Janus"]
    assert relayed and transcoded and reference
    assert all(s["connected"] == s["calls"] and s["rtts"] for s in relayed + transcoded), relayed + transcoded
    for step in relayed + transcoded:  # the signal process's CPU and its rtpengine's, apart
        signal_cpu, relay_cpu = step["cpuPercentByProcess"]
        assert signal_cpu >= 0 and relay_cpu >= 0
        assert abs(signal_cpu + relay_cpu - step["cpuPercent"]) < 0.01
    # Transcoding is rtpengine's work (a few % of a core per call: many clock ticks even in 3 s).
    assert all(s["cpuPercentByProcess"][1] > s["cpuPercentByProcess"][0] for s in transcoded), transcoded


def test_the_soak_places_and_ends_calls_and_leaves_no_slot(quick_run: Any) -> None:
    soak = quick_run[1]["soak"]["data"]
    assert soak["calls"] >= soak["atOnce"] >= 1 and soak["failed"] == [], soak
    assert soak["leakedSlots"] == 0 and soak["after"]["pjsua_calls"] == 0
    assert len(soak["samples"]) >= 3 and max(s["engine_calls"] for s in soak["samples"]) >= 1, soak["samples"]


def test_click_to_ring_measures_both_intervals(quick_run: Any) -> None:
    table = rows(quick_run[1]["click_to_ring"], "Click to ring")
    assert len(table) >= 2
    assert all(row["GuestGate p50 ms"] is not None for row in table), table


def test_the_operator_publishes_every_link_and_serves_edits(quick_run: Any) -> None:
    data = quick_run[1]["operator_scale"]["data"]
    assert [s["links"] for s in data["steps"]] == sorted(s["links"] for s in data["steps"])
    assert all(
        s["publishedSeconds"] is not None and s["servedSeconds"] is not None and s["servedMountedSeconds"] is not None
        for s in data["steps"]
    )
    assert data["editLatenciesSeconds"] and all(x > 0 for x in data["editLatenciesSeconds"])
    assert data["editLatenciesMountedSeconds"] and all(x > 0 for x in data["editLatenciesMountedSeconds"])


def test_the_diagnosis_names_the_seed_failure(quick_run: Any) -> None:
    document = quick_run[1]["diagnosis"]
    assert any(row["outcome"] == "PRACK_MISSING" for row in rows(document, "Diagnosis: the engine alone"))
    decisive = rows(document, "Diagnosis: decisive")
    assert all(row["finding"] == "PRACK_MISSING_DOWNSTREAM" for row in decisive), decisive


def test_the_peer_filter_flood_is_refused_where_filtered_and_answered_in_the_reference(quick_run: Any) -> None:
    table = rows(quick_run[1]["peer_filter"], "A scanner's flood")
    floods = {(row["server"], row["flood"]): row for row in table}
    assert {flood for server, flood in floods if not server.startswith("reference")} == {"none", "TCP", "UDP"}
    for (server, flood), row in floods.items():
        if flood == "none":
            continue
        assert row["requests"] > 0, row
        if server.startswith("reference"):
            assert row["answered"] > 0, row  # pjsua answers whoever is let through
        else:
            assert row["answered"] == 0, row  # the stranger gets nothing: filtered or steered
            assert row["server survived"] == "yes", row


def test_the_turn_edge_relays_every_call_beside_the_direct_ones(quick_run: Any) -> None:
    steps = quick_run[1]["turn"]["data"]["steps"]
    assert steps and all(s["turnP50Ms"] is not None and s["directP50Ms"] is not None for s in steps), steps
