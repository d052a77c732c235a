"""One signalling server, one phone and one Chromium per module: each is slow to start and the
machine has two cores. SIPp peers answer one call each, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from browser.chromium import Chromium
from browser.harness import (
    ARTIFACTS,
    MIC_HZ,
    Bench,
    Ports,
    published,
    running_bench,
    write_tone_wav,
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Bench]:
    ports = Ports()
    with running_bench(tmp_path_factory.mktemp("browser"), ports, published(ports), request.module.__name__) as bench:
        yield bench


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
    assert bench.relay.wait_no_sessions() == [], "rtpengine still holds sessions after the scenario"
