"""The CUCM field failure seen from both ends, through the operator: a visitor's call over the
trunk is dropped after the answer with cause 65 and the page says so in plain words, while the
operator's health check of the same trunk names PRACK_MISSING_DOWNSTREAM in the SipTrunk status.

The signalling server runs as a local process fed by the operator's rendered ConfigMap (the
LocalPod of tests/fixtures), with the link pages on the cluster's web port.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.chromium import Chromium
from browser.harness import ARTIFACTS, MIC_HZ, SCENARIOS, start_sipp, write_tone_wav
from fixtures.localpod import LocalPod
from fixtures.operator import REPO, Kubectl, wait_for
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import start_relay

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture
def web_pod(local_pod: LocalPod, tmp_path: Path) -> Iterator[LocalPod]:
    """The local pod serving the link pages on the cluster's web port, with its rtpengine beside
    it (a pod's sidecar), every call's session deleted at the end."""
    relay = start_relay(tmp_path / "rtpengine.log")
    local_pod.use_cluster_web_port = True
    local_pod.extra_args = ["--rtpengine", relay.ng]
    try:
        yield local_pod
        assert relay.wait_no_sessions() == [], "rtpengine still holds sessions after the call"
    finally:
        relay.stop()


def manifests(web_port: int, sipp_port: int) -> list[dict[str, Any]]:
    api = "guestgate.io/v1alpha1"
    return [
        {
            "apiVersion": api,
            "kind": "GuestCluster",
            "metadata": {"name": "gc"},
            "spec": {
                "publicURL": f"http://127.0.0.1:{web_port}",
                "replicas": 1,
                "sip": {"port": free_port(), "transports": ["udp"]},
                "web": {"port": web_port},
            },
        },
        {
            "apiVersion": api,
            "kind": "SipTrunk",
            "metadata": {"name": "pstn"},
            "spec": {
                "clusterRef": "gc",
                "platform": "cucm",
                "peer": {"host": "127.0.0.1", "port": sipp_port, "transport": "udp"},
                "keepalive": {"intervalSeconds": 0, "failureThreshold": 1},
                "healthCheck": {
                    "destinations": [{"name": "international", "number": "442079460000"}],
                    "timeoutSeconds": 20,
                    "minMediaSeconds": 1,
                },
            },
        },
        {
            "apiVersion": api,
            "kind": "GuestLink",
            "metadata": {"name": "intl"},
            "spec": {
                "clusterRef": "gc",
                "trunkRef": "pstn",
                "destination": "442079460000",
                "displayName": "Call London",
                "slug": "london",
            },
        },
    ]


async def test_cause_65_is_explained_on_the_page_and_named_in_the_siptrunk_status(
    kube: Kubectl, web_pod: LocalPod, tmp_path: Path
) -> None:
    assert (SCENARIOS / "cucm-over-cube.xml").exists()
    web_port, sipp_port = free_port(), free_port()
    sipp = start_sipp("cucm-over-cube", sipp_port, tmp_path / "sipp-cucm.log", calls=4)
    try:
        for manifest in manifests(web_port, sipp_port):
            kube.apply(manifest)
        web_pod.start()
        healthy = wait_for(
            "the trunk's health verdict",
            lambda: (c := kube.condition("siptrunk", "pstn", "Healthy")) and c["status"] != "Unknown" and c,
            timeout=90,
        )
        assert (healthy["status"], healthy["reason"]) == ("False", "PRACK_MISSING_DOWNSTREAM"), healthy
        url = wait_for("the link's URL", lambda: kube.status("guestlink", "intl").get("url"), timeout=30)
        assert url == f"http://127.0.0.1:{web_port}/call/london"
        # `guestgate link-token` reads the link's URL and the cluster's signing key from the cluster.
        minted = subprocess.run(
            [
                sys.executable,
                "-m",
                "guestgate.web.command_token",
                f"{kube.namespace}/intl",
                "--kubeconfig",
                str(kube.cluster.kubeconfig),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert minted.returncode == 0 and minted.stdout.startswith(f"{url}?token="), minted.stderr
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser = Chromium(write_tone_wav(tmp_path / "mic.wav", MIC_HZ), ARTIFACTS)
        await browser.start()
        try:
            await browser.open(url)
            await browser.click("#call")
            await browser.wait_for("gg.state === 'ended'", 30)
            await browser.screenshot("operator-cucm-ended-cause-65")
            assert "Call ended" in await browser.state_text()
            assert "dropped by the phone network" in await browser.eval("document.getElementById('reason').innerText")
            assert "Q.850 cause 65" in await browser.eval("document.getElementById('detail').innerText")
        finally:
            await browser.stop()
    finally:
        stop_process(sipp)
