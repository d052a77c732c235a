"""SDP bodies (RFC 4566) reduced to what a diagnosis needs: where media goes and which codecs.

Pure and forgiving: unknown lines are ignored, because vendors add many attributes we do not
need, and a half-readable SDP is still evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 3551 static payload types; dynamic ones (96-127) are named by a=rtpmap.
STATIC_PAYLOADS: dict[int, str] = {
    0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729",
    26: "JPEG", 31: "H261", 34: "H263",
}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Not voice codecs: a common one of these does not make a call work.
NON_CODECS = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx", "comfort-noise"})


@dataclass(frozen=True, slots=True)
class Media:
    """One m= line: ``m=audio 16384 RTP/AVP 0 8 101``."""

    kind: str  # audio, video, application
    port: int
    protocol: str
    payloads: tuple[int, ...]
    codecs: tuple[str, ...]  # names in offer order, e.g. ("PCMU", "PCMA", "telephone-event")
    direction: str  # sendrecv unless an a= line (media or session level) says otherwise
    address: str | None  # c= of the media, else of the session

    @property
    def voice_codecs(self) -> frozenset[str]:
        return frozenset(c.upper() for c in self.codecs if c.lower() not in NON_CODECS)


@dataclass(frozen=True, slots=True)
class Sdp:
    connection: str | None
    media: tuple[Media, ...]

    @property
    def audio(self) -> Media | None:
        return next((m for m in self.media if m.kind == "audio"), None)


def parse_sdp(body: str) -> Sdp | None:
    """Parse an SDP body; None when it has no v= or m= line (not SDP)."""
    lines = [line.strip() for line in body.replace("\r\n", "\n").split("\n") if "=" in line[:2]]
    if not any(line.startswith("m=") for line in lines):
        return None
    session_address: str | None = None
    session_direction = "sendrecv"
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        elif line.startswith("c="):
            session_address = _address(line)
        elif line[2:] in DIRECTIONS:
            session_direction = line[2:]
    media = tuple(_media(block, session_address, session_direction) for block in blocks)
    return Sdp(connection=session_address, media=tuple(m for m in media if m is not None))


def _address(line: str) -> str | None:
    parts = line[2:].split()  # c=IN IP4 10.0.0.1
    return parts[2].split("/")[0] if len(parts) >= 3 else None


def _media(block: list[str], session_address: str | None, session_direction: str) -> Media | None:
    fields = block[0][2:].split()
    if len(fields) < 3 or not fields[1].split("/")[0].isdigit():
        return None
    payloads = tuple(int(p) for p in fields[3:] if p.isdigit())
    names: dict[int, str] = {}
    address = session_address
    direction = session_direction
    for line in block[1:]:
        if line.startswith("a=rtpmap:"):
            number, _, rest = line[len("a=rtpmap:"):].partition(" ")
            if number.isdigit():
                names[int(number)] = rest.split("/")[0].strip()
        elif line.startswith("c="):
            address = _address(line) or address
        elif line[2:] in DIRECTIONS:
            direction = line[2:]
    codecs = tuple(names.get(p) or STATIC_PAYLOADS.get(p, f"PT{p}") for p in payloads)
    return Media(kind=fields[0], port=int(fields[1].split("/")[0]), protocol=fields[2],
                 payloads=payloads, codecs=codecs, direction=direction, address=address)
