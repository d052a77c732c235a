"""Build realistic SIP ladders for tests and write them in every importer format.

A ``Call`` between two ``Profile``s (CUCM, CUBE, Asterisk, FreeSWITCH, Kamailio, GuestGate, each
with the headers that product really sends) records messages as the dialog would have them; the
``as_*`` functions then write the same ladder as raw SIP, SIPp -trace_msg, Cisco IOS debug,
Asterisk's pjsip logger, FreeSWITCH siptrace, sngrep's export, tshark (-V, -O sip, -T json), HEPv3
(raw, or inside a pcap) or a pcap/pcapng, so one table of cases checks every importer.
"""

from __future__ import annotations

import io
import json
import socket
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dpkt


@dataclass(frozen=True)
class Profile:
    product: str
    ua: str
    user: str
    host: str
    port: int = 5060
    tag: str = "a1"
    supported: str = "replaces, timer"
    allow: str = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, NOTIFY, REFER"
    extra: tuple[str, ...] = ()  # headers this product adds to its requests
    rtp_port: int = 20000

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


CUCM = Profile("cucm", "Cisco-CUCM12.5", "2001", "10.10.1.10",
               tag="342693~12b9673c-9ebc-4b8c-b0db-46b8d985386a-34835506",
               supported="timer,resource-priority,replaces", rtp_port=24580,
               extra=("Cisco-Guid: 4203272832-0000065536-0000000049-0170008842",
                      "Remote-Party-ID: <sip:2001@10.10.1.10>;party=calling;screen=yes;privacy=off",
                      "Session-Expires:  1800", "Min-SE:  1800"))
CUBE = Profile("cube", "Cisco-SIPGateway/IOS-15.2.4.M1", "00412256731", "10.10.1.1", tag="FAA7C024-667",
               supported="100rel,timer,resource-priority,replaces,sdp-anat", rtp_port=17616,
               extra=("Allow-Events: telephone-event", "Timestamp: 1380545045"))
ASTERISK = Profile("asterisk", "Asterisk PBX 18.20.0", "6001", "192.168.50.5",
                   tag="4b0c2f5e-7d2b-4c5e-9a11-2b8f4f1c9a77",
                   supported="100rel, timer, replaces, norefersub", rtp_port=10040)
FREESWITCH = Profile("freeswitch", "FreeSWITCH-mod_sofia/1.10.9-release~64bit", "1000", "172.16.0.20",
                     tag="Fj8N2rvB1Bv3F", supported="timer, path, replaces", rtp_port=16384,
                     extra=("Allow-Events: talk, hold, conference, refer",))
KAMAILIO = Profile("kamailio", "kamailio (5.7.2 (x86_64/linux))", "proxy", "198.51.100.7",
                   tag="kam-88a1", rtp_port=30000)
GUESTGATE = Profile("guestgate", "GuestGate/0.1 (pjsua2 2.15)", "guest", "10.244.0.12",
                    tag="gg-5d1f", supported="replaces, 100rel, timer", rtp_port=4000)


def sdp(profile: Profile, codecs: tuple[tuple[int, str], ...] = ((0, "PCMU"), (8, "PCMA")),
        direction: str = "sendrecv") -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {profile.host}", "s=-", f"c=IN IP4 {profile.host}", "t=0 0",
             f"m=audio {profile.rtp_port} RTP/AVP {' '.join(str(pt) for pt, _ in codecs)} 101"]
    lines += [f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs]
    lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Sent:
    sender: str  # caller | callee
    time: float
    text: str


