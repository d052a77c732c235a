"""Image keys and command lines: what decides a rebuild, and how buildah is asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from guestgate_dev.cluster import images
from guestgate_dev.cluster.images import OPERATOR, PAUSE, SIGNAL

STORAGE = Path("/cache/images/storage")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"x.py": b"1", "y.py": b"2"}, {"y.py": b"2", "x.py": b"1"}, True),
        ({"x.py": b"1"}, {"x.py": b"2"}, False),
        ({"x.py": b"1"}, {"z.py": b"1"}, False),
        ({"x.py": b"1"}, {"x.py": b"1", "new.py": b""}, False),
    ],
    ids=["order-does-not-matter", "content-changes", "rename-changes", "new-empty-file-changes"],
)
def test_tree_digest(a: dict[str, bytes], b: dict[str, bytes], same: bool) -> None:
    assert (images.tree_digest(a) == images.tree_digest(b)) is same


def test_image_key_follows_inputs_base_and_image() -> None:
    key = images.image_key(OPERATOR, "d1", "base:1")
    assert key == images.image_key(OPERATOR, "d1", "base:1")
    assert key != images.image_key(OPERATOR, "d2", "base:1"), "a code change is a new image"
    assert key != images.image_key(OPERATOR, "d1", "base:2"), "a new base is a new image"
    assert key != images.image_key(SIGNAL, "d1", "base:1"), "two images never share a tag"
    assert images.image_ref("operator", key) == f"localhost/guestgate/operator:{key}"


def test_base_key_changes_with_the_package_list() -> None:
    assert images.base_key() != images.base_key(packages=("python3",))
    assert images.base_key() != images.base_key(suite="trixie")


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        (["--isolation", "chroot"], "no nested namespaces needed: works as root in a VM or container"),
        (["--network", "host"], "pip in RUN steps reaches PyPI"),
        (["--pull-never"], "never a registry: the base image is local"),
        (["--build-arg", "BASE_IMAGE=localhost/guestgate/base:b"], "the Dockerfile default stays public"),
        (["--root", "/cache/images/storage/root"], "a storage of our own"),
        (["--volume", "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"],
         "the host's trust store for RUN steps only"),
    ],
)
def test_buildah_bud_command(flag: list[str], why: str) -> None:
    volumes = images.build_volumes(Path("/etc/ssl/certs/ca-certificates.crt"), Path("/tmp/pip.conf"))
    command = images.buildah_bud_command(STORAGE, OPERATOR, "localhost/guestgate/operator:k", Path("/repo"),
                                         "localhost/guestgate/base:b", volumes)
    assert any(command[i:i + len(flag)] == flag for i in range(len(command))), why
    assert command[-1] == "/repo", "the repository root is the context, as for `docker build .`"


def test_pause_is_built_from_scratch_without_the_base() -> None:
    command = images.buildah_bud_command(STORAGE, PAUSE, "localhost/guestgate/pause:k", Path("/ctx"), None)
    assert not any(part.startswith("BASE_IMAGE=") for part in command)
    assert not PAUSE.uses_base and PAUSE.go_binary == "images/pause/pause.go"


def test_debootstrap_is_a_minimal_bookworm_with_python_and_pjsua2s_libraries() -> None:
    command = images.debootstrap_command(Path("/tmp/rootfs"))
    assert command[:2] == ["debootstrap", "--variant=minbase"]
    assert "--include=python3,python3-venv,ca-certificates,libopus0,libssl3,libuuid1" in command
    assert command[-3:] == ["bookworm", "/tmp/rootfs", "http://deb.debian.org/debian"]


def test_every_image_input_exists_in_the_repository() -> None:
    for spec in images.ALL_IMAGES:
        assert (images.REPO / spec.dockerfile).is_file()
        for path in spec.inputs:
            assert (images.REPO / path).exists(), path


@pytest.mark.parametrize("spec", images.ALL_IMAGES, ids=[spec.name for spec in images.ALL_IMAGES])
def test_the_installed_buildah_accepts_every_flag(spec: images.ImageSpec, tmp_path: Path) -> None:
    """buildah parses all flags before it prints help: an unknown or misspelt one fails here, and
    nothing is built or written (the storage folder stays empty)."""
    volumes = images.build_volumes(Path("/etc/ssl/certs/ca-certificates.crt"), Path("/tmp/pip.conf"))
    base = "localhost/guestgate/base:b" if spec.uses_base else None
    command = images.buildah_bud_command(tmp_path, spec, f"localhost/guestgate/{spec.name}:k", Path("/repo"), base,
                                         volumes)[:-1]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-1000:]
    refused = subprocess.run([*command, "--guestgate-no-such-flag", "--help"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and "unknown flag" in refused.stderr
    assert list(tmp_path.iterdir()) == []
