"""The pjsua2 engine: one thread of its own, reached through a queue from asyncio.

Rules this module keeps (each one learnt the hard way with pjsua2):
- pjsua2 runs on one thread (threadCnt 0, mainThreadOnly) that created the library and polls it
  with libHandleEvents; every other thread talks to it by submitting a job to that thread.
- Python references to Account, Call and AudioMediaPort objects are kept for as long as pjsip
  uses them, and dropped on the engine thread only once pjsip is done with them (a Call is
  reaped after DISCONNECTED, never inside its own callback; all of them before libDestroy, or a
  Call destructor asserts and aborts the process).
- pjsua2 2.17's ~Call() works on the pjsua call slot the Call last had (it clears the slot's
  user data and hangs up whatever call is active there): a Call object is dropped while pjsua
  still holds its slot for it, or once the slot is free and before any new call can take it
  (`_release_slots`, before every makeCall). So Calls go on being kept after DISCONNECTED while
  pjsua finishes them (a BYE or CANCEL in flight, a refused INVITE waiting for its ACK), and no
  Call object ever leaves the engine thread (job exceptions and callback logs keep no frames).
- An account is shut down only once pjsua holds no call on it: pjsua2's Account.shutdown()
  forces the deletion and wipes the account under calls still finishing on it.
- every pjsua2 callback body is wrapped: an exception escaping a SWIG director aborts the
  process; every input is checked before it is passed on (engine_config), since pjsua2 asserts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import gc
import logging
import os
import queue
import resource
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import pjsua2 as pj

from guestgate.config.rtp import ENGINE_RTP_FIRST, ENGINE_RTP_LAST
from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.calls import CallEvent, CallHandle
from guestgate.engine.capture import MessageStore
from guestgate.engine.config import (
    CODEC_IDS,
    CONFIG_SITE,
    PJSUA_MAX_ACC,
    Credentials,
    EngineInputError,
    account_config,
    call_limit,
    check_display_name,
    check_host,
    check_number,
    check_port,
    codec_priorities,
    media_port_range,
    peer_uri,
)
from guestgate.engine.guard import MODULE, SipGuard, parse_refusal
from guestgate.engine.source_filter import FILTERED, STEERED, SocketKind, SourceFilter, is_peer
from guestgate.engine.wake import PollWaker
from guestgate.media.sdp import MAX_MEDIA_LINES, media_count, splice_offer
from guestgate.sip.capture import MediaCounters
from guestgate.sip.message import parse_wire

log = logging.getLogger("guestgate.engine.core")

T = TypeVar("T")
MEDIA_SAMPLE_SECONDS = 0.25
MEDIA_YOUNG_SECONDS = 5.0
MEDIA_SAMPLE_LATER_SECONDS = 2.0
IDLE_POLL_MS = 10
BUSY_POLL_MS = 2
BUSY_SECONDS = 0.5
# With a UDP SIP socket a queued job wakes the poll (engine.wake): it may sleep long. pjsip's own
# timers (retransmissions, keepalives, session timers) end it earlier; media samples want 0.25 s.
WOKEN_POLL_MS = 50
# Jobs run in slices: SIP that arrived meanwhile (a 200 OK, an ACK) waits at most this long for
# the next poll, however many calls are being placed at once.
JOB_SLICE_SECONDS = 0.002
Transport = Literal["udp", "tcp"]


class EngineError(RuntimeError):
    """The engine could not do what was asked (stopped, pjsua2 refused, unknown trunk...)."""


class CallLimitError(EngineError):
    """A call refused because the pod holds as many calls as it may (the message says which limit)."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    bind_address: str = "127.0.0.1"
    sip_port: int = 5060  # 0: any free port (UDP first, TCP on the same number)
    transports: tuple[Transport, ...] = ("udp", "tcp")
    tls_port: int | None = None  # None: no TLS; 0: any free port. Needs the two files below.
    tls_cert_file: str = ""  # PEM certificate (chain) of the pod
    tls_key_file: str = ""  # its PEM private key
    public_address: str | None = None  # what Contact/Via and SDP advertise, when behind NAT
    # pjsua's RTP (and RTCP) ports: media_port_count ports from media_port_start (even), first
    # picked at random among them; a pod's are the engine's range (config/rtp.py), a test's or a
    # benchmark's a block of its own (guestgate_dev.support.ports.free_port_range). 0: any free.
    media_port_start: int = ENGINE_RTP_FIRST
    media_port_count: int = ENGINE_RTP_LAST - ENGINE_RTP_FIRST + 1
    max_calls: int = 64  # spec.limits.maxCallsPerPod
    user_agent: str = "GuestGate"
    pjsip_log_level: int = 2  # pjsip's own chatter forwarded to Python logging at WARNING
    # Drop SIP from anyone but the allowed sources in the kernel (sip.source_filter): what a
    # pod does. Off for a caller-only engine (probe) and for tests of pjsua's own refusals.
    peers_only: bool = False


@dataclass(slots=True)
class _CallRecord:
    call: Any  # EngineCall
    handle: CallHandle
    profile: TrunkProfile
    tones: Any = None  # a ToneGenerator for in-band DTMF
    seen_responses: int = 0
    audio_index: int | None = None  # the call's active audio stream, as the last media state said
    next_sample: float = 0.0  # monotonic time of its next RTP counter sample
    # A relayed call (the browser leg): the media relay's SDP goes out as ours, pjsua has no
    # media of its own (no stream, so not one RTP packet from pjsua).
    relay_sdp: str | None = None


@dataclass(slots=True)
class _Finishing:
    call: Any  # a Call (ours after DISCONNECTED, or a refused incoming one)
    slot: int  # its pjsua call slot
    trunk_id: str  # the trunk whose account it is on ("" for the guard account)


@dataclass(slots=True)
class _Trunk:
    profile: TrunkProfile
    account: Any
    calls: set[str] = field(default_factory=set)
    removed: bool = False


