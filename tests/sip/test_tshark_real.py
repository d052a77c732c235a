"""The tshark importers and the tshark writers of sip_builder against tshark itself (Debian's
tshark, installed by hack/install-deps.sh): a pcap of a ladder is dissected by the real tshark in
each output form, and what the importers read from it must equal what they read from the pcap
itself and from the writer's imitation. So the writers the catalogue matrix uses cannot drift
away from what tshark prints.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from guestgate.sip.importers import import_bytes
from guestgate.sip.ladder import Ladder
from sip.sip_builder import Call, as_pcap, as_tshark, as_tshark_json
from sip.test_catalogue import auth_rejected, early_media_on_180, prack_missing_cucm_cube

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
FORMS: dict[str, tuple[list[str], Callable[[Call], str]]] = {
    "-V": (["-V"], as_tshark),
    "-O sip": (["-O", "sip"], lambda call: as_tshark(call, verbose=False)),
    "-T json": (["-T", "json"], as_tshark_json),
}


def _shape(ladder: Ladder, timed: bool) -> list[tuple[object, ...]]:
    start = ladder.messages[0].time
    return [(m.message.start_line, m.message.headers, m.message.sdp.audio if m.message.sdp else None,
             m.src, m.dst, m.transport, m.sender,
             round(m.time - start, 6) if timed and m.time is not None and start is not None else None)
            for m in ladder.messages]


@pytest.mark.parametrize("build", [prack_missing_cucm_cube, auth_rejected, early_media_on_180],
                         ids=lambda build: build.__name__)
@pytest.mark.parametrize("form", list(FORMS))
def test_real_tshark_output_reads_like_the_capture(tmp_path: Path, build: Callable[[], Call], form: str) -> None:
    call = build()
    pcap = tmp_path / "call.pcap"
    pcap.write_bytes(as_pcap(call))
    args, writer = FORMS[form]
    result = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "sip", *args], capture_output=True, timeout=120,
                            check=True)
    timed = form != "-O sip"  # -O shows no frame details, so no times
    from_pcap = _shape(import_bytes(pcap.read_bytes(), "call.pcap").ladders[0], timed)
    real = import_bytes(result.stdout, f"tshark {form}")
    assert real.format == ("tshark-json" if form == "-T json" else "tshark")
    assert _shape(real.ladders[0], timed) == from_pcap
    imitation = import_bytes(writer(call).encode(), f"sip_builder {form}")
    assert _shape(imitation.ladders[0], timed) == from_pcap
