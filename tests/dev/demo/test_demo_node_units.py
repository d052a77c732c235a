"""When `make demo` (guestgate demo --node) may print its link: only once every pod serves the
configuration with the demo link and the demo trunk towards the phone's current port."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guestgate.config.schema import files_digest
from guestgate_dev.demo.node import served_everywhere

PHONE = "192.0.2.2:55754"


def files(phone_port: int = 55754, link: bool = True) -> dict[str, str]:
    trunk = {"id": "guestgate-demo/demo-phone", "peers": [{"host": "192.0.2.2", "port": phone_port}]}
    links = [{"path": "/call/try-me"}] if link else []
    return {"cluster.json": "{}", "trunks.json": json.dumps({"trunks": [trunk]}),
            "links.json": json.dumps({"links": links, "withdrawn": []})}


def status(config: dict[str, str], ready: int = 3, serving: int = 3) -> dict[str, Any]:
    return {"replicas": 3, "readyReplicas": ready, "podsServingConfig": serving, "configDigest": files_digest(config)}


CASES = [
    ("every_pod_serves_it", files(), status(files()), True),
    ("previous_runs_phone_port", files(55613), status(files(55613)), False),  # resumed pods, old trunk
    ("link_not_rendered_yet", files(link=False), status(files(link=False)), False),
    ("pods_serve_an_older_config", files(), status(files(55613)), False),
    ("one_pod_lags", files(), status(files(), serving=2), False),
    ("one_pod_not_ready", files(), status(files(), ready=2, serving=2), False),
    ("no_status_yet", files(), {}, False),
]


@pytest.mark.parametrize(("config", "cluster_status", "ok"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_link_is_printed_only_when_a_call_would_connect(
    config: dict[str, str], cluster_status: dict[str, Any], ok: bool
) -> None:
    line = served_everywhere(cluster_status, config, PHONE)
    assert (line is not None) is ok
    if line:
        assert "all 3 signalling pods serve the demo link and trunk" in line
