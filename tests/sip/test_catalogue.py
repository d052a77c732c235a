"""Every catalogue code from realistic ladders, read back through every importer format.

One row per case: the ladder (built with the headers CUCM, CUBE, Asterisk, FreeSWITCH, Kamailio
and GuestGate really send), the expected outcome, and words the fixes must contain. Each row runs
in each format (raw SIP, compact/odd-case/folded SIP, LF-only SIP, SIPp -trace_msg, Cisco IOS
debug, pcap), so a format that loses a header shows up as the row failing in that column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from guestgate.sip.diagnosis import Report, diagnose
from guestgate.sip.importers import import_bytes
from guestgate.sip.report import exit_code
from sip.sip_builder import (
    ASTERISK,
    CUBE,
    CUCM,
    FREESWITCH,
    GUESTGATE,
    KAMAILIO,
    Call,
    Media,
    as_asterisk,
    as_freeswitch,
    as_hep,
    as_hep_pcap,
    as_ios,
    as_pcap,
    as_pcapng,
    as_sip,
    as_sipp,
    as_sngrep,
    as_tshark,
    as_tshark_json,
)


def ok_cucm_to_cube() -> Call:
    call = Call(CUCM, CUBE, number="00412256731").invite().reply(100, "Trying").ringing()
    return call.wait(3).answer().ack().wait(10).request("BYE", extra=("Reason: Q.850;cause=16",)).ok_to_last("BYE")


def prack_missing_cucm_cube() -> Call:
    # The field failure: CUCM does not offer 100rel, the CUBE requires it anyway, no PRACK comes.
    call = Call(CUCM, CUBE, number="00412256731").invite().reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp(), extra=("Require: 100rel", "RSeq: 5461"))
    call.wait(2).answer().ack().wait(30)
    return call.request("BYE", "callee", extra=("Reason: Q.850;cause=65",
                                                "P-RTP-Stat: PS=19,OS=4480,PR=25,OR=4000,PL=0")).ok_to_last("BYE")


def prack_missing_asterisk_freeswitch_5xx() -> Call:
    # RFC 3262: the UAS gives up retransmitting its reliable 18x after 64*T1 and rejects with 5xx.
    call = Call(ASTERISK, FREESWITCH, number="1000").invite(supported="timer, replaces").reply(100, "Trying")
    call.ringing(reliable=1).wait(0.5).ringing(reliable=1).wait(32)
    return call.reply(500, "Server Internal Error", extra=("Reason: Q.850;cause=47",)).ack()


def prack_missing_downstream_kamailio() -> Call:
    call = Call(GUESTGATE, KAMAILIO, number="0041225673100").invite().reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp()).wait(2).answer().ack().wait(6)
    return call.request("BYE", "callee", extra=('Reason: Q.850;cause=65;text="bearer capability"',)).ok_to_last("BYE")


def prack_done_right() -> Call:
    call = Call(CUCM, CUBE).invite(supported="100rel,timer,replaces").reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp(), extra=("Require: 100rel", "RSeq: 12"))
    call.request("PRACK", extra=("RAck: 12 101 INVITE",)).ok_to_last("PRACK")
    return call.wait(3).answer().ack().wait(20).request("BYE").ok_to_last("BYE")


def downstream_488_after_early_answer() -> Call:
    # The 183 already agreed PCMU, so the 488 with cause 65 that follows is not about codecs.
    call = Call(CUBE, FREESWITCH, number="0041225673100").invite().reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp()).wait(32)
    return call.reply(488, "Not Acceptable Here", extra=("Reason: Q.850;cause=65",)).ack()


def unreachable_then_cancel() -> Call:
    call = unreachable_invite()
    return call.request("CANCEL")


def trying_then_nothing() -> Call:
    return Call(CUCM, CUBE).invite().reply(100, "Trying").wait(30)


def prack_unanswered_481() -> Call:
    call = Call(CUCM, CUBE).invite(supported="100rel,timer,replaces").reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp(), extra=("Require: 100rel", "RSeq: 77"))
    call.request("PRACK", extra=("RAck: 77 101 INVITE",)).ok_to_last("PRACK", 481, "Call/Transaction Does Not Exist")
    return call.wait(32).reply(504, "Server Time-out").ack()


def prack_unanswered_silence() -> Call:
    call = Call(GUESTGATE, KAMAILIO).invite().reply(100, "Trying").ringing(reliable=1)
    call.request("PRACK", extra=("RAck: 1 101 INVITE",)).wait(0.5)
    call.request("PRACK", extra=("RAck: 1 101 INVITE",), cseq=102)  # its retransmission
    return call.wait(20).request("CANCEL").ok_to_last("CANCEL")


def bad_extension() -> Call:
    call = Call(GUESTGATE, ASTERISK, number="6001").invite(extra=("Require: 100rel",))
    return call.reply(420, "Bad Extension", extra=("Unsupported: 100rel",)).ack()


def no_ringback_183_only() -> Call:
    call = Call(FREESWITCH, CUBE, number="0041225673100").invite().reply(100, "Trying")
    call.reply(183, "Session Progress").wait(8).answer().ack().wait(20)
    return call.request("BYE").ok_to_last("BYE")


def early_media_on_180() -> Call:
    call = Call(CUCM, ASTERISK, number="6001").invite().reply(100, "Trying")
    call.reply(180, "Ringing", body=call.answer_sdp()).wait(4).answer().ack().wait(5)
    return call.request("BYE").ok_to_last("BYE")


def codec_488() -> Call:
    call = Call(ASTERISK, CUBE).invite(codecs=((18, "G729"),)).reply(100, "Trying")
    return call.reply(488, "Not Acceptable Media", extra=("Reason: Q.850;cause=65",)).ack()


def codec_no_common() -> Call:
    call = Call(GUESTGATE, FREESWITCH).invite(codecs=((9, "G722"),)).reply(100, "Trying").ringing()
    return call.answer(codecs=((18, "G729"),)).ack().wait(3).request("BYE").ok_to_last("BYE")


def auth_rejected() -> Call:
    call = Call(GUESTGATE, ASTERISK, number="6001").invite()
    challenge = 'WWW-Authenticate: Digest realm="asterisk",nonce="1727698000/5c2",algorithm=MD5,qop="auth"'
    call.reply(401, "Unauthorized", extra=(challenge,)).ack()
    credentials = ('Authorization: Digest username="guest",realm="asterisk",nonce="1727698000/5c2",'
                   'uri="sip:6001@192.168.50.5:5060",response="0b4c5e2a",algorithm=MD5')
    call.invite(new_cseq=True, extra=(credentials,))
    return call.reply(401, "Unauthorized", extra=(challenge,)).ack()


def auth_no_credentials() -> Call:
    call = Call(FREESWITCH, KAMAILIO).invite()
    return call.reply(407, "Proxy Authentication Required",
                      extra=('Proxy-Authenticate: Digest realm="voip.example.net", nonce="Z3a1"',)).ack()


def auth_challenge_then_ok() -> Call:
    call = Call(GUESTGATE, ASTERISK, number="6001").invite()
    call.reply(401, "Unauthorized", extra=('WWW-Authenticate: Digest realm="asterisk",nonce="n1"',)).ack()
    call.invite(new_cseq=True, extra=('Authorization: Digest username="guest",realm="asterisk",nonce="n1"',))
    call.reply(100, "Trying").ringing().answer().ack().wait(5)
    return call.request("BYE").ok_to_last("BYE")


def not_found_404() -> Call:
    call = Call(CUCM, CUBE, number="0099999").invite().reply(100, "Trying")
    return call.reply(404, "Not Found", extra=("Reason: Q.850;cause=1",)).ack()


def address_incomplete_484() -> Call:
    return Call(ASTERISK, FREESWITCH, number="10").invite().reply(484, "Address Incomplete").ack()


def busy_486() -> Call:
    call = Call(CUCM, CUBE).invite().reply(100, "Trying")
    return call.reply(486, "Busy here", extra=("Reason: Q.850;cause=17",)).ack()


def no_answer_480() -> Call:
    call = Call(FREESWITCH, ASTERISK, number="6001").invite().reply(100, "Trying").ringing().wait(30)
    return call.reply(480, "Temporarily Unavailable", extra=("Reason: Q.850;cause=19",)).ack()


def no_answer_cancel() -> Call:
    call = Call(GUESTGATE, CUBE).invite().reply(100, "Trying").ringing().wait(30)
    call.request("CANCEL").ok_to_last("CANCEL")
    return call.reply(487, "Request Terminated").ack()


def unavailable_503() -> Call:
    call = Call(GUESTGATE, KAMAILIO).invite()
    return call.reply(503, "Service Unavailable", extra=("Retry-After: 120",)).ack()


def session_interval_422() -> Call:
    call = Call(GUESTGATE, CUBE).invite(extra=("Session-Expires: 90",))
    return call.reply(422, "Session Interval Too Small", extra=("Min-SE: 1800",)).ack()


def answered_one_way() -> Call:
    call = Call(GUESTGATE, ASTERISK, number="6001").invite().reply(100, "Trying").ringing()
    return call.answer().ack().wait(10).request("BYE").ok_to_last("BYE")


def silent_early_media() -> Call:
    call = Call(CUCM, CUBE, number="00412256731").invite().reply(100, "Trying")
    call.reply(183, "Session Progress", body=call.answer_sdp()).wait(6)
    return call.answer().ack().wait(10).request("BYE").ok_to_last("BYE")


def dropped_after_answer() -> Call:
    call = Call(CUCM, ASTERISK, number="6001").invite().reply(100, "Trying").ringing().answer().ack().wait(4)
    return call.request("BYE", "callee", extra=("Reason: Q.850;cause=41",)).ok_to_last("BYE")


def unreachable_invite() -> Call:
    call = Call(GUESTGATE, CUBE).invite()
    for pause in (0.5, 1.0, 2.0, 4.0):
        call.wait(pause)
        call.messages.append(type(call.messages[0])("caller", call.now, call.messages[0].text))
    return call


def unreachable_options() -> Call:
    call = Call(GUESTGATE, CUCM)
    call.invite_via = call._via("caller")
    for _ in range(3):
        call.request("OPTIONS", cseq=1).wait(2)
    return call


def options_answered() -> Call:
    call = Call(GUESTGATE, ASTERISK)
    call.invite_via = call._via("caller")
    return call.request("OPTIONS", cseq=1).ok_to_last("OPTIONS")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Call]
    outcome: str
    codes: tuple[str, ...] = ()  # other codes that must be among the findings
    caller_fix: str = ""  # words the caller's fix must contain
    callee_fix: str = ""
    media: Media | None = None  # RTP in the pcap form (text forms carry none)
    pcap_only: bool = False


CASES = [
    Case("OK CUCM to CUBE, clean hang-up", ok_cucm_to_cube, "OK"),
    Case("OK with RTP both ways", ok_cucm_to_cube, "OK", media=Media(500, 480), pcap_only=True),
    Case("PRACK_MISSING CUCM never PRACKs CUBE's reliable 183", prack_missing_cucm_cube, "PRACK_MISSING",
         caller_fix="SIP Rel1XX Options", callee_fix='rel1xx supported "100rel"'),
    Case("PRACK_MISSING Asterisk to FreeSWITCH, 500 after 32 s", prack_missing_asterisk_freeswitch_5xx,
         "PRACK_MISSING", caller_fix="100rel = yes", callee_fix="enable-100rel"),
    Case("PRACK_MISSING_DOWNSTREAM behind Kamailio", prack_missing_downstream_kamailio,
         "PRACK_MISSING_DOWNSTREAM", caller_fix="nothing on this leg", callee_fix="topos"),
    Case("PRACK answered and acknowledged is OK", prack_done_right, "OK"),
    Case("PRACK_MISSING_DOWNSTREAM 488 cause 65 after an agreed 183", downstream_488_after_early_answer,
         "PRACK_MISSING_DOWNSTREAM", callee_fix="enable-100rel"),
    Case("PRACK_UNANSWERED 481 from CUBE", prack_unanswered_481, "PRACK_UNANSWERED", callee_fix="481"),
    Case("PRACK_UNANSWERED no response through Kamailio", prack_unanswered_silence, "PRACK_UNANSWERED",
         callee_fix="topos"),
    Case("BAD_EXTENSION_100REL GuestGate requires, Asterisk refuses", bad_extension, "BAD_EXTENSION_100REL",
         caller_fix="spec.prack: supported", callee_fix="100rel = yes"),
    Case("NO_RINGBACK 183 without SDP and no 180", no_ringback_183_only, "NO_RINGBACK",
         caller_fix='`ringback=${us-ring}`', callee_fix="block 183 sdp absent"),
    Case("NO_RINGBACK early media announced, none sent", silent_early_media, "NO_RINGBACK",
         caller_fix="Disable Early Media on 180", media=Media(300, 300, 0), pcap_only=True),
    Case("EARLY_MEDIA_ON_180 is info only", early_media_on_180, "OK", codes=("EARLY_MEDIA_ON_180",),
         caller_fix="Disable Early Media on 180"),
    Case("CODEC_MISMATCH 488 with cause 65", codec_488, "CODEC_MISMATCH", caller_fix="allow = !all"),
    Case("CODEC_MISMATCH no codec in common", codec_no_common, "CODEC_MISMATCH", caller_fix="spec.codecs"),
    Case("AUTH_FAILED credentials rejected", auth_rejected, "AUTH_FAILED", caller_fix="spec.auth.secretName",
         callee_fix="auth"),
    Case("AUTH_FAILED no credentials for 407", auth_no_credentials, "AUTH_FAILED", caller_fix="password"),
    Case("digest challenge then answer is OK", auth_challenge_then_ok, "OK"),
    Case("DESTINATION_NOT_FOUND 404 cause 1", not_found_404, "DESTINATION_NOT_FOUND", callee_fix="0099999"),
    Case("DESTINATION_NOT_FOUND 484", address_incomplete_484, "DESTINATION_NOT_FOUND", callee_fix="context"),
    Case("BUSY 486 cause 17", busy_486, "BUSY", callee_fix="max-conn"),
    Case("NO_ANSWER 480 after ringing", no_answer_480, "NO_ANSWER"),
    Case("NO_ANSWER caller cancels while ringing", no_answer_cancel, "NO_ANSWER"),
    Case("PEER_UNAVAILABLE 503 Retry-After", unavailable_503, "PEER_UNAVAILABLE", caller_fix="120 s",
         callee_fix="dispatcher"),
    Case("SESSION_INTERVAL_TOO_SMALL 422 Min-SE 1800", session_interval_422, "SESSION_INTERVAL_TOO_SMALL",
         caller_fix="spec.sessionTimer.expires: 1800", callee_fix="min-se"),
    Case("NO_MEDIA one-way audio", answered_one_way, "NO_MEDIA", caller_fix="reachable",
         media=Media(from_caller=400, from_callee=0), pcap_only=True),
    Case("DROPPED_AFTER_ANSWER cause 41 from Asterisk", dropped_after_answer, "DROPPED_AFTER_ANSWER",
         callee_fix="HANGUPCAUSE"),
    Case("PEER_UNREACHABLE INVITE never answered", unreachable_invite, "PEER_UNREACHABLE", caller_fix="spec.peer"),
    # A silent peer never says what it runs: the fix is generic unless the platform is given.
    Case("PEER_UNREACHABLE INVITE retransmitted, then CANCEL", unreachable_then_cancel, "PEER_UNREACHABLE"),
    Case("NO_ANSWER 100 Trying and then nothing", trying_then_nothing, "NO_ANSWER"),
    Case("PEER_UNREACHABLE OPTIONS never answered", unreachable_options, "PEER_UNREACHABLE",
         callee_fix="listens on that address"),
    Case("OK OPTIONS answered", options_answered, "OK"),
]

# Every input form, written from the same Call: a form cannot drift from the others without its
# column failing. (test_tshark_real.py checks the tshark writers against tshark itself.)
FORMATS: dict[str, Callable[[Case, Call], bytes]] = {
    "sip": lambda case, call: as_sip(call).encode(),
    "sip-compact-oddcase-folded": lambda case, call: as_sip(call, compact=True, odd_case=True, fold=True).encode(),
    "sip-lf": lambda case, call: as_sip(call, lf_only=True).encode(),
    "sipp": lambda case, call: as_sipp(call).encode(),
    "ios": lambda case, call: as_ios(call).encode(),
    "asterisk": lambda case, call: as_asterisk(call).encode(),
    "freeswitch": lambda case, call: as_freeswitch(call).encode(),
    "freeswitch-tabs": lambda case, call: as_freeswitch(call, local="caller", indent="\t ").encode(),
    "sngrep": lambda case, call: as_sngrep(call).encode(),
    "tshark-V": lambda case, call: as_tshark(call).encode(),
    "tshark-O-sip": lambda case, call: as_tshark(call, verbose=False).encode(),
    "tshark-json": lambda case, call: as_tshark_json(call).encode(),
    "tshark-json-sdp-fields": lambda case, call: as_tshark_json(call, body_in_header=False).encode(),
    "hep": lambda case, call: as_hep(call),
    "hep-in-pcap": lambda case, call: as_hep_pcap(call),
    "hep-in-pcapng": lambda case, call: as_pcapng(as_hep_pcap(call)),
    "pcap": lambda case, call: as_pcap(call, case.media),
}
# The format auto-detection must name for each form.
DETECTED = {"sip": "sip", "sip-compact-oddcase-folded": "sip", "sip-lf": "sip", "sipp": "sipp", "ios": "ios",
            "asterisk": "asterisk", "freeswitch": "freeswitch", "freeswitch-tabs": "freeswitch", "sngrep": "sngrep",
            "tshark-V": "tshark", "tshark-O-sip": "tshark", "tshark-json": "tshark-json",
            "tshark-json-sdp-fields": "tshark-json", "hep": "hep", "hep-in-pcap": "pcap",
            "hep-in-pcapng": "pcap", "pcap": "pcap"}

PARAMS = [pytest.param(case, fmt, id=f"{case.name} [{fmt}]")
          for case in CASES for fmt in FORMATS if fmt == "pcap" or not case.pcap_only]


def report_for(case: Case, fmt: str) -> Report:
    call = case.build()
    imported = import_bytes(FORMATS[fmt](case, call), f"{case.name}.{fmt}")
    assert imported.format == DETECTED[fmt]
    assert len(imported.ladders) == 1, imported.notes
    assert len(imported.ladders[0].messages) == len(call.messages), imported.notes
    return diagnose(imported.ladders)


@pytest.mark.parametrize(("case", "fmt"), PARAMS)
def test_catalogue(case: Case, fmt: str) -> None:
    report = report_for(case, fmt)
    codes = [f.code for f in report.findings]
    assert report.outcome == case.outcome, [f.summary for f in report.findings]
    for code in case.codes:
        assert code in codes
    leading = next(f for f in report.findings if f.code == case.outcome)
    assert exit_code(report) == (1 if leading.severity == "error" else 0)
    fixed = next(f for f in report.findings if f.code == (case.codes or (case.outcome,))[0])
    assert case.caller_fix in fixed.fix.caller
    assert case.callee_fix in fixed.fix.callee
    assert fixed.evidence, "a finding must cite the messages that prove it"
    for finding in report.findings:  # a summary is one sentence
        assert finding.summary.endswith(".") and ". " not in finding.summary[:-1], finding.summary


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcap"])
def test_platforms_and_roles_are_detected(fmt: str) -> None:
    report = report_for(CASES[2], fmt)
    ladder = report.ladders[0]
    assert (ladder.caller.platform, ladder.callee.platform) == ("cucm", "cube")
    assert [m.sender for m in ladder.messages][:4] == ["caller", "callee", "callee", "callee"]


def test_seed_cause_65_is_named_misleading() -> None:
    finding = report_for(CASES[2], "sip").findings[0]
    assert finding.cause is not None and finding.cause.q850 == 65
    assert finding.cause.misleading and "missing PRACK" in finding.cause.misleading


def test_real_codec_problem_keeps_cause_65_honest() -> None:
    finding = report_for(next(c for c in CASES if c.build is codec_488), "sip").findings[0]
    assert finding.cause is not None and finding.cause.q850 == 65
    assert finding.cause.misleading is None


def test_given_platform_words_the_fix_for_a_silent_peer() -> None:
    imported = import_bytes(as_sip(unreachable_options()).encode(), "options.sip")
    report = diagnose(imported.ladders, callee_platform="cucm")
    assert "trunk destinations" in report.findings[0].fix.callee
    assert report.findings[0].fix.callee_platform == "cucm"