class SipEngine:
    """Owns the pjsua2 library. Public methods may be called from any thread."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.messages = MessageStore()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._start_error: BaseException | None = None
        self._allowed_sources: frozenset[str] = frozenset()
        self._filter_lock = threading.Lock()
        self.peer_filter: dict[str, str] = {}  # transport: "filtered" or why not (peers_only)
        self._source_filter = SourceFilter()
        self._sip_guard = SipGuard()
        self._refusals: Counter[tuple[str, int]] = Counter()  # (method, status): requests refused
        self._refusals_lock = threading.Lock()
        self.call_slots: dict[str, int] = {}  # calls in progress (engine, pjsua's slots), sampled
        self._local: dict[str, str] = {}
        self._codecs: dict[str, int] = {}
        self._sockopts: list[Any] = []  # SockOpt values pjsip reads through pointers (_listener_options)
        self._waker: PollWaker | None = None  # wakes the engine's poll for a queued job (UDP only)
        # Below: touched on the engine thread only.
        self._pj: Any = None
        self._ep: Any = None
        self._writer: Any = None
        self._guard: Any = None
        self._trunks: dict[str, _Trunk] = {}
        self._calls: dict[str, _CallRecord] = {}
        # Incoming calls to refuse: (Call, status, trunk id) waiting for the next loop turn.
        self._to_reject: list[tuple[Any, int, str]] = []
        # Calls the engine is done with and pjsua is not yet: kept until pjsua frees their slot.
        self._finishing: list[_Finishing] = []
        self._slot_ids: Any = None  # ctypes buffers of pjsua_enum_calls
        self._reap: list[str] = []
        self._idle_tones: list[Any] = []  # in-band DTMF generators, reused (see _reap_calls)
        self._next_sample = 0.0
        self._last_job = 0.0
        self._call_limit, self._call_limit_reason = max(1, settings.max_calls), "spec.limits.maxCallsPerPod"

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        if self._thread is not None:
            raise EngineError("engine already started")
        self._thread = threading.Thread(target=self._main, name="pjsua2", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EngineError(f"pjsua2 did not start within {timeout:.0f}s")
        if self._start_error is not None:
            raise EngineError(f"pjsua2 did not start: {self._start_error}") from self._start_error
        self.register_current_thread()

    def register_current_thread(self) -> None:
        """Let this thread drop pjsua2 objects (Call, AudioMediaPort...) safely.

        The last reference to a pjsua2 object may go away in any thread (an asyncio session
        ending, the garbage collector); its destructor then calls into pjlib, which aborts the
        process unless the thread is registered. start() registers the thread that called it;
        call this from any other thread that holds pjsua2 objects (the asyncio loop's thread if
        the engine was started elsewhere).
        """
        ep = self._ep
        if ep is not None and not ep.libIsThreadRegistered():
            ep.libRegisterThread(threading.current_thread().name or "guestgate")

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        if self._waker is not None:
            self._waker.wake()
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._ready.is_set() and not self._stopping.is_set()

    def local_address(self, transport: str = "udp") -> str:
        """host:port our SIP transport listens on."""
        try:
            return self._local[transport]
        except KeyError:
            raise EngineError(f"no {transport} transport") from None

    @property
    def max_calls(self) -> int:
        """Calls this engine holds at once: spec.limits.maxCallsPerPod, unless the pjsua2 build
        (PJSUA_MAX_CALLS) or the process's file descriptors allow fewer (known once started)."""
        return self._call_limit

    @property
    def codecs(self) -> dict[str, int]:
        """Codec ids this pjsua2 build has, with their default priority."""
        return dict(self._codecs)

    @property
    def allowed_sources(self) -> frozenset[str]:
        return self._allowed_sources

    def set_allowed_sources(self, hosts: Iterable[str]) -> None:
        """IP addresses allowed to send us SIP (the trunks' peers).

        With peers_only, packets from anyone else are dropped before pjsip sees them; without,
        their calls get 403 (and pjsua answers their OPTIONS).
        """
        self._allowed_sources = frozenset(hosts)
        if self.running and threading.current_thread() is not self._thread:
            allowed = self._allowed_sources
            # The guard answers an INVITE 480 from a peer, 403 from anyone else: in force when this
            # returns (one turn of the engine's loop, a few ms), like the kernel filter below.
            with contextlib.suppress(concurrent.futures.TimeoutError, EngineError):
                self.submit(lambda: self._sip_guard.set_peers(allowed)).result(timeout=5)
        if self.settings.peers_only and self._local:
            self._filter_sources()

    def _filter_sources(self) -> None:
        listeners: list[tuple[str, str, int, SocketKind]] = []
        for name, hostport in self._local.items():  # udp, tcp, tls (a TCP listener too)
            host, _, port = hostport.rpartition(":")
            listeners.append((name, host.strip("[]"), int(port), "udp" if name == "udp" else "tcp"))
        wake_sources = [self._waker.address] if self._waker is not None else []
        with self._filter_lock:
            outcome = self._source_filter.apply(listeners, self._allowed_sources, wake_sources)
        if outcome.get("udp", FILTERED) != FILTERED:
            raise EngineError(f"the peer filter did not reach the UDP socket: {outcome['udp']}")
        if outcome != self.peer_filter:
            kept_out = all(v == FILTERED or v.startswith(STEERED) for v in outcome.values())
            level = logging.INFO if kept_out else logging.WARNING
            log.log(level, "sip peer filter %s peers=%d", outcome, len(self._allowed_sources))
        self.peer_filter = outcome

    @property
    def sip_guard(self) -> str:
        """How requests from the far side are refused: "module" (the guard module of GuestGate's
        pjsua2 build, before pjsua sees them) or "hooks: why not" (pjsua2's callbacks only)."""
        return self._sip_guard.mode

    def refused_requests(self) -> dict[tuple[str, int], int]:
        """Requests refused since start, by (method, status)."""
        with self._refusals_lock:
            return dict(self._refusals)

    def _count_refusal(self, method: str, status: int, source: str, why: str) -> None:
        with self._refusals_lock:
            self._refusals[(method, status)] += 1
        log.warning("sip request refused method=%s source=%s status=%d why=%s", method, source, status, why)

    # ---- the queue ---------------------------------------------------------------------------

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run fn on the engine thread; its result or exception lands in the future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if not self.running:
            future.set_exception(EngineError("the SIP engine is not running"))
            return future
        self._jobs.put((fn, future))
        waker = self._waker
        if waker is not None and threading.current_thread() is not self._thread:
            waker.wake()
        return future

    async def run(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(fn)), timeout)

    # ---- trunks --------------------------------------------------------------------------------

    async def set_trunks(
        self, profiles: Iterable[TrunkProfile], credentials: Mapping[str, Credentials]
    ) -> dict[str, str]:
        """Make the accounts match the profiles; returns {trunk id: error} for those refused.

        Accounts of unchanged trunks are left alone; changed ones are modified in place (calls
        in progress keep going); removed ones are shut down once their last call has ended.
        """
        wanted = {p.id: p for p in profiles}
        return await self.run(lambda: self._apply_trunks(wanted, credentials))

    def trunk_profile(self, trunk_id: str) -> TrunkProfile | None:
        trunk = self._trunks.get(trunk_id)
        return trunk.profile if trunk is not None and not trunk.removed else None

    # ---- calls ---------------------------------------------------------------------------------

    async def place_call(
        self,
        trunk_id: str,
        number: str,
        peer: PeerConfig | None = None,
        caller_name: str | None = None,
        relay_sdp: str | None = None,
    ) -> CallHandle:
        """Call number over the trunk (its first peer unless another is given); `caller_name` is
        the display name of the From header (what the called phone shows).

        `relay_sdp`: a relayed call. The INVITE carries this SDP's media (a media relay's ports)
        and pjsua opens no media of its own; the peer's SDP (18x, 200) arrives in the call's
        events (`CallEvent.sdp`) for the relay."""
        name = check_display_name(caller_name) if caller_name else None
        return await self.run(lambda: self._make_call(trunk_id, number, peer, name, relay_sdp))

    async def hangup(self, handle: CallHandle, status_code: int = 0) -> None:
        await self.run(lambda: self._hangup(handle.call_id, status_code))

    async def media_counters(self, handle: CallHandle) -> MediaCounters:
        """RTP packets each way so far (from the stream statistics) and seconds connected."""
        return await self.run(lambda: self._media_counters(handle.call_id))

    async def send_dtmf(self, handle: CallHandle, digits: str) -> None:
        """Send digits with the trunk's DTMF method (RFC 4733, SIP INFO or in-band tones)."""
        if not digits or any(d not in "0123456789*#ABCD" for d in digits) or len(digits) > 32:
            raise EngineInputError(f"bad DTMF digits {digits!r}")
        await self.run(lambda: self._send_dtmf(handle.call_id, digits))

    # ---- engine thread ---------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._init_library()
        except BaseException as exc:  # anything: the caller must hear why start failed
            traceback.clear_frames(exc.__traceback__)  # its frames held the Endpoint (see _run_jobs)
            self._start_error = exc
            self._destroy_library()
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                if self._run_jobs():
                    self._last_job = time.monotonic()
                waker = self._waker
                if waker is not None:
                    # A job queued from now on wakes the poll; one queued before is seen below.
                    waker.waiting(True)
                    wait_ms = 0 if not self._jobs.empty() else WOKEN_POLL_MS
                else:
                    # No UDP socket to wake the poll through: short polls while jobs come in keep
                    # call setup and slot reuse quick, long ones otherwise keep a pod's CPU low.
                    busy = time.monotonic() - self._last_job < BUSY_SECONDS
                    wait_ms = 0 if not self._jobs.empty() else BUSY_POLL_MS if busy else IDLE_POLL_MS
                self._guarded("libHandleEvents", partial(self._ep.libHandleEvents, wait_ms))
                if waker is not None:
                    waker.waiting(False)
                self._reap_calls()
                self._sample_media()
                self.call_slots = {
                    "engine": len(self._calls),
                    "pjsua": self._sip_guard.pjsua_calls(),
                    "max": self.max_calls,
                }
        finally:
            self._fail_pending_jobs()
            self._shutdown()

    def _run_jobs(self) -> int:
        """Run queued jobs for up to JOB_SLICE_SECONDS (at least one, at most 100); how many ran."""
        count = 0
        deadline = time.monotonic() + JOB_SLICE_SECONDS
        for count in range(1, 101):  # bounded: events must keep flowing under a burst of jobs
            if count > 1 and time.monotonic() > deadline:
                return count - 1
            try:
                fn, future = self._jobs.get_nowait()
            except queue.Empty:
                return count - 1
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                # The caller gets the exception, not the engine thread's locals: a frame kept in
                # its traceback would hold a Call past its slot and drop it on another thread.
                traceback.clear_frames(exc.__traceback__)
                future.set_exception(self._translate(exc))
        return count

    def _fail_pending_jobs(self) -> None:
        while True:
            try:
                _fn, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(EngineError("the SIP engine stopped"))

    def _translate(self, exc: BaseException) -> BaseException:
        if self._pj is not None and isinstance(exc, self._pj.Error):
            return EngineError(f"pjsua2: {exc.info()}")
        return exc

    def _guarded(self, what: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except Exception as exc:
            log.warning("pjsua2 call failed what=%s error=%s", what, self._translate(exc))
            return None

    def _init_library(self) -> None:
        self._pj = pj
        s = self.settings
        check_host(s.bind_address)
        media_port_range(s.media_port_start, s.media_port_count)
        if s.sip_port:
            check_port(s.sip_port)
        ep = self._ep = pj.Endpoint()
        with _stdout_to_stderr():
            # pjlib prints its banner on stdout before any log config applies; stdout belongs
            # to the commands (probe --json).
            ep.libCreate()
        cfg = pj.EpConfig()
        self._call_limit, self._call_limit_reason = call_limit(
            s.max_calls, int(cfg.uaConfig.maxCalls), _raise_fd_limit()
        )
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        # pjsua keeps a call's slot until its last transaction ends (an unanswered INVITE: up to
        # 32 s after the engine is done with it), so pjsua gets every slot the build has and the
        # engine enforces the pod's own limit on the calls it tracks.
        cfg.uaConfig.maxCalls = int(cfg.uaConfig.maxCalls)
        cfg.uaConfig.userAgent = s.user_agent
        # pjsua answers a NOTIFY of message-summary 200 by default: GuestGate subscribes to nothing.
        cfg.uaConfig.mwiUnsolicitedEnabled = False
        # Message logging feeds the ladders; pjsua only hands entries to the writer up to
        # consoleLevel, and it logs messages at level 4.
        self._writer = LogSink(self._on_log)
        cfg.logConfig.writer = self._writer
        cfg.logConfig.msgLogging = 1
        cfg.logConfig.level = 4
        cfg.logConfig.consoleLevel = 4
        cfg.logConfig.decor = 0
        cfg.medConfig.noVad = True  # silence must still produce RTP, or NO_MEDIA lies
        cfg.medConfig.threadCnt = 1
        ep.libInit(cfg)
        # Before any transport exists: nothing from the far side reaches pjsua unguarded.
        if self._sip_guard.install() != MODULE:
            log.warning("sip guard %s", self._sip_guard.mode)
        self._sip_guard.set_peers(self._allowed_sources)
        ep.audDevManager().setNullDev()  # a pod has no sound card; the bridge still clocks
        # With port 0, UDP gets a free port and TCP must get the same number, which another
        # process may hold: try a few numbers before giving up.
        for attempt in range(1 if s.sip_port else 20):
            try:
                self._create_transports(s.sip_port)
                break
            except pj.Error:
                if s.sip_port or attempt == 19:
                    raise
        if s.tls_port is not None:
            self._create_tls_transport()
        if "udp" in self._local:
            host, _, port = self._local["udp"].rpartition(":")
            self._waker = PollWaker(host, int(port))
        if s.peers_only:
            self._filter_sources()  # nobody until the trunks' peers are known
        ep.libStart()
        self._codecs = {str(c.codecId): int(c.priority) for c in ep.codecEnum2()}
        self._guard = _TrunkAccount(self, "")
        guard_cfg = pj.AccountConfig()
        guard_cfg.idUri = f"sip:guestgate@{s.public_address or s.bind_address}"
        self._guard.create(guard_cfg, True)
        if self._call_limit < s.max_calls:
            log.warning("maxCallsPerPod=%d but this pod holds %d calls at once: %s",
                        s.max_calls, self._call_limit, self._call_limit_reason)
        log.info("sip engine started listen=%s max_calls=%d codecs=%s", self._local, self._call_limit,
                 sorted(self._codecs))

    def _create_transports(self, port: int) -> None:
        pj, ep, s = self._pj, self._ep, self.settings
        created: list[int] = []
        try:
            for kind in s.transports:
                tc = pj.TransportConfig()
                tc.boundAddress = s.bind_address
                tc.port = port
                if s.public_address:
                    tc.publicAddress = s.public_address
                kind_id = pj.PJSIP_TRANSPORT_UDP if kind == "udp" else pj.PJSIP_TRANSPORT_TCP
                if kind == "tcp":
                    tc.sockOptParams.sockOpts = self._listener_options()
                created.append(ep.transportCreate(kind_id, tc))
                port = int(str(ep.transportGetInfo(created[-1]).localName).rpartition(":")[2])
                self._local[kind] = f"{s.bind_address}:{port}"
                self.messages.set_local_address(kind, self._local[kind])
        except pj.Error:
            for tid in created:
                self._guarded("transportClose", partial(ep.transportClose, tid))
            self._local.clear()
            raise

    def _listener_options(self) -> Any:
        """Socket options of a TCP/TLS listener: SO_REUSEPORT when peers_only, so that the peer
        filter can steer non-peers to a sink where the kernel will not filter TCP (source_filter).

        pjsua2's SockOpt points at a value inside itself, and its copies (the vector's, the
        TransportConfig's) at the same place: the engine keeps the SockOpt for good, or pjsip
        reads the option's value from freed memory (AddressSanitizer: heap-use-after-free in
        pj_sockopt_params_clone) and may set SO_REUSEPORT to whatever is there by then."""
        options = self._pj.SockOptVector()
        if self.settings.peers_only:
            option = self._pj.SockOpt()
            option.level = socket.SOL_SOCKET
            option.optName = socket.SO_REUSEPORT
            option.setOptValInt(1)
            options.append(option)
            self._sockopts.append(option)
        return options

    def _create_tls_transport(self) -> None:
        pj, ep, s = self._pj, self._ep, self.settings
        for path in (s.tls_cert_file, s.tls_key_file):
            if not path or not os.path.isfile(path):
                raise EngineError(f"TLS needs a certificate and a key file; {path or 'none'} is missing")
        tc = pj.TransportConfig()
        tc.boundAddress = s.bind_address
        tc.port = s.tls_port or 0
        if s.public_address:
            tc.publicAddress = s.public_address
        tc.tlsConfig.certFile = s.tls_cert_file
        tc.tlsConfig.privKeyFile = s.tls_key_file
        # Peers rarely present certificates GuestGate could check (CUCM's are self-signed per
        # node): the link is encrypted, and peers are pinned by address as for UDP and TCP.
        tc.tlsConfig.verifyClient = False
        tc.tlsConfig.verifyServer = False
        tc.tlsConfig.sockOptParams.sockOpts = self._listener_options()
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc)
        port = int(str(ep.transportGetInfo(tid).localName).rpartition(":")[2])
        self._local["tls"] = f"{s.bind_address}:{port}"
        self.messages.set_local_address("tls", self._local["tls"])

    def _shutdown(self) -> None:
        ep = self._ep
        if ep is None:
            return
        self._guarded("hangupAllCalls", ep.hangupAllCalls)
        deadline = time.monotonic() + 3.0
        while (self._calls or self._finishing) and time.monotonic() < deadline:
            self._guarded("libHandleEvents", lambda: ep.libHandleEvents(20))
            self._reap_calls()
        self._destroy_library()

    def _destroy_library(self) -> None:
        # Every pjsua2 object must be gone before libDestroy: their destructors call into pjsua.
        for record in self._calls.values():
            record.tones = None
        self._idle_tones.clear()
        self._calls.clear()
        self._to_reject.clear()
        self._finishing.clear()
        for trunk in self._trunks.values():
            self._guarded("Account.shutdown", trunk.account.shutdown)
        self._trunks.clear()
        if self._guard is not None:
            self._guarded("Account.shutdown", self._guard.shutdown)
        self._guard = None
        gc.collect()
        if self._ep is not None:
            # Calls are over by now and a trunk never registers: nothing is left to say on the
            # network, and without NO_NETWORK pjsua waits a second for answers that cannot come.
            self._guarded("libDestroy", partial(self._ep.libDestroy, pj.PJSUA_DESTROY_NO_NETWORK))
        self._ep = None
        if self._waker is not None:
            self._waker.close()
        self._writer = None
        self._source_filter.close()

    # -- trunks on the engine thread

    def _apply_trunks(self, wanted: dict[str, TrunkProfile], credentials: Mapping[str, Credentials]) -> dict[str, str]:
        pj = self._pj
        errors: dict[str, str] = {}
        contact_host = self.settings.public_address or self.settings.bind_address
        for trunk_id, profile in wanted.items():
            current = self._trunks.get(trunk_id)
            if current is not None and current.profile == profile and not current.removed:
                continue
            cred = credentials.get(profile.auth.credentials_key) if profile.auth else None
            try:
                codec_priorities(profile, set(self._codecs))
                for peer in profile.peers:
                    peer_uri(peer)
                if not profile.peers:
                    raise EngineInputError(f"trunk {trunk_id} has no peer")
                if profile.auth is not None and cred is None:
                    raise EngineInputError(
                        f"trunk {trunk_id}: credentials {profile.auth.credentials_key!r} are missing"
                    )
                cfg = account_config(
                    pj, profile, contact_host, self.settings.bind_address, self.settings.public_address, cred,
                    (self.settings.media_port_start, self.settings.media_port_count),
                )
                if current is None:
                    if len(self._trunks) + 1 >= PJSUA_MAX_ACC:  # + the guard account
                        raise EngineInputError(
                            f"trunk {trunk_id} refused: a signalling pod holds at most {PJSUA_MAX_ACC - 1} "
                            f"trunks (pjsua2 is built with PJSUA_MAX_ACC={PJSUA_MAX_ACC}, {CONFIG_SITE}); "
                            "spread the trunks over more GuestClusters"
                        )
                    account = _TrunkAccount(self, trunk_id)
                    account.create(cfg)
                    self._trunks[trunk_id] = _Trunk(profile, account)
                else:
                    current.account.modify(cfg)
                    current.profile = profile
                    current.removed = False
                log.info("trunk configured trunk=%s peers=%s", trunk_id, [p.hostport() for p in profile.peers])
            except Exception as exc:
                errors[trunk_id] = str(self._translate(exc))
                log.warning("trunk refused trunk=%s error=%s", trunk_id, errors[trunk_id])
        for trunk_id, trunk in list(self._trunks.items()):
            if trunk_id not in wanted:
                trunk.removed = True
                self._drop_trunk_if_idle(trunk_id)
        return errors

    def _drop_trunk_if_idle(self, trunk_id: str) -> None:
        trunk = self._trunks.get(trunk_id)
        if trunk is None or not trunk.removed or trunk.calls:
            return
        if any(f.trunk_id == trunk_id for f in self._finishing):
            return  # pjsua still finishes a call on the account (shutdown would wipe it under it)
        self._guarded("Account.shutdown", trunk.account.shutdown)
        del self._trunks[trunk_id]
        log.info("trunk removed trunk=%s", trunk_id)

    # -- calls on the engine thread

    def _make_call(
        self, trunk_id: str, number: str, peer: PeerConfig | None, caller_name: str | None, relay_sdp: str | None = None
    ) -> CallHandle:
        pj = self._pj
        trunk = self._trunks.get(trunk_id)
        if trunk is None or trunk.removed:
            raise EngineError(f"unknown trunk {trunk_id!r}")
        profile = trunk.profile
        target_peer = peer or profile.peers[0]
        target = peer_uri(target_peer, check_number(number))
        # A hang-up job may have ended calls synchronously (never ACKed INVITEs); and the Calls
        # whose slots pjsua freed go before makeCall can hand one of those slots out again.
        self._reap_calls()
        audio_count = relay_media_count(relay_sdp) if relay_sdp else 1
        if len(self._calls) >= self._call_limit:
            raise CallLimitError(
                f"call refused: {len(self._calls)} calls in progress, the most this pod holds "
                f"({self._call_limit_reason})"
            )
        if target_peer.transport not in self._local:
            raise EngineError(f"no {target_peer.transport} transport for {target_peer.hostport()}")
        # Codec order is global in pjsua; calls are made one at a time on this thread and the
        # offer is built inside makeCall, so setting it right before gives each trunk its order.
        for codec, priority in codec_priorities(profile, set(self._codecs)).items():
            self._ep.codecSetPriority(codec, priority)
        call_id = f"{uuid.uuid4().hex}@guestgate"
        handle = CallHandle(call_id=call_id, trunk_id=trunk_id, number=number, target=target)
        handle._messages = lambda: self.messages.messages(call_id)
        self.messages.watch(call_id)
        call = _EngineCall(self, trunk.account, call_id)
        record = _CallRecord(call=call, handle=handle, profile=profile, relay_sdp=relay_sdp)
        self._calls[call_id] = record
        trunk.calls.add(call_id)
        param = pj.CallOpParam(True)
        param.opt.customCallId = call_id
        # A relayed call's m= lines are the relay's, put into the SDP in onCallSdpCreated; its
        # pjsua audio streams are muzzled as they are created (see _muzzle_stream). pjsua needs a
        # media of its own for each m= line (fewer assert in pjsua_media_channel_update; none at
        # all asserts on the o= address): audio ones, a video m= line's is refused as media type.
        param.opt.audioCount = audio_count
        if relay_sdp and hasattr(param.opt, "textCount"):
            param.opt.textCount = 0  # pjsua 2.17 adds a real-time text m= line by default
        param.opt.videoCount = 0
        if caller_name:
            param.txOption.localUri = f'"{caller_name}" <{trunk.account.getInfo().uri}>'
        try:
            call.makeCall(target, param)
        except Exception:
            del self._calls[call_id]
            trunk.calls.discard(call_id)
            raise
        handle.publish(CallEvent("calling", time.time()))
        log.info("call placed trunk=%s target=%s call_id=%s", trunk_id, target, call_id)
        return handle

    def _record(self, call_id: str) -> _CallRecord:
        record = self._calls.get(call_id)
        if record is None:
            raise EngineError(f"no call {call_id}")
        return record

    def _hangup(self, call_id: str, status_code: int) -> None:
        record = self._calls.get(call_id)
        if record is None or record.handle.ended:
            return
        param = self._pj.CallOpParam(True)
        if status_code:
            if not 300 <= status_code <= 699:
                raise EngineInputError(f"hang-up status {status_code} is not 3xx..6xx")
            param.statusCode = status_code
        self._media_counters(call_id)  # the streams go away with the call
        self._guarded("Call.hangup", lambda: record.call.hangup(param))

    def _media_counters(self, call_id: str) -> MediaCounters:
        record = self._record(call_id)
        counters = record.handle.media or MediaCounters()
        index = record.audio_index
        if not record.handle.ended and index is not None:
            stat = self._guarded("Call.getStreamStat", lambda: record.call.getStreamStat(index))
            if stat is not None:
                counters = MediaCounters(
                    rtp_packets_sent=max(counters.rtp_packets_sent, int(stat.rtcp.txStat.pkt)),
                    rtp_packets_received=max(counters.rtp_packets_received, int(stat.rtcp.rxStat.pkt)),
                )
        answered = record.handle.answered_at
        end = record.handle.ended_at or time.time()
        counters.seconds_connected = max(0.0, end - answered) if answered else 0.0
        record.handle.media = counters
        return counters

    def _sample_media(self) -> None:
        # pjsua tears the streams down before it reports DISCONNECTED, so a call the peer hangs
        # up would show no RTP at all: the counters are sampled while the call is up, every
        # MEDIA_SAMPLE_SECONDS while its media is young (did RTP start?), then every
        # MEDIA_SAMPLE_LATER_SECONDS (a pod holding hundreds of calls must not spend its engine
        # thread reading statistics).
        now = time.monotonic()
        if now < self._next_sample:
            return
        self._next_sample = now + MEDIA_SAMPLE_SECONDS
        wall = time.time()
        for call_id, record in list(self._calls.items()):
            if record.handle.ended or record.audio_index is None or now < record.next_sample:
                continue
            answered = record.handle.answered_at
            young = answered is None or wall - answered < MEDIA_YOUNG_SECONDS
            record.next_sample = now + (MEDIA_SAMPLE_SECONDS if young else MEDIA_SAMPLE_LATER_SECONDS)
            self._guarded("media sample", partial(self._media_counters, call_id))

    def _new_tone_generator(self) -> Any:
        tones = self._pj.ToneGenerator()
        tones.createToneGenerator()
        return tones

    def _send_dtmf(self, call_id: str, digits: str) -> None:
        pj = self._pj
        record = self._record(call_id)
        method = record.profile.dtmf
        if method == "inband":
            audio = self._call_audio(record)
            if audio is None:
                raise EngineError("no audio yet for in-band DTMF")
            if record.tones is None:
                record.tones = self._idle_tones.pop() if self._idle_tones else self._new_tone_generator()
                record.tones.startTransmit(audio)
            tones = pj.ToneDigitVector()
            for d in digits:
                digit = pj.ToneDigit()
                digit.digit = d
                digit.on_msec, digit.off_msec, digit.volume = 100, 100, 0
                tones.append(digit)
            record.tones.playDigits(tones)
            return
        param = pj.CallSendDtmfParam()
        param.digits = digits
        param.method = pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "sip-info" else pj.PJSUA_DTMF_METHOD_RFC2833
        record.call.sendDtmf(param)

    def _call_audio(self, record: _CallRecord) -> Any:
        """The call's active audio (None if none), its stream index noted for the RTP counters."""
        pj = self._pj
        info = record.call.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                pj.PJSUA_CALL_MEDIA_ACTIVE,
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
            ):
                record.audio_index = int(media.index)
                return record.call.getAudioMedia(media.index)
        record.audio_index = None
        return None

    def _connect_media(self, record: _CallRecord) -> None:
        audio = self._call_audio(record)
        if record.relay_sdp:
            return  # the relay carries the media; pjsua's stream stays muted and unconnected
        if audio is None:
            return
        # A health-check call: the null device's capture port sends silence, so RTP flows and
        # media is measurable.
        self._ep.audDevManager().getCaptureDevMedia().startTransmit(audio)

    def _reap_calls(self) -> None:
        self._reject_pending()
        for call_id in self._reap:
            record = self._calls.pop(call_id, None)
            if record is None:
                continue
            slot = int(record.call.getId())
            if slot >= 0:  # pjsua may still be finishing it (BYE, CANCEL): see _release_slots
                self._finishing.append(_Finishing(record.call, slot, record.handle.trunk_id))
            if record.tones is not None:
                # Reused, never destroyed while the library runs: pjsua2 frees a media port right
                # after asking the conference bridge to remove it, which the bridge does a clock tick
                # later (pjsip >= 2.14), so destroying one mid-run lets that tick touch freed memory.
                self._guarded("ToneGenerator.stop", record.tones.stop)
                self._idle_tones.append(record.tones)
                record.tones = None
            trunk = self._trunks.get(record.handle.trunk_id)
            if trunk is not None:
                trunk.calls.discard(call_id)
                self._drop_trunk_if_idle(record.handle.trunk_id)
        self._reap.clear()
        self._release_slots()

    def _release_slots(self) -> None:
        """Drop the Calls whose pjsua slot is free now, and shut down the removed trunks' accounts
        that thereby have no call left.

        Runs after every poll and before every makeCall, the only places a slot is freed or
        handed out again (an incoming INVITE is refused before pjsua makes a call of it, unless
        the guard module is missing): a Call's destructor then finds its slot still its own or
        empty, never another call's (which it would hang up)."""
        if not self._finishing:
            return
        live = self._live_slots() or set()  # a build that cannot tell: dropped at once, as before
        done = [f for f in self._finishing if f.slot not in live]
        if not done:
            return
        self._finishing = [f for f in self._finishing if f.slot in live]
        trunks = {f.trunk_id for f in done}
        done.clear()  # the Calls go here, on the engine thread
        for trunk_id in trunks:
            self._drop_trunk_if_idle(trunk_id)

    def _live_slots(self) -> set[int] | None:
        """pjsua's call slots in use (pjsua_enum_calls, exported by the pjsua2 extension)."""
        if self._slot_ids is None:
            enum = getattr(self._sip_guard.extension, "pjsua_enum_calls", None)
            if enum is None:
                return None
            config = pj.EpConfig()  # held: uaConfig is a view into it (SWIG), gone with it
            size = int(config.uaConfig.maxCalls)
            self._slot_ids = (enum, (ctypes.c_int * size)(), ctypes.c_uint(size), size)
        enum, ids, count, size = self._slot_ids
        count.value = size
        if enum(ids, ctypes.byref(count)) != 0:
            return None
        return set(ids[: count.value])

    # -- callbacks (engine thread, from libHandleEvents)

    def _on_call_state(self, call: Any) -> None:
        pj = self._pj
        info = call.getInfo()
        record = self._calls.get(str(info.callIdString))
        if record is None:
            return
        handle = record.handle
        now = time.time()
        if info.state == pj.PJSIP_INV_STATE_EARLY:
            for message in self._new_provisionals(record):
                handle.publish(message)
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not handle.answered:
            for message in self._new_provisionals(record):  # an 18x not yet reported (CONFIRMED came first)
                handle.publish(message)
            handle.publish(
                CallEvent("answered", now, int(info.lastStatusCode), str(info.lastReason), sdp=self._answer_sdp(record))
            )
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not handle.ended:
            record.audio_index = None  # the streams are gone by now: the samples taken stand
            if handle.media is None or handle.answered:
                self._media_counters(handle.call_id)
            handle.publish(CallEvent("ended", now, int(info.lastStatusCode), str(info.lastReason)))
            log.info(
                "call ended call_id=%s status=%s reason=%s",
                handle.call_id,
                info.lastStatusCode,
                info.lastReason,
            )
            self._reap.append(handle.call_id)

    def _answer_sdp(self, record: _CallRecord) -> str:
        """The SDP of the 2xx that answered the INVITE ("" when it had none)."""
        for message in reversed(self.messages.messages(record.handle.call_id)):
            parsed = parse_wire(message.data) if message.direction == "received" else None
            cseq = (parsed.header("CSeq") or "").upper().split() if parsed is not None else []
            if parsed is not None and 200 <= (parsed.status or 0) < 300 and cseq[-1:] == ["INVITE"]:
                return parsed.body if parsed.body.strip() else ""
        return ""

    def _new_provisionals(self, record: _CallRecord) -> list[CallEvent]:
        events: list[CallEvent] = []
        messages = self.messages.messages(record.handle.call_id)
        for message in messages[record.seen_responses :]:
            record.seen_responses += 1
            parsed = parse_wire(message.data) if message.direction == "received" else None
            code = parsed.status if parsed is not None else None
            if parsed is None or code is None or not 101 <= code <= 199:
                continue
            # RFC 3262: a reliable provisional carries RSeq and names 100rel.
            reliable = parsed.has("RSeq") and "100rel" in parsed.tokens("Require") | parsed.tokens("Supported")
            events.append(
                CallEvent(
                    "progress",
                    message.time,
                    code,
                    parsed.reason_phrase,
                    has_sdp=bool(parsed.body.strip()),
                    reliable=reliable,
                    sdp=parsed.body if parsed.body.strip() else "",
                )
            )
        return events

    def _on_sdp_created(self, call_id: str, sdp: Any) -> None:
        record = self._calls.get(call_id)
        if record is not None and record.relay_sdp:
            sdp.wholeSdp = splice_offer(str(sdp.wholeSdp), record.relay_sdp)

    def _relayed(self, call_id: str) -> bool:
        record = self._calls.get(call_id)
        return record is not None and bool(record.relay_sdp)

    def _on_stream_precreate(self, call_id: str, prm: Any) -> None:
        if self._relayed(call_id):
            # pjsua2's SWIG hands struct members out as copies: change one and give it back.
            info = prm.streamInfo
            info.rtcpSdesByeDisabled = True  # no RTCP SDES at start, no BYE at the end
            prm.streamInfo = info

    def _on_stream_created(self, call_id: str, prm: Any) -> None:
        if self._relayed(call_id):
            _muzzle_stream(prm.stream)

    def _on_media_state(self, call: Any) -> None:
        record = self._calls.get(str(call.getInfo().callIdString))
        if record is not None:
            self._connect_media(record)

    def _on_incoming(self, account: Any, call_id: int, source: str) -> None:
        allowed = is_peer(source.rsplit(":", 1)[0], self._allowed_sources)
        # Click-to-call only places calls; a peer calling in gets a clean refusal, anyone else
        # (scanners sweep every public SIP port) a 403.
        code = 480 if allowed else 403
        # Refusing inside onIncomingCall makes pjsua2 2.15 free a cloned rdata that is gone
        # (assertion, abort): the refusal waits for the next turn of the loop.
        self._to_reject.append((self._pj.Call(account, call_id), code, str(account.trunk_id)))
        self._count_refusal("INVITE", code, source, "GuestGate places calls, it takes none")

    def _reject_pending(self) -> None:
        pending, self._to_reject = self._to_reject, []
        for call, code, trunk_id in pending:
            param = self._pj.CallOpParam(True)
            param.statusCode = code
            self._guarded("Call.hangup", partial(call.hangup, param))
            # Kept until pjsua frees the slot (the ACK of the refusal): _release_slots.
            self._finishing.append(_Finishing(call, int(call.getId()), trunk_id))

    def _on_log(self, level: int, text: str) -> None:
        if self.messages.feed(text) is not None:
            return
        refusal = parse_refusal(text) if self._sip_guard.installed and level <= 3 else None
        if refusal is not None:
            self._count_refusal(refusal.method, refusal.status, refusal.source, refusal.why)
        elif level <= self.settings.pjsip_log_level:
            log.warning("pjsip %s", text.strip()[:500])


