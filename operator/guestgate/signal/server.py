"""The signalling server: configuration, SIP engine, keepalive, health checks, admin API.

It owns the pieces and the order they start and stop in; each piece does its own job
(config_loader, sip.engine, keepalive, health, admin, metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.core import EngineSettings, SipEngine
from guestgate.signal.admin import BaseNotServed, TrunkUnavailable, UnknownTrunk, make_app
from guestgate.signal.config_loader import BaseMismatch, ConfigError, ConfigWatcher, LoadedConfig
from guestgate.signal.health import HealthResult, run_health_check
from guestgate.signal.keepalive import Keepalive
from guestgate.signal.metrics import Metrics
from guestgate.signal.peers import PeerResolver
from guestgate.signal.secrets import admin_token, trunk_credentials

log = logging.getLogger("guestgate.signal.server")


@dataclass(frozen=True)
class ServerOptions:
    config_dir: Path
    secrets_dir: Path
    bind: str = "0.0.0.0"
    pod_name: str = ""
    poll_seconds: float = 2.0


class SignalServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.watcher = ConfigWatcher(options.config_dir)
        self.metrics = Metrics()
        self.engine: SipEngine | None = None
        self.keepalive: Keepalive | None = None
        self.trunk_errors: dict[str, str] = {}
        self.results: dict[str, HealthResult] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()
        self._trunks_applied: tuple[tuple[TrunkProfile, ...], dict[str, Any]] | None = None
        self.peers = PeerResolver(on_change=self._peers_resolved)
        # Parts that must run before the pod is ready besides the engine and the configuration
        # (the link pages: `expect("web")` before start, `started("web")` once they answer).
        self.pending: set[str] = set()
        self.admin_port = 0

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        loaded = self.watcher.load_initial()  # ConfigError: the pod cannot start without one
        token = admin_token(self.options.secrets_dir)
        cluster = loaded.config.cluster
        transports = tuple(t for t in cluster.sip.transports if t in ("udp", "tcp"))
        tls_dir = self.options.secrets_dir / cluster.sip.tls_cert_dir if cluster.sip.tls_cert_dir else None
        if "tls" in cluster.sip.transports and tls_dir is None:
            log.warning("sip.transports lists tls but sip.tlsCertDir is not set: no TLS listener")
        use_tls = "tls" in cluster.sip.transports and tls_dir is not None
        settings = EngineSettings(
            bind_address=self.options.bind,
            sip_port=cluster.sip.port,
            transports=transports,
            public_address=cluster.sip.external_address,
            max_calls=cluster.limits.max_calls_per_pod,
            tls_port=cluster.sip.tls_port if use_tls else None,
            tls_cert_file=str(tls_dir / "tls.crt") if tls_dir else "",
            tls_key_file=str(tls_dir / "tls.key") if tls_dir else "",
            peers_only=True,  # scanners get nothing: only the trunks' peers reach pjsua
        )
        engine = self.engine = SipEngine(settings)
        # Started from the loop's thread (about 0.2 s, once): that registers it with pjlib, so
        # pjsua2 objects the browser leg drops in this thread are released safely.
        engine.start()
        self.metrics.watch_refusals(engine.refused_requests)
        self.keepalive = Keepalive(cluster.sip.external_address or self.options.bind, self._peer_changed)
        await self._apply(loaded)
        runner = self._runner = web.AppRunner(make_app(self, token), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.bind, cluster.admin_port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.admin_port = int(sockets[0].getsockname()[1]) if sockets else cluster.admin_port
        self._poller = asyncio.get_running_loop().create_task(self._poll_config())
        log.info(
            "signalling server started sip=%s admin=%s:%d trunks=%d",
            engine.local_address("udp" if "udp" in transports else "tcp"),
            self.options.bind,
            self.admin_port,
            len(loaded.config.trunks.trunks),
        )

    def expect(self, part: str) -> None:
        self.pending.add(part)

    def started(self, part: str) -> None:
        self.pending.discard(part)

    async def stop(self) -> None:
        await self.peers.stop()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.keepalive is not None:
            await self.keepalive.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.engine is not None:
            await asyncio.to_thread(self.engine.stop)

    # ---- configuration ---------------------------------------------------------------------

    async def _poll_config(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll_seconds)
            before = self.watcher.last_error
            async with self._apply_lock:
                loaded = self.watcher.poll()
                if self.watcher.last_error and self.watcher.last_error != before:
                    self.metrics.config_errors.inc()
                if loaded is not None:
                    try:
                        await self._apply(loaded)
                    except Exception:  # keep serving with what is in force
                        log.exception("applying the new configuration failed")

    async def push_config(
        self, files: dict[str, str], base: str | None = None, removed: list[str] | None = None
    ) -> dict[str, Any]:
        """The operator's push (`PUT /v1/config`): applied at once when valid and new; with
        `base`, only the files that changed since that configuration (BaseNotServed when the pod
        serves another). ConfigError (the message names the file and field) leaves the
        configuration in force."""
        async with self._apply_lock:
            try:
                loaded = self.watcher.push(files, base, removed or ())
            except BaseMismatch as error:
                current = self.watcher.current
                raise BaseNotServed(str(error), current.digest if current else "") from error
            except ConfigError:
                self.metrics.config_errors.inc()
                raise
            if loaded is not None:
                await self._apply(loaded)
        current = self.watcher.current
        return {"digest": current.digest if current else "", "applied": loaded is not None}

    async def _apply(self, loaded: LoadedConfig) -> None:
        """Bring engine and keepalive to the configuration; calls in progress are not touched."""
        assert self.engine is not None and self.keepalive is not None
        trunks = loaded.config.trunks.trunks
        if loaded.config.cluster.sip.port != self.engine.settings.sip_port:
            log.warning("sip.port changed: it takes effect when the pod restarts (the operator rolls it)")
        credentials = trunk_credentials(self.options.secrets_dir, trunks)
        if (trunks, credentials) == self._trunks_applied:
            return  # only links changed (most edits): nothing for the engine, the keepalive or DNS
        self.trunk_errors = await self.engine.set_trunks(trunks, credentials)
        self._trunks_applied = (trunks, credentials)
        # Never waits for DNS: names come from the resolver's cache, looked up in the background.
        self.peers.watch(peer for trunk in trunks for peer in trunk.peers)
        self._allow_peers()
        old = {tid: [p.peer.hostport() for p in state.peers] for tid, state in self.keepalive.trunks.items()}
        self.keepalive.update(trunks)
        for removed in set(old) - {t.id for t in trunks}:
            self.results.pop(removed, None)
            self.metrics.forget_trunk(removed, old[removed])

    def _allow_peers(self) -> None:
        if self.engine is None or self.watcher.current is None:
            return
        trunks = self.watcher.current.config.trunks.trunks
        addresses = self.peers.all_addresses(peer for trunk in trunks for peer in trunk.peers)
        if addresses != self.engine.allowed_sources:
            self.engine.set_allowed_sources(addresses)

    def _peers_resolved(self) -> None:
        try:
            self._allow_peers()
        except Exception:  # the filter keeps what it had; the next change tries again
            log.exception("updating the peer filter failed")

    def call_peer(self, trunk_id: str) -> PeerConfig | None:
        """The peer a call on the trunk goes to now (keepalive failover), by its cached address."""
        peer = self.keepalive.active_peer(trunk_id) if self.keepalive is not None else None
        return self.peers.for_call(peer) if peer is not None else None

    def _peer_changed(self, trunk_id: str, peer: PeerConfig, up: bool) -> None:
        self.metrics.peer_state(trunk_id, peer.hostport(), up)

    def _profile(self, trunk_id: str) -> TrunkProfile:
        current = self.watcher.current
        profile = next((t for t in current.config.trunks.trunks if t.id == trunk_id), None) if current else None
        if profile is None:
            raise UnknownTrunk(f"no trunk {trunk_id} in the configuration")
        if trunk_id in self.trunk_errors:
            raise TrunkUnavailable(self.trunk_errors[trunk_id])
        return profile

    # ---- the admin backend ----------------------------------------------------------------

    def alive(self) -> bool:
        return self.engine is not None and self.engine.running

    def ready(self) -> bool:
        """The SIP engine runs, a configuration is loaded and every expected part (the link
        pages) answers."""
        return self.alive() and self.watcher.current is not None and not self.pending

    def status(self) -> dict[str, Any]:
        current = self.watcher.current
        return {
            "pod": self.options.pod_name or socket.gethostname(),
            "config": {
                "digest": current.digest if current else "",
                "error": self.watcher.last_error,
                "source": self.watcher.source,
            },
            "ready": self.ready(),
            "trunks": self.trunk_states(),
            # How each SIP listener keeps non-peers out (docs/signal.md, "Peer filtering").
            "peerFilter": dict(self.engine.peer_filter) if self.engine else {},
            # How requests that would make the pod act for the far side are refused (docs/signal.md).
            "sipGuard": self.engine.sip_guard if self.engine else "",
            # Calls in progress: the engine's and pjsua's own call slots (a leak shows as a gap).
            "callSlots": dict(self.engine.call_slots) if self.engine else {},
        }

    def trunk_states(self) -> list[dict[str, Any]]:
        assert self.keepalive is not None
        states = []
        for trunk_id, state in sorted(self.keepalive.trunks.items()):
            entry = state.to_dict()
            entry["error"] = self.trunk_errors.get(trunk_id, "")
            entry["profileHash"] = state.profile.hash()
            last = self.results.get(trunk_id)
            entry["lastHealthCheck"] = {"time": last.time.isoformat(), "outcome": last.outcome} if last else None
            states.append(entry)
        return states

    def last_result(self, trunk_id: str) -> dict[str, Any] | None:
        result = self.results.get(trunk_id)
        return self._result_dict(result) if result else None

    def _result_dict(self, result: HealthResult) -> dict[str, Any]:
        return result.to_dict(pod=self.options.pod_name or socket.gethostname())

    async def run_health_check(self, trunk_id: str, destinations: list[str] | None, trigger: str) -> dict[str, Any]:
        profile = self._profile(trunk_id)
        chosen = list(profile.health_check.destinations)
        if destinations is not None:
            unknown = sorted(set(destinations) - {d.name for d in chosen})
            if unknown:
                raise ValueError(f"unknown destination(s) {', '.join(unknown)} of trunk {trunk_id}")
            chosen = [d for d in chosen if d.name in destinations]
        assert self.engine is not None and self.keepalive is not None
        peer = self.call_peer(trunk_id)
        # Never hand pjsip a name to resolve on its thread (it would stall every call): a peer
        # name the resolver has no address for places no call, and says so.
        unresolved = self.peers.error(peer.host) if peer is not None else ""
        # One check per trunk at a time: each is real calls on the trunk.
        async with self._locks.setdefault(trunk_id, asyncio.Lock()):
            result = await run_health_check(
                self.engine, profile, destinations=chosen, trigger=trigger, peer=peer,
                unplaceable=unresolved,
            )
        self.results[trunk_id] = result
        for index, outcome in enumerate(result.destinations):
            self.metrics.call(trunk_id, result.outcome_of(index), outcome.setup_seconds)
        self.metrics.health_report(trunk_id, result.report)
        return self._result_dict(result)

    def metrics_exposition(self) -> tuple[bytes, str]:
        return self.metrics.exposition()

