"""The images install the product alone: the wheel built from what their Dockerfiles copy holds the
`guestgate` package and no development module (guestgate_dev, the local cluster, the demos)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT_IMAGES = ("operator", "signal")


def copied_paths(dockerfile: Path) -> set[str]:
    """The repository paths a Dockerfile copies into its build (COPY --from=... excluded)."""
    paths: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"COPY\s+(?!--from)(\S+)\s+\S+$", line)
        if match:
            paths.add(match.group(1))
    return paths


@pytest.mark.parametrize("image", PRODUCT_IMAGES)
def test_the_image_copies_only_the_product(image: str) -> None:
    # wheels/: the signalling image's pjsua2, built from pjproject by hack/build-pjsua2.sh
    extra = {"wheels/"} if image == "signal" else set()
    assert copied_paths(REPO / "images" / image / "Dockerfile") == {"pyproject.toml", "README.md", "operator", *extra}


def test_the_wheel_holds_no_development_module(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in copied_paths(REPO / "images" / "operator" / "Dockerfile"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, context / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("guestgate-*.whl")
    modules = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    top_level = {name.split("/", 1)[0] for name in modules}
    assert top_level == {"guestgate"}, top_level
    dev_module = re.compile(r"(^|/)(guestgate_dev|devcluster|demo\w*|support)(/|\.py$)")
    development = sorted(m for m in modules if dev_module.search(m))
    assert development == [], development
    # the product's layers are all there: the check above looks at a real package, not an empty one
    for package in ("api", "config", "controllers", "engine", "kube", "pod", "render", "signal", "sip", "web"):
        assert f"guestgate/{package}/__init__.py" in modules, package