def relay_media_count(relay_sdp: str) -> int:
    """pjsua media for a relayed offer: one per m= line (pjsua2 takes at most MAX_MEDIA_LINES)."""
    count = media_count(relay_sdp)
    if not 1 <= count <= MAX_MEDIA_LINES:
        raise EngineInputError(f"a relayed offer needs 1 to {MAX_MEDIA_LINES} m= lines, not {count}")
    return count


_PJMEDIA: list[Any] = []  # the loaded pjsua2 library, for the one pjmedia call pjsua2 does not wrap


def _muzzle_stream(stream: Any) -> None:
    """Pause a new pjsua audio stream's encoder (pjmedia_stream_pause, ENCODING): it sends no RTP,
    no keep-alive and (its decoder gets nothing, the relay has the peer's media) no RTCP.

    Called from onStreamCreated, after pjmedia started the stream and before pjsua adds it to the
    conference bridge, so no clock tick reaches it unpaused. pjsua2 gives the stream as a SWIG
    pointer (MediaStream); pjsua2 has no pause of its own, the library exports pjmedia's."""
    if not _PJMEDIA:
        library = ctypes.CDLL(pj._pjsua2.__file__)
        library.pjmedia_stream_pause.argtypes = [ctypes.c_void_p, ctypes.c_int]
        library.pjmedia_stream_pause.restype = ctypes.c_int
        _PJMEDIA.append(library)
    status = _PJMEDIA[0].pjmedia_stream_pause(int(stream), pj.PJMEDIA_DIR_ENCODING)
    if status != 0:
        raise EngineError(f"pjmedia_stream_pause failed (status {status})")


