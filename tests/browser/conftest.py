"""One signalling server, one phone and one Chromium per module: each is slow to start and the
machine has two cores. SIPp peers answer one call each, per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from chromium import Chromium
from harness import (
    ARTIFACTS,
    MIC_HZ,
    PHONE_HZ,
    Bench,
    Ports,
    published,
    start_phone,
    start_server,
    stop_process,
    write_config,
    write_tone_wav,
)

from guestgate_dev.support.rtpengine import start_relay


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("browser")
    ports = Ports()
    config_dir, secrets = write_config(root, published(ports))
    phone = start_phone(
        ports.phone,
        root / "phone.log",
        "--tone-hz",
        str(PHONE_HZ),
        "--ring-ms",
        "3000",
        "--listen-hz",
        "440",
        str(MIC_HZ),
        str(PHONE_HZ),
    )
    relay = start_relay(root / "rtpengine.log")
    try:
        server = start_server(config_dir, secrets, root / "server.log", "--rtpengine", relay.ng)
    except BaseException:
        stop_process(phone.process)
        relay.stop()
        raise
    try:
        yield Bench(ports, server, phone, root, relay)
    finally:
        stop_process(server.process, 20)
        stop_process(phone.process)
        relay.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in root.glob("*.log"):
            shutil.copy(log, ARTIFACTS / f"{request.module.__name__}-{log.name}")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(bench: Bench) -> AsyncIterator[Chromium]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium = Chromium(write_tone_wav(bench.root / "mic.wav", MIC_HZ), ARTIFACTS)
    await chromium.start()
    try:
        yield chromium
    finally:
        await chromium.stop()


@pytest.fixture(autouse=True)
def relay_sessions_back_to_zero(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every scenario, rtpengine holds no session: every way a call ends deletes its own."""
    yield
    if "bench" not in request.fixturenames:
        return
    bench: Bench = request.getfixturevalue("bench")
    if bench.relay is not None:
        assert bench.relay.wait_no_sessions() == [], "rtpengine still holds sessions after the scenario"