@dataclass
class Call:
    caller: Profile
    callee: Profile
    number: str = "2001"
    call_id: str = "3f2a9b1c-5e8d-4a7f-b6c2-91d0e4f7a3b5"
    messages: list[Sent] = field(default_factory=list)
    now: float = 0.0
    cseq: int = 101
    invite_cseq: int = 101
    callee_cseq: int = 1
    answered_tag: bool = False
    _branch: int = 0

    def wait(self, seconds: float) -> Call:
        self.now += seconds
        return self

    def _profile(self, role: str) -> Profile:
        return self.caller if role == "caller" else self.callee

    def _add(self, sender: str, start: str, headers: list[str], body: str = "") -> Call:
        content = ["Content-Type: application/sdp"] if body else []
        text = "\r\n".join([start, *headers, *content, f"Content-Length: {len(body.encode())}", "", body])
        self.messages.append(Sent(sender, self.now, text))
        self.now += 0.01
        return self

    def _dialog(self, sender: str, to_tag: bool) -> list[str]:
        caller, callee = self.caller, self.callee
        from_caller = f'"{caller.user}" <sip:{caller.user}@{caller.host}>;tag={caller.tag}'
        to_callee = f"<sip:{self.number}@{callee.host}>" + (f";tag={callee.tag}" if to_tag else "")
        if sender == "caller":
            return [f"From: {from_caller}", f"To: {to_callee}", f"Call-ID: {self.call_id}"]
        return [f"From: {to_callee}", f"To: {from_caller}", f"Call-ID: {self.call_id}"]

    def _via(self, sender: str) -> str:
        self._branch += 1
        profile = self._profile(sender)
        return f"Via: SIP/2.0/UDP {profile.address};branch=z9hG4bK{self._branch:04d}{profile.tag[:4]}"

    def invite(self, *, codecs: tuple[tuple[int, str], ...] = ((0, "PCMU"), (8, "PCMA")),
               supported: str | None = None, extra: tuple[str, ...] = (), new_cseq: bool = False,
               body: bool = True) -> Call:
        if new_cseq:
            self.cseq += 1
        self.invite_cseq = self.cseq
        self.invite_via = self._via("caller")
        caller = self.caller
        headers = [self.invite_via, *self._dialog("caller", False), f"CSeq: {self.cseq} INVITE",
                   f"Contact: <sip:{caller.user}@{caller.address}>", "Max-Forwards: 70",
                   f"User-Agent: {caller.ua}", f"Supported: {supported if supported is not None else caller.supported}",
                   f"Allow: {caller.allow}", *caller.extra, *extra]
        return self._add("caller", f"INVITE sip:{self.number}@{self.callee.address} SIP/2.0", headers,
                         sdp(caller, codecs) if body else "")

    def reply(self, status: int, reason: str, *, method: str = "INVITE", body: str = "",
              extra: tuple[str, ...] = (), tag: bool = True, cseq: int | None = None,
              via: str | None = None, sender: str = "callee") -> Call:
        to_tag = tag and status != 100
        responder = self._profile(sender)
        headers = [via or self.invite_via, *self._dialog("caller", to_tag and sender == "callee")]
        if sender == "caller":  # answering a request of the callee (its BYE): its own dialog view
            headers = [via or self.invite_via, *self._dialog("callee", True)]
        default = self.invite_cseq if method == "INVITE" else self.cseq
        headers += [f"CSeq: {cseq if cseq is not None else default} {method}",
                    f"Server: {responder.ua}", *extra]
        if status >= 200 or status in (180, 183):
            headers.append(f"Contact: <sip:{responder.user}@{responder.address}>")
        return self._add(sender, f"SIP/2.0 {status} {reason}", headers, body)

    def answer_sdp(self, codecs: tuple[tuple[int, str], ...] = ((0, "PCMU"),), direction: str = "sendrecv") -> str:
        return sdp(self.callee, codecs, direction)

    def request(self, method: str, sender: str = "caller", *, extra: tuple[str, ...] = (),
                body: str = "", cseq: int | None = None) -> Call:
        profile = self._profile(sender)
        if sender == "caller":
            number = cseq if cseq is not None else (
                self.invite_cseq if method in ("ACK", "CANCEL") else self.cseq + 1)
            if method not in ("ACK", "CANCEL"):
                self.cseq = number
            target = f"sip:{self.number}@{self.callee.address}"
        else:
            number = cseq if cseq is not None else self.callee_cseq
            self.callee_cseq = number + 1
            target = f"sip:{self.caller.user}@{self.caller.address}"
        self.last_via = self.invite_via if method == "CANCEL" else self._via(sender)
        in_dialog = method not in ("CANCEL", "OPTIONS")  # an OPTIONS ping has no To tag
        headers = [self.last_via, *self._dialog(sender, in_dialog), f"CSeq: {number} {method}",
                   "Max-Forwards: 70", f"User-Agent: {profile.ua}", *extra]
        self.last_cseq = number
        return self._add(sender, f"{method} {target} SIP/2.0", headers, body)

    def ok_to_last(self, method: str, status: int = 200, reason: str = "OK",
                   extra: tuple[str, ...] = ()) -> Call:
        """The answer to the last in-dialog request (PRACK, BYE, CANCEL)."""
        sender = "callee" if self.messages[-1].sender == "caller" else "caller"
        return self.reply(status, reason, method=method, cseq=self.last_cseq, via=self.last_via,
                          sender=sender, extra=extra)

    def ringing(self, status: int = 180, reason: str = "Ringing", *, sdp_body: bool = False,
                reliable: int | None = None) -> Call:
        extra = ("Require: 100rel", f"RSeq: {reliable}") if reliable is not None else ()
        return self.reply(status, reason, body=self.answer_sdp() if sdp_body else "", extra=extra)

    def answer(self, codecs: tuple[tuple[int, str], ...] = ((0, "PCMU"),)) -> Call:
        return self.reply(200, "OK", body=self.answer_sdp(codecs))

    def ack(self) -> Call:
        return self.request("ACK")