def _callback_failed(what: str) -> None:
    """Log the exception a pjsua2 callback caught (one escaping a SWIG director aborts the
    process) as text: a LogRecord's exc_info would keep the callback's frames, and with them its
    Call or Account, for as long as a handler keeps the record (pytest's do), to be dropped later
    on another thread."""
    exc = sys.exception()
    log.error("%s: %s", what, "".join(traceback.format_exception(exc)).rstrip() if exc else "?")


class LogSink(pj.LogWriter):  # type: ignore[misc]
    """pjsip's log entries handed to sink(level, text) on the thread that logs (the engine's, or
    a demo phone's); a failure is logged, never raised (it would abort the process)."""

    def __init__(self, sink: Callable[[int, str], None]) -> None:
        super().__init__()
        self._sink = sink

    def write(self, entry: Any) -> None:
        try:
            self._sink(int(entry.level), str(entry.msg))
        except Exception:  # an exception escaping a director aborts the process
            _callback_failed("log writer failed")


class _TrunkAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: SipEngine, trunk_id: str) -> None:
        super().__init__()
        self._engine = engine
        self.trunk_id = trunk_id

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self._engine._on_incoming(self, prm.callId, str(prm.rdata.srcAddress))
        except Exception:
            _callback_failed("incoming call handler failed")

    # Below: reached only without the guard module (it refuses these before pjsua sees them).

    def onIncomingSubscribe(self, prm: Any) -> None:
        try:
            prm.code = 403  # pjsua would answer 200 and send NOTIFYs wherever the Contact points
            self._engine._count_refusal("SUBSCRIBE", 403, str(prm.rdata.srcAddress), "no event package is served")
        except Exception:
            _callback_failed("subscribe handler failed")

    def onInstantMessage(self, prm: Any) -> None:
        try:  # pjsua answered 200 already; nothing is done with it
            log.warning("sip MESSAGE ignored source=%s", str(prm.rdata.srcAddress))
        except Exception:
            _callback_failed("message handler failed")


