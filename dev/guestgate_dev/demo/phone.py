"""A phone behind the demo trunk: pjsua2, answers every call, plays a tone or echoes.

`python -m guestgate_dev.demo.phone --port 5070 [--mode tone|echo] [--tone-hz 1000]
[--record FILE.wav] [--ring-ms 1500]`. It rings (180 without SDP, so GuestGate plays local
ringback), answers, and prints one JSON line per event on stdout (incoming call with the dialled
number, answered, each DTMF digit with its method, BYE received, ended, what it heard), which is
what the tests of the browser leg read. `make demo` runs it in echo mode: you hear yourself.
Its own process: pjsua2 allows one library per process, and the signalling server has its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pjsua2 as pj

from guestgate.engine.core import LogSink
from guestgate_dev.support.tones import dominant, rms

RATE = 16000
MAX_HEARD = RATE * 2 * 120  # keep at most two minutes of what a call said
DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc4733", pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip-info"}


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "time": round(time.time(), 3), **fields}), flush=True)


class Phone:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ep = pj.Endpoint()
        self.calls: dict[int, PhoneCall] = {}
        self.account: Any = None
        self.writer: Any = None
        self._tone: Any = None
        self._captures: list[Any] = []
        self._all_captures: list[Any] = []

    def start(self) -> str:
        ep = self.ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "GuestGate-demo-phone"
        self.writer = LogSink(lambda level, text: self.on_log(text))
        cfg.logConfig.writer = self.writer
        cfg.logConfig.msgLogging = 1
        cfg.logConfig.level = 4
        cfg.logConfig.consoleLevel = 4
        cfg.logConfig.decor = 0
        cfg.medConfig.noVad = True
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.boundAddress = self.args.bind
        tc.port = self.args.port
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        ep.libStart()
        account_cfg = pj.AccountConfig()
        account_cfg.idUri = f"sip:phone@{self.args.bind}"
        # RTP from a random pair in 4000-7999 (pjsua's default is 4000 upward for everyone):
        # phones of test runs side by side seldom meet; tests and engines use ports above 10000.
        media = account_cfg.mediaConfig.transportConfig
        media.port, media.portRange, media.randomizePort = 4000, 3998, True
        self.account = _Account(self)
        self.account.create(account_cfg, True)
        return str(ep.transportGetInfo(tid).localName)

    def loop(self, stop: dict[str, bool]) -> None:
        deadline = None if self.args.run_seconds is None else time.monotonic() + self.args.run_seconds
        while not stop["now"] and (deadline is None or time.monotonic() < deadline):
            self.ep.libHandleEvents(20)
            for call in list(self.calls.values()):
                call.tick()
            # An ended call goes now, while pjsua's slot is still its own or free: pjsua2 2.17's
            # ~Call() clears the user data of (and hangs up) whatever call holds the slot it had,
            # which a Call kept longer (this list used to keep the last 8) finds taken by another.
            for key in [k for k, c in self.calls.items() if c.ended]:
                del self.calls[key]

    def stop(self) -> None:
        self.ep.hangupAllCalls()
        for _ in range(50):
            self.ep.libHandleEvents(20)
        for call in self.calls.values():
            call.finish()
        self.calls.clear()
        if self.account is not None:
            self.account.shutdown()
        self.account = None
        self.ep.libDestroy()

    # pjsua2 frees a media port right after asking the conference bridge (asynchronous since
    # pjsip 2.14) to remove it, so the clock thread can touch freed memory: this phone never
    # destroys its ports. One tone generator serves every call; capture ports are reused.

    def tone(self, pj_module: Any) -> Any:
        if self._tone is None:
            tone = pj_module.ToneGenerator()
            tone.createToneGenerator(RATE, 1)
            desc = pj_module.ToneDesc()
            desc.freq1 = desc.freq2 = int(self.args.tone_hz)
            desc.on_msec, desc.off_msec, desc.volume = 1000, 0, 0
            tones = pj_module.ToneDescVector()
            tones.append(desc)
            tone.play(tones, True)
            tone.thisown = False
            self._tone = tone
        return self._tone

    def take_capture(self, pj_module: Any, sink: bytearray) -> Any:
        port = self._captures.pop() if self._captures else _capture_port(pj_module, len(self._all_captures))
        if port not in self._all_captures:
            self._all_captures.append(port)
        port.sink = sink
        return port

    def give_back_capture(self, port: Any) -> None:
        port.sink = None
        self._captures.append(port)

    def on_log(self, text: str) -> None:
        # pjsip's message log: "RX 412 bytes Request msg BYE/cseq=...". The BYE is what the
        # tests want to see when the visitor hangs up.
        if "Request msg BYE" in text and text.lstrip().startswith("RX"):
            emit("bye-received")


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onIncomingCall(self, prm: Any) -> None:
        try:
            first = str(prm.rdata.wholeMsg).split("\r\n", 1)[0]
            uri = first.split(" ")[1] if " " in first else ""
            number = uri.partition("sip:")[2].partition("@")[0]
            call = PhoneCall(self.phone, self, prm.callId)
            self.phone.calls[prm.callId] = call
            emit("incoming", number=number, uri=uri)
            ringing = pj.CallOpParam()
            ringing.statusCode = 180
            call.answer(ringing)
            call.answer_at = time.monotonic() + self.phone.args.ring_ms / 1000
        except Exception as exc:
            emit("error", error=str(exc))


class PhoneCall(pj.Call):  # type: ignore[misc]
    def __init__(self, phone: Phone, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.phone = phone
        self.answer_at: float | None = None
        self.ended = False
        self.capture: Any = None  # a pooled capture port while the call has audio
        self.heard = bytearray()

    def tick(self) -> None:
        if self.answer_at is not None and time.monotonic() >= self.answer_at:
            self.answer_at = None
            ok = pj.CallOpParam()
            ok.statusCode = 200
            self.answer(ok)

    def onCallState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                emit("answered")
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.finish()
                emit("ended", status=int(info.lastStatusCode), reason=str(info.lastReason))
                self.ended = True
        except Exception as exc:
            emit("error", error=str(exc))

    def onCallMediaState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            for media in info.media:
                if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                    continue
                audio = self.getAudioMedia(media.index)
                if self.phone.args.mode == "echo":
                    audio.startTransmit(audio)
                else:
                    self.phone.tone(pj).startTransmit(audio)
                if self.capture is None:
                    self.capture = self.phone.take_capture(pj, self.heard)
                    audio.startTransmit(self.capture)
        except Exception as exc:
            emit("error", error=str(exc))

    def onDtmfDigit(self, prm: Any) -> None:
        try:
            emit("dtmf", digit=str(prm.digit), method=DTMF_METHODS.get(prm.method, str(prm.method)))
        except Exception as exc:
            emit("error", error=str(exc))

    def finish(self) -> None:
        """Report what was heard (once)."""
        if self.capture is None:
            return
        self.phone.give_back_capture(self.capture)
        self.capture = None
        heard = bytes(self.heard)
        if self.phone.args.record is not None:
            with wave.open(str(self.phone.args.record), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes(heard)
        # Per half second: the level (a muted caller shows as silence at the end) and, over the
        # loudest second, the strongest of the frequencies we listen for.
        step = RATE // 2 * 2
        levels = [round(rms(heard[i : i + step]), 4) for i in range(0, len(heard) - step + 1, step)]
        loudest = max(range(len(levels)), key=levels.__getitem__, default=0)
        window = heard[loudest * step : loudest * step + 2 * step]
        emit(
            "heard",
            seconds=round(len(heard) / RATE / 2, 2),
            rms=max(levels, default=0.0),
            levels=levels,
            dominant=dominant(window, RATE, tuple(float(f) for f in self.phone.args.listen_hz)),
        )


def _capture_port(pj_module: Any, number: int) -> Any:
    class Capture(pj_module.AudioMediaPort):  # type: ignore[misc]
        sink: bytearray | None = None

        # On the conference clock thread; an exception escaping a director aborts the process.
        def onFrameRequested(self, frame: Any) -> None:
            with contextlib.suppress(Exception):
                frame.type = pj_module.PJMEDIA_FRAME_TYPE_NONE

        def onFrameReceived(self, frame: Any) -> None:
            with contextlib.suppress(Exception):
                sink = self.sink
                if sink is not None and frame.type == pj_module.PJMEDIA_FRAME_TYPE_AUDIO and len(sink) < MAX_HEARD:
                    sink.extend(bytes(frame.buf)[: frame.size])

    fmt = pj_module.MediaFormatAudio()
    fmt.type = pj_module.PJMEDIA_TYPE_AUDIO
    fmt.init(pj_module.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
    port = Capture()
    port.createPort(f"capture-{number}", fmt)
    port.thisown = False
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="guestgate-demo-phone", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5070, help="SIP UDP port (0: any free port)")
    parser.add_argument("--mode", choices=("tone", "echo"), default="tone")
    parser.add_argument("--tone-hz", type=int, default=1000)
    parser.add_argument(
        "--listen-hz",
        type=int,
        nargs="+",
        default=[440, 700, 1000],
        help="frequencies to compare in what it heard (the 'heard' event names the strongest)",
    )
    parser.add_argument("--ring-ms", type=int, default=1500, help="how long it rings before answering")
    parser.add_argument("--record", type=Path, default=None, help="write what it heard to this WAV")
    parser.add_argument("--run-seconds", type=float, default=None, help="stop by itself after this long")
    args = parser.parse_args(argv)
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    phone = Phone(args)
    address = phone.start()
    emit("ready", sip=address)
    try:
        phone.loop(stop)
    finally:
        phone.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
