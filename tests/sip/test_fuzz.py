"""Fuzzing, bounded: seeded mutations of real traces into the SIP message parser and into every
importer, with the diagnosis run on whatever they read. The parser may only refuse with
SipParseError, the importers with InputError; anything else is a crash. A failure names the
seed and the case: `GUESTGATE_FUZZ_SEED=<seed> pytest tests/sip/test_fuzz.py` replays it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from guestgate.sip.diagnosis import diagnose
from guestgate.sip.importers import InputError, import_bytes
from guestgate.sip.message import SipMessage, SipParseError, parse_message
from sip.sip_builder import (
    CUBE,
    CUCM,
    Call,
    as_asterisk,
    as_freeswitch,
    as_hep,
    as_ios,
    as_pcap,
    as_pcapng,
    as_sip,
    as_sngrep,
    as_tshark,
    as_tshark_json,
)
from support.mutate import fuzz_seed, mutations

DATA = Path(__file__).resolve().parent / "data"
PARSER_CASES = 10_000
IMPORTER_CASES = 10_000


def prack_missing() -> Call:
    call = Call(CUCM, CUBE, number="00412256731").invite().reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp(), extra=("Require: 100rel", "RSeq: 5461"))
    call.wait(2).answer().ack().wait(30)
    return call.request("BYE", "callee", extra=("Reason: Q.850;cause=65",)).ok_to_last("BYE")


def traces() -> list[bytes]:
    """One trace of each format the importers read, and the traces kept in tests/sip/data."""
    call = prack_missing()
    texts = [as_sip(call), as_sip(call, compact=True, fold=True), as_ios(call), as_freeswitch(call)]
    texts += [as_asterisk(call), as_sngrep(call), as_tshark(call), as_tshark_json(call)]
    samples = [text.encode() for text in texts] + [as_pcap(call), as_pcapng(as_pcap(call)), as_hep(call)]
    samples += [path.read_bytes() for path in sorted((DATA / "captures").iterdir())]
    samples.append((DATA / "seed-prack-missing.sip").read_bytes())
    return samples


def messages() -> list[bytes]:
    """Single SIP messages (what the parser takes), cut from a trace."""
    text = as_sip(prack_missing()).replace("\r\n", "\n")
    return [chunk.encode() for chunk in text.split("\n\n") if chunk.split(" ", 1)[0].isupper()]


def touch(message: SipMessage) -> None:
    """Every accessor the ladders and the diagnosis use (they parse lazily)."""
    for value in (
        message.method,
        message.status,
        message.request_uri,
        message.call_id,
        message.cseq,
        message.rseq,
        message.rack,
        message.from_tag,
        message.to_tag,
        message.from_uri,
        message.to_uri,
        message.product,
        message.reasons,
        message.q850_cause,
        message.sdp,
        message.summary,
        message.tokens("Require"),
        message.shown("Reason"),
    ):
        del value


def run(seed: int, corpus: list[bytes], count: int, target: Callable[[bytes], None], allowed: type[Exception]) -> None:
    crashes: list[str] = []
    for case, data in mutations(seed, corpus, count):
        try:
            target(data)
        except allowed:
            continue
        except Exception:  # a crash: collected, the run goes on
            crashes.append(f"case {case}: {traceback.format_exc(limit=3)[-600:]}\n  input: {data[:300]!r}")
    assert not crashes, f"GUESTGATE_FUZZ_SEED={seed}: {len(crashes)} of {count} cases crashed; first:\n{crashes[0]}"


@pytest.fixture(scope="module")
def seed() -> int:
    value = fuzz_seed()
    print(f"fuzz seed {value} (GUESTGATE_FUZZ_SEED={value} replays it)")
    return value


def test_the_sip_parser_refuses_mutated_messages_cleanly(seed: int) -> None:
    def parse(data: bytes) -> None:
        touch(parse_message(data.decode("utf-8", "replace")))

    run(seed, messages(), PARSER_CASES, parse, SipParseError)


def test_the_importers_and_the_diagnosis_survive_mutated_traces(seed: int) -> None:
    def read(data: bytes) -> None:
        imported = import_bytes(data, "fuzz")
        diagnose(imported.ladders, notes=tuple(imported.notes))

    run(seed, traces(), IMPORTER_CASES, read, InputError)