class _EngineCall(pj.Call):  # type: ignore[misc]
    def __init__(self, engine: SipEngine, account: Any, call_id: str) -> None:
        super().__init__(account)
        self._engine = engine
        self.sip_call_id = call_id

    def onCallState(self, prm: Any) -> None:
        try:
            self._engine._on_call_state(self)
        except Exception:
            _callback_failed("call state handler failed")

    def onCallMediaState(self, prm: Any) -> None:
        try:
            self._engine._on_media_state(self)
        except Exception:
            _callback_failed("media state handler failed")

    # Below: reached only without the guard module (it refuses these before pjsua sees them).

    def onCallTransferRequest(self, prm: Any) -> None:
        try:
            prm.statusCode = 403  # pjsua would answer 202 and dial the Refer-To for the far side
            self._engine._count_refusal("REFER", 403, self.sip_call_id, f"transfer to {str(prm.dstUri)[:100]}")
        except Exception:
            _callback_failed("transfer handler failed")

    def onCallReplaceRequest(self, prm: Any) -> None:
        try:
            prm.statusCode = 403  # pjsua would hand this call over to whoever sent the INVITE
            self._engine._count_refusal("INVITE", 403, str(prm.rdata.srcAddress), "Replaces is not accepted")
        except Exception:
            _callback_failed("replace handler failed")

    def onCallSdpCreated(self, prm: Any) -> None:
        try:
            self._engine._on_sdp_created(self.sip_call_id, prm.sdp)
        except Exception:
            _callback_failed("sdp hook failed")

    def onStreamPreCreate(self, prm: Any) -> None:
        try:
            self._engine._on_stream_precreate(self.sip_call_id, prm)
        except Exception:
            _callback_failed("stream pre-create hook failed")

    def onStreamCreated(self, prm: Any) -> None:
        try:
            self._engine._on_stream_created(self.sip_call_id, prm)
        except Exception:
            _callback_failed("stream created hook failed")


def _raise_fd_limit() -> int | None:
    """Lift the soft RLIMIT_NOFILE to the hard one (each call takes two sockets); the limit now,
    None when unlimited."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return None if soft == resource.RLIM_INFINITY else soft


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        # pjlib printf()s into C stdio's buffer: flush it while fd 1 still points at stderr.
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def running_engine(settings: EngineSettings) -> Iterator[SipEngine]:
    """`with running_engine(settings) as engine:` starts and always stops the engine."""
    engine = SipEngine(settings)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


__all__ = [
    "CODEC_IDS",
    "CONFIG_SITE",
    "PJSUA_MAX_ACC",
    "CallEvent",
    "CallHandle",
    "CallLimitError",
    "EngineError",
    "EngineSettings",
    "LogSink",
    "SipEngine",
    "running_engine",
]