# --- writers: one ladder, every importer format --------------------------------------------------

BASE = datetime(2026, 9, 30, 12, 43, 26, tzinfo=UTC).timestamp()


def as_sip(call: Call, *, compact: bool = False, odd_case: bool = False, fold: bool = False,
           lf_only: bool = False) -> str:
    out = []
    for sent in call.messages:
        text = sent.text
        if compact:
            for long, short in (("Call-ID:", "i:"), ("From:", "f:"), ("To:", "t:"), ("Via:", "v:"),
                                ("Contact:", "m:"), ("Content-Length:", "l:"), ("Content-Type:", "c:"),
                                ("Supported:", "k:")):
                text = text.replace(f"\r\n{long}", f"\r\n{short}")
        if odd_case:
            for name in ("CSeq:", "Call-ID:", "Require:", "RSeq:", "Reason:", "Content-Length:"):
                text = text.replace(f"\r\n{name}", f"\r\n{name.upper() if len(name) % 2 else name.lower()}")
        if fold:
            text = text.replace("Allow: INVITE, ACK,", "Allow: INVITE,\r\n ACK,").replace(
                "Supported: ", "Supported:\r\n\t")
        out.append(text.replace("\r\n", "\n") if lf_only else text)
    return "\r\n".join(out)


def as_sipp(call: Call, local: str = "caller") -> str:
    out = []
    for sent in call.messages:
        stamp = datetime.fromtimestamp(BASE + sent.time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        size = len(sent.text.encode())
        what = f"UDP message sent ({size} bytes):" if sent.sender == local else \
            f"UDP message received [{size}] bytes :"
        out.append(f"----------------------------------------------- {stamp}\n{what}\n\n"
                   f"{sent.text.replace(chr(13), '')}\n")
    return "\n".join(out)


def as_ios(call: Call, local: str = "callee") -> str:
    out = []
    for number, sent in enumerate(call.messages):
        moment = datetime.fromtimestamp(BASE + sent.time, UTC)
        stamp = moment.strftime("%b %d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        direction = "Sent:" if sent.sender == local else "Received:"
        out.append(f"{number:06d}: *{stamp}: //-1/xxxxxxxxxxxx/SIP/Msg/ccsipDisplayMsg:\n{direction}\n"
                   f"{sent.text.replace(chr(13), '')}\n")
    return "\n".join(out)


def _frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=src[1], dport=dst[1], data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=dpkt.ip.IP_PROTO_UDP,
                    data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP,
                                        data=ip))


def rtp(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 0x1234) + b"\xff" * 160


@dataclass
class Media:
    """RTP to put in a pcap: packets each way, and how many of the callee's come before the answer."""

    from_caller: int = 0
    from_callee: int = 0
    early_from_callee: int = 0


def as_pcap(call: Call, media: Media | None = None) -> bytes:
    buffer = io.BytesIO()
    writer = dpkt.pcap.Writer(buffer)
    frames: list[tuple[float, bytes]] = []
    for sent in call.messages:
        src, dst = (call.caller, call.callee) if sent.sender == "caller" else (call.callee, call.caller)
        frames.append((BASE + sent.time, _frame((src.host, src.port), (dst.host, dst.port), sent.text.encode())))
    if media:
        answer = next((s.time for s in call.messages if s.text.startswith("SIP/2.0 200") and "INVITE" in
                       s.text.split("CSeq:", 1)[1].split("\r\n", 1)[0]), call.now)
        caller = (call.caller.host, call.caller.rtp_port)
        callee = (call.callee.host, call.callee.rtp_port)
        for i in range(media.early_from_callee):
            frames.append((BASE + answer - 0.5 + i * 0.001, _frame(callee, caller, rtp(i))))
        for i in range(media.from_callee - media.early_from_callee):
            frames.append((BASE + answer + 0.02 + i * 0.02, _frame(callee, caller, rtp(1000 + i))))
        for i in range(media.from_caller):
            frames.append((BASE + answer + 0.02 + i * 0.02, _frame(caller, callee, rtp(i))))
    for ts, frame in sorted(frames, key=lambda pair: pair[0]):
        writer.writepkt(frame, ts=ts)
    return buffer.getvalue()


