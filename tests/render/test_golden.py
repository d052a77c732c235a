"""Golden files: every manifest the builders make for tests/data/render/input/<case>.yaml.

Refresh with `make golden` and read the diff: a golden file changes only on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.render import network, secrets, turn
from guestgate.render.cluster import children as cluster_children
from guestgate.render.config import render_published_config
from support.golden import assert_golden

DATA = Path(__file__).resolve().parent.parent / "data" / "render"
CASES = sorted(p.stem for p in (DATA / "input").glob("*.yaml"))


class _GoldenDumper(yaml.SafeDumper):
    """Multi-line strings (the JSON config files) as literal blocks, so diffs read line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_GoldenDumper.add_representer(str, _str)


def render_case(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clusters = [GuestCluster.model_validate(d) for d in docs if d["kind"] == "GuestCluster"]
    trunks = [SipTrunk.model_validate(d) for d in docs if d["kind"] == "SipTrunk"]
    links = [GuestLink.model_validate(d) for d in docs if d["kind"] == "GuestLink"]
    out: list[dict[str, Any]] = []
    for cluster in clusters:
        # The TURN Service as the API server would have it: a load balancer address, NodePorts.
        observed = turn.service(cluster)
        for index, port in enumerate(observed["spec"]["ports"]):
            port["nodePort"] = 31000 + index
        observed["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
        published = render_published_config(cluster, trunks, links, turn.endpoint(cluster, observed))
        # Created once (create-if-missing), with the value generated then: fixed here.
        out += [
            secrets.signing_secret(cluster, b"fixed-signing-key"),
            secrets.admin_secret(cluster, b"fixed-admin-token"),
            *([turn.shared_secret(cluster, b"fixed-turn-secret")] if turn.enabled(cluster) else []),
        ]
        # What the controller applies (controllers/cluster.py calls the same function).
        out += cluster_children(cluster, published, {"ns.trunk": (b"user", b"pass")},
                                network.sip_sources(cluster, trunks), signal_pod_ips=["10.244.0.12", "10.244.0.11"])
    return out


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    docs = list(yaml.safe_load_all((DATA / "input" / f"{case}.yaml").read_text()))
    rendered = yaml.dump_all(render_case(docs), Dumper=_GoldenDumper, sort_keys=True, width=120)
    assert_golden(DATA / "output" / f"{case}.yaml", rendered, f"the children rendered for {case}")


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 2
