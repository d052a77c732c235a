"""crds/ is generated from the models: it must not drift, and it must be a good CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guestgate.api.crd import render_crd_files

REPO = Path(__file__).resolve().parents[2]
FILES = render_crd_files()


@pytest.mark.parametrize("folder", ["crds", "charts/guestgate/crds"])
def test_crds_on_disk_match_the_models(folder: str) -> None:
    for name, text in FILES.items():
        path = REPO / folder / name
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == text, f"{path} differs from the models: run `make crds`"


def _walk(schema: dict[str, Any], path: str) -> list[str]:
    """Paths of schema nodes that break the rules of a structural, documented schema."""
    problems: list[str] = []
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{path}: no type")
    if "$ref" in schema or "anyOf" in schema or "title" in schema:
        problems.append(f"{path}: non-structural key")
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("description") and path.count(".") >= 1:
            problems.append(f"{path}.{name}: no description")
        problems += _walk(prop, f"{path}.{name}")
    if "items" in schema:
        problems += _walk(schema["items"], f"{path}[]")
    return problems


@pytest.mark.parametrize("name", sorted(FILES))
def test_schemas_are_structural_and_documented(name: str) -> None:
    crd = yaml.safe_load(FILES[name])
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema["properties"]["spec"], "spec") == []
    assert _walk(schema["properties"]["status"], "status") == []
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["categories"] == ["guestgate"]
    assert crd["spec"]["names"]["shortNames"]


def test_printer_columns() -> None:
    columns = {
        yaml.safe_load(text)["spec"]["names"]["kind"]: [
            c["name"] for c in yaml.safe_load(text)["spec"]["versions"][0]["additionalPrinterColumns"]
        ]
        for text in FILES.values()
    }
    assert columns["GuestLink"][:3] == ["URL", "Phase", "Destination"]
    assert {"Peer", "PRACK", "Healthy", "Age"} <= set(columns["SipTrunk"])