# --- more writers: the loggers and tools engineers paste from ------------------------------------

def _ends(call: Call, sent: Sent) -> tuple[Profile, Profile]:
    return (call.caller, call.callee) if sent.sender == "caller" else (call.callee, call.caller)


def _moment(sent: Sent) -> datetime:
    return datetime.fromtimestamp(BASE + sent.time, UTC)


def as_freeswitch(call: Call, local: str = "callee", indent: str = "   ") -> str:
    """``sofia global siptrace on``: a banner naming the remote side and the message's wire size,
    then the message between dashed lines, every line indented."""
    dashes = indent + "-" * 72
    out = []
    for sent in call.messages:
        src, dst = _ends(call, sent)
        verb, way, remote = ("send", "to", dst) if sent.sender == local else ("recv", "from", src)
        stamp = _moment(sent).strftime("%H:%M:%S.%f")
        lines = sent.text.split("\r\n")
        while lines and not lines[-1]:
            lines.pop()
        out.append(f"{verb} {len(sent.text.encode())} bytes {way} udp/[{remote.host}]:{remote.port} at {stamp}:\n"
                   f"{dashes}\n" + "".join(f"{indent}{line}\n" for line in lines) + f"{dashes}\n")
    return "".join(out)


def as_asterisk(call: Call, local: str = "callee") -> str:
    """``pjsip set logger on`` as the ``full`` log writes it: a VERBOSE banner naming the remote
    side, the message, a blank line."""
    out = []
    for number, sent in enumerate(call.messages):
        src, dst = _ends(call, sent)
        kind = "request" if not sent.text.startswith("SIP/2.0") else "response"
        banner = (f"<--- Transmitting SIP {kind} ({len(sent.text.encode())} bytes) to UDP:{dst.address} --->"
                  if sent.sender == local else
                  f"<--- Received SIP {kind} ({len(sent.text.encode())} bytes) from UDP:{src.address} --->")
        stamp = _moment(sent).strftime("%b %d %H:%M:%S")
        out.append(f"[{stamp}] VERBOSE[{2211 + number % 3}] res_pjsip_logger.c: {banner}\n"
                   f"{sent.text.replace(chr(13), '').rstrip(chr(10))}\n\n")
    return "".join(out)


def as_sngrep(call: Call) -> str:
    """sngrep's "save as .txt": date, time, source -> destination, the payload as captured."""
    out = []
    for sent in call.messages:
        src, dst = _ends(call, sent)
        stamp = _moment(sent).strftime("%Y/%m/%d %H:%M:%S.%f")
        out.append(f"{stamp} {src.address} -> {dst.address}\n{sent.text}\n\n")
    return "".join(out)


_SDP_LABELS = {"v": "Session Description Protocol Version (v)", "o": "Owner/Creator, Session Id (o)",
               "s": "Session Name (s)", "c": "Connection Information (c)", "t": "Time Description, active time (t)",
               "m": "Media Description, name and address (m)", "a": "Media Attribute (a)"}


def _tshark_headers(name: str, value: str) -> list[str]:
    """A header line as tshark's tree shows it, with some of the dissection under it."""
    lines = [f"        {name}: {value}"]
    lowered = name.lower()
    if lowered == "cseq":
        number, method = value.split()
        lines += [f"            Sequence Number: {number}", f"            Method: {method}"]
    elif lowered in ("from", "to") and "tag=" in value:
        lines.append(f"            SIP {lowered} tag: {value.rsplit('tag=', 1)[1]}")
    elif lowered == "via":
        lines += ["            Transport: UDP", f"            Branch: {value.rsplit('branch=', 1)[-1]}"]
    elif lowered == "call-id":
        lines.append(f"        [Generated Call-ID: {value}]")
    elif lowered in ("cisco-guid", "remote-party-id", "p-rtp-stat"):
        lines += [f"            [Expert Info (Note/Undecoded): Unrecognised SIP header ({lowered})]",
                  f"                [Unrecognised SIP header ({lowered})]"]
    return lines


def as_tshark(call: Call, verbose: bool = True) -> str:
    """``tshark -V -Y sip`` (verbose: every layer's tree) or ``tshark -O sip`` (SIP only)."""
    out = []
    for number, sent in enumerate(call.messages, start=1):
        src, dst = _ends(call, sent)
        size = len(sent.text.encode()) + 42
        head, _, body = sent.text.partition("\r\n\r\n")
        start, *headers = head.split("\r\n")
        lines = [f"Frame {number}: {size} bytes on wire ({size * 8} bits), {size} bytes captured ({size * 8} bits)"]
        if verbose:
            moment = _moment(sent)
            lines += ["    Encapsulation type: Ethernet (1)",
                      f"    Arrival Time: {moment.strftime('%b %d, %Y %H:%M:%S.%f')}000 UTC",
                      f"    Epoch Time: {BASE + sent.time:.9f} seconds", f"    Frame Number: {number}"]
        lines.append("Ethernet II, Src: 02:02:02:02:02:02 (02:02:02:02:02:02), "
                     "Dst: 04:04:04:04:04:04 (04:04:04:04:04:04)")
        lines.append(f"Internet Protocol Version 4, Src: {src.host}, Dst: {dst.host}")
        if verbose:
            lines += ["    0100 .... = Version: 4", f"    Source Address: {src.host}",
                      f"    Destination Address: {dst.host}"]
        lines.append(f"User Datagram Protocol, Src Port: {src.port}, Dst Port: {dst.port}")
        if verbose:
            lines += [f"    Source Port: {src.port}", f"    Destination Port: {dst.port}", "    [Stream index: 0]"]
        request = not start.startswith("SIP/2.0")
        lines.append(f"Session Initiation Protocol ({start.split()[0] if request else start.split()[1]})")
        if request:
            lines += [f"    Request-Line: {start}", f"        Method: {start.split()[0]}",
                      f"        Request-URI: {start.split()[1]}", "        [Resent Packet: False]"]
        else:
            lines += [f"    Status-Line: {start}", f"        Status-Code: {start.split()[1]}",
                      "        [Resent Packet: False]"]
        lines.append("    Message Header")
        for header in headers:
            name, _, value = header.partition(":")
            lines += _tshark_headers(name, value.strip()) if not header[:1].isspace() else [f"        {header}"]
        if body:
            lines += ["    Message Body", "        Session Description Protocol"]
            seen_media = False
            for sdp_line in body.split("\r\n"):
                if not sdp_line:
                    continue
                kind, _, value = sdp_line.partition("=")
                seen_media = seen_media or kind == "m"
                label = "Session Attribute (a)" if kind == "a" and not seen_media else \
                    _SDP_LABELS.get(kind, f"? ({kind})")
                lines.append(f"            {label}: {value}")
                if kind == "m":
                    lines.append(f"                Media Type: {value.split()[0]}")
                elif kind == "a" and ":" in value:
                    lines.append(f"                Media Attribute Fieldname: {value.split(':', 1)[0]}")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _json(node: object, depth: int = 0) -> str:
    """JSON with repeated keys, as tshark writes it: ``node`` is a list of (key, value) pairs."""
    pad = "  " * (depth + 1)
    if isinstance(node, list) and all(isinstance(item, tuple) for item in node):
        items = [f"{pad}{json.dumps(key)}: {_json(value, depth + 1)}" for key, value in node]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(node, list):
        return "[\n" + ",\n".join(pad + _json(item, depth + 1) for item in node) + "\n" + "  " * depth + "]"
    return json.dumps(node)


_SDP_JSON_KEYS = {"v": "sdp.version", "o": "sdp.owner", "s": "sdp.session_name", "c": "sdp.connection_info",
                  "t": "sdp.time", "m": "sdp.media", "a": "sdp.media_attr"}


def as_tshark_json(call: Call, body_in_header: bool = True) -> str:
    """``tshark -T json -Y sip``; Wireshark 4 puts the body after the headers in ``sip.msg_hdr``,
    older ones only in the ``sdp`` fields (``body_in_header=False``)."""
    packets = []
    for number, sent in enumerate(call.messages, start=1):
        src, dst = _ends(call, sent)
        head, _, body = sent.text.partition("\r\n\r\n")
        start, *headers = head.split("\r\n")
        field = "sip.Request-Line" if not start.startswith("SIP/2.0") else "sip.Status-Line"
        tree = [(f"sip.{h.split(':', 1)[0]}", h.split(":", 1)[1].strip()) for h in headers]
        raw = "".join(f"{h}\r\n" for h in headers) + ("\r\n" + body if body_in_header and body else "")
        sip: list[tuple[str, object]] = [(field, start), (f"{field}_tree", [("sip.resend", "0")]),
                                         ("sip.msg_hdr", raw), ("sip.msg_hdr_tree", tree)]
        if body:
            sdp = [(_SDP_JSON_KEYS[line[0]], line[2:]) for line in body.split("\r\n") if line[:1] in _SDP_JSON_KEYS]
            sip.append(("sip.msg_body", [("sdp", sdp)]))
        layers = [("frame", [("frame.time_epoch", f"{BASE + sent.time:.9f}"), ("frame.number", str(number)),
                             ("frame.protocols", "eth:ethertype:ip:udp:sip")]),
                  ("eth", [("eth.type", "0x0800")]),
                  ("ip", [("ip.src", src.host), ("ip.dst", dst.host)]),
                  ("udp", [("udp.srcport", str(src.port)), ("udp.dstport", str(dst.port))]),
                  ("sip", sip)]
        packets.append([("_index", "packets-2026-09-30"), ("_type", "doc"), ("_score", None),
                        ("_source", [("layers", layers)])])
    return _json(packets) + "\n"


HEP_AGENT = ("10.0.0.99", 47000)
HEP_COLLECTOR = ("10.0.0.100", 9060)


def hep_packet(src: tuple[str, int], dst: tuple[str, int], time: float, payload: bytes,
               protocol: int = 1, compress: bool = False) -> bytes:
    """One HEPv3 packet: generic chunks (vendor 0), as Kamailio's siptrace or heplify send them."""
    def chunk(kind: int, value: bytes) -> bytes:
        return struct.pack("!HHH", 0, kind, 6 + len(value)) + value

    import zlib

    body = b"".join([
        chunk(1, b"\x02"), chunk(2, b"\x11"), chunk(3, socket.inet_aton(src[0])), chunk(4, socket.inet_aton(dst[0])),
        chunk(7, struct.pack("!H", src[1])), chunk(8, struct.pack("!H", dst[1])),
        chunk(9, struct.pack("!I", int(time))), chunk(10, struct.pack("!I", round((time % 1) * 1_000_000))),
        chunk(11, bytes([protocol])), chunk(12, struct.pack("!I", 2001)),
        chunk(16, zlib.compress(payload)) if compress else chunk(15, payload),
    ])
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def as_hep(call: Call) -> bytes:
    """HEPv3 packets one after the other, as a collector saves them."""
    return b"".join(hep_packet((_ends(call, s)[0].host, _ends(call, s)[0].port),
                               (_ends(call, s)[1].host, _ends(call, s)[1].port), BASE + s.time, s.text.encode(),
                               compress=i % 2 == 1)
                    for i, s in enumerate(call.messages))


def as_hep_pcap(call: Call) -> bytes:
    """A capture on the HEP collector: UDP to port 9060 from the capture agent, each datagram a
    message of the call, arriving later than it was sent (the agent batches), with a HEP
    keep-alive of another protocol among them."""
    buffer = io.BytesIO()
    writer = dpkt.pcap.Writer(buffer)
    for i, sent in enumerate(call.messages):
        src, dst = _ends(call, sent)
        packet = hep_packet((src.host, src.port), (dst.host, dst.port), BASE + sent.time, sent.text.encode())
        writer.writepkt(_frame(HEP_AGENT, HEP_COLLECTOR, packet), ts=BASE + 3600 + i * 0.001)
    log = hep_packet(HEP_AGENT, HEP_COLLECTOR, BASE, b"agent started", protocol=100)
    writer.writepkt(_frame(HEP_AGENT, HEP_COLLECTOR, log), ts=BASE + 3601)
    return buffer.getvalue()


def as_pcapng(capture: bytes) -> bytes:
    """The same packets as a pcap, written as pcapng (what Wireshark and tshark save by default)."""
    buffer = io.BytesIO()
    writer = dpkt.pcapng.Writer(buffer)
    for ts, frame in dpkt.pcap.Reader(io.BytesIO(capture)):
        writer.writepkt(frame, ts=ts)
    return buffer.getvalue()
