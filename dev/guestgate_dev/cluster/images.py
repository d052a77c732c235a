"""Container images for the local node, built from ``images/`` with buildah, no registry.

    base     debootstrap of Debian bookworm (minbase + python3, python3-venv, ca-certificates and
             the runtime libraries of pjsua2: libopus0, libssl3, libuuid1),
             imported as ``localhost/guestgate/base:bookworm-python3``: the BASE_IMAGE the
             Dockerfiles are built on here (their default stays the public python image users pull)
    pause    images/pause: the pod sandbox image, a static Go binary
    operator images/operator/Dockerfile
    signal   images/signal/Dockerfile, with the pjsua2 wheel of hack/build-pjsua2.sh (pjproject
             2.17 built for Debian's python3, cp311: the same wheel as the venv's) in its context
    media    images/media/Dockerfile (rtpengine, every signalling pod's sidecar)
    turn     images/turn/Dockerfile: Debian coturn, its entrypoint and the turn agent (the managed TURN server)

Everything is cached under ``~/.cache/guestgate/images/``: the base rootfs tarball, buildah's own
storage, and one ``<image>-<key>.tar`` archive per image, where the key hashes every input (the
Dockerfile, pyproject.toml, the ``operator/`` tree, the base image's key). An unchanged tree is
not rebuilt; a changed one gets a new tag (``localhost/guestgate/<image>:<key>``), so a pod spec
that names the tag always runs what was built from the tree it names.

The pure half (keys, command lines) is tested as tables; the rest runs buildah, debootstrap, go
and ctr.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.cluster.progress import Step, ticking
from guestgate_dev.support.process import exclusive

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# python3-venv: the Dockerfiles make a venv; ca-certificates: pip reaches PyPI over https;
# libopus0, libssl3, libuuid1: what the project's pjsua2 build links against.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "libopus0", "libssl3", "libuuid1")
BASE_NAME = "localhost/guestgate/base"
# Namespace the CRI plugin of containerd reads images from.
K8S_NAMESPACE = "k8s.io"
# Bumped when the way images are made changes in a way the inputs do not show.
_RECIPE = "1"


class ImageError(RuntimeError):
    """An image build or import failed; the message names the step and ends with its output."""


@dataclass(frozen=True)
class ImageSpec:
    """One image built from a Dockerfile in ``images/``.

    ``inputs``: files and directories (relative to the repo) whose content decides the image;
    ``context``: the build context, ``None`` for the repository root (what ``docker build .``
    users run). ``go_binary``: a Go source built into the context first (the pause image).
    ``pjsua2_wheel``: the context is a copy of ``inputs`` plus ``wheels/`` holding the pjsua2
    wheel (hack/build-pjsua2.sh), which is an input too.
    """

    name: str
    dockerfile: str
    inputs: tuple[str, ...]
    uses_base: bool = True
    go_binary: str | None = None
    pjsua2_wheel: bool = False


PAUSE = ImageSpec("pause", "images/pause/Dockerfile", ("images/pause",), uses_base=False,
                  go_binary="images/pause/pause.go")
OPERATOR = ImageSpec("operator", "images/operator/Dockerfile",
                     ("images/operator", "pyproject.toml", "README.md", "operator/guestgate"))
SIGNAL = ImageSpec("signal", "images/signal/Dockerfile",
                   ("images/signal", "pyproject.toml", "README.md", "operator/guestgate"), pjsua2_wheel=True)
# The interpreter of the bookworm base (python3 3.11): the wheel is built for its tag (cp311).
IMAGE_PYTHON = "/usr/bin/python3"
WHEELS = "wheels"  # the folder of the build context the signal Dockerfile installs from
MEDIA = ImageSpec("media", "images/media/Dockerfile", ("images/media",))
# The managed TURN server: Debian's coturn, the entrypoint that feeds it the operator's files and
# the product's turn agent beside it.
TURN = ImageSpec("turn", "images/turn/Dockerfile", ("images/turn", "pyproject.toml", "README.md", "operator/guestgate"))
ALL_IMAGES: tuple[ImageSpec, ...] = (PAUSE, OPERATOR, SIGNAL, MEDIA, TURN)


# --- pure -------------------------------------------------------------------------------------


def tree_digest(files: Mapping[str, bytes]) -> str:
    """A hash of relative path -> content; order-independent, path and content both count."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def base_key(suite: str = DEBIAN_SUITE, packages: Sequence[str] = BASE_PACKAGES,
             mirror: str = DEBIAN_MIRROR) -> str:
    text = "\n".join([_RECIPE, suite, mirror, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_key(spec: ImageSpec, inputs_digest: str, base: str | None) -> str:
    text = "\n".join([_RECIPE, spec.name, spec.dockerfile, inputs_digest, base or "-"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_ref(name: str, key: str) -> str:
    return f"localhost/guestgate/{name}:{key}"


def debootstrap_command(target: Path, suite: str = DEBIAN_SUITE, packages: Sequence[str] = BASE_PACKAGES,
                        mirror: str = DEBIAN_MIRROR) -> list[str]:
    # minbase: no init system, no apt recommends; the image only runs Python.
    return ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(target), mirror]


def buildah_global_args(storage: Path) -> list[str]:
    # Storage of our own: never mixes with a user's podman/buildah images. overlay works as root
    # on this kind of host (ext4); vfs would copy every layer in full.
    return ["--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver", "overlay"]


HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def build_volumes(ca_bundle: Path | None, pip_conf: Path | None) -> list[str]:
    """Read-only mounts for the RUN steps only (never committed into a layer): the host's trust
    store, and a pip.conf telling pip to use it. Hosts behind a TLS-inspecting proxy trust its CA
    there; pip otherwise only trusts its own bundled certifi."""
    volumes: list[str] = []
    if ca_bundle is not None:
        volumes += ["--volume", f"{ca_bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    if pip_conf is not None:
        volumes += ["--volume", f"{pip_conf}:/etc/pip.conf:ro"]
    return volumes


PIP_CONF = "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"


def buildah_bud_command(storage: Path, spec: ImageSpec, ref: str, context: Path, base_ref: str | None,
                        volumes: Sequence[str] = ()) -> list[str]:
    command = ["buildah", *buildah_global_args(storage), "bud", *volumes,
               # chroot: no nested user namespace or cgroup setup, which a root shell in a VM or
               # a container may not allow; host network: pip reaches PyPI from the RUN steps.
               "--isolation", "chroot", "--network", "host",
               # Never reach a registry: the base is local, and a missing one must fail loudly.
               "--pull-never",
               "--layers",
               "-f", str(REPO / spec.dockerfile), "-t", ref]
    if base_ref is not None:
        command += ["--build-arg", f"BASE_IMAGE={base_ref}"]
    return [*command, str(context)]


# --- I/O --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImage:
    spec_name: str
    ref: str
    archive: Path
    seconds: float
    built: bool


def images_dir(cache: CacheLayout) -> Path:
    return cache.root / "images"


def _run(command: Sequence[str], step: str, *, cwd: Path | None = None, log_file: Path | None = None,
         env: Mapping[str, str] | None = None, timeout: float = 1800) -> str:
    started = time.monotonic()
    try:
        with ticking(Step(step)):
            done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False,
                                  timeout=timeout, env=dict(env) if env is not None else None)
    except FileNotFoundError as error:
        raise ImageError(f"{step}: `{command[0]}` is not installed (hack/install-deps.sh installs it)") from error
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as handle:
            handle.write(f"$ {' '.join(command)}  # {time.monotonic() - started:.1f}s\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise ImageError(f"{step}: `{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _read_inputs(paths: Iterable[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for relative in paths:
        path = REPO / relative
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            parts = file.relative_to(REPO).parts
            # Caches and bytecode are not inputs: they differ between machines, not in meaning.
            if "__pycache__" in parts or file.suffix in (".pyc", ".pyo"):
                continue
            files[file.relative_to(REPO).as_posix()] = file.read_bytes()
    return files


def pjsua2_wheel(python: str = IMAGE_PYTHON) -> Path:
    """The pjsua2 wheel for ``python``'s tag: cached per machine, built once (minutes) otherwise."""
    script = REPO / "hack" / "build-pjsua2.sh"
    env = {**os.environ, "PYTHON": python}
    if "PJPROJECT_TARBALL" not in env and not (REPO.parent / "shared" / "vendor").is_dir():
        # A clone made elsewhere: the tarball beside the repository it was cloned from, if any.
        found = _run([str(REPO / "hack" / "pjproject-tarball.sh")], "hack/pjproject-tarball.sh", env=env).split()
        env.update(zip(("PJPROJECT_TARBALL", "PJPROJECT_SHA256"), found, strict=False))
    out = _run([str(script)], "hack/build-pjsua2.sh", env=env, timeout=3600)
    wheel = Path(out.strip().splitlines()[-1]) if out.strip() else None
    if wheel is None or not wheel.is_file():
        raise ImageError(f"hack/build-pjsua2.sh named no wheel: {out[-500:]!r}")
    return wheel


def _context_inputs(spec: ImageSpec) -> tuple[dict[str, bytes], Path | None]:
    """The files whose content decides the image, and the pjsua2 wheel it needs (if any)."""
    files = _read_inputs(spec.inputs)
    wheel = pjsua2_wheel() if spec.pjsua2_wheel else None
    if wheel is not None:
        files[f"{WHEELS}/{wheel.name}"] = wheel.read_bytes()
    return files, wheel


def _copy_context(spec: ImageSpec, wheel: Path, target: Path) -> None:
    for relative in spec.inputs:
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, target / relative, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    (target / WHEELS).mkdir()
    shutil.copy2(wheel, target / WHEELS / wheel.name)


def ensure_base(cache: CacheLayout) -> str:
    """The local base image (debootstrap once, cached as a tarball); returns its reference."""
    key = base_key()
    ref = f"{BASE_NAME}:{DEBIAN_SUITE}-python3-{key}"
    storage = images_dir(cache) / "storage"
    if _buildah_has(storage, ref):
        return ref
    tarball = images_dir(cache) / "base" / f"debian-{DEBIAN_SUITE}-python3-{key}.tar"
    log_file = images_dir(cache) / "logs" / "base.log"
    if not tarball.is_file():
        started = time.monotonic()
        log.info("making the base image rootfs with debootstrap (a few minutes, once) suite=%s", DEBIAN_SUITE)
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tarball.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            _run(debootstrap_command(rootfs), "debootstrap", log_file=log_file)
            # apt lists and caches are a third of a minbase; the image never runs apt.
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            partial = tarball.with_suffix(".partial")
            _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], "tar rootfs",
                 log_file=log_file)
            partial.replace(tarball)
        log.info("base rootfs ready seconds=%.0f tarball=%s", time.monotonic() - started, tarball)
    g = buildah_global_args(storage)
    container = _run(["buildah", *g, "from", "scratch"], "buildah from scratch", log_file=log_file).strip()
    try:
        _run(["buildah", *g, "add", container, str(tarball), "/"], "buildah add rootfs", log_file=log_file)
        _run(["buildah", *g, "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "--cmd", "/usr/bin/python3", container], "buildah config", log_file=log_file)
        _run(["buildah", *g, "commit", "--rm", container, ref], "buildah commit base", log_file=log_file)
    except ImageError:
        _run(["buildah", *g, "rm", container], "buildah rm", log_file=log_file)
        raise
    return ref


def _buildah_has(storage: Path, ref: str) -> bool:
    done = subprocess.run(["buildah", *buildah_global_args(storage), "inspect", "--type", "image", ref],
                          capture_output=True, check=False)
    return done.returncode == 0


def build_image(spec: ImageSpec, cache: CacheLayout) -> BuiltImage:
    """Build ``spec`` unless an archive for the same inputs exists; returns where it is."""
    started = time.monotonic()
    directory = images_dir(cache)
    with exclusive(directory / "build.lock"):
        base = ensure_base(cache) if spec.uses_base else None
        files, wheel = _context_inputs(spec)
        key = image_key(spec, tree_digest(files), base)
        ref = image_ref(spec.name, key)
        archive = directory / "archives" / f"{spec.name}-{key}.tar"
        if archive.is_file():
            return BuiltImage(spec.name, ref, archive, 0.0, built=False)
        log.info("building image=%s ref=%s", spec.name, ref)
        storage = directory / "storage"
        log_file = directory / "logs" / f"{spec.name}.log"
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            context = REPO
            if wheel is not None:
                context = Path(tmp) / "context"
                _copy_context(spec, wheel, context)
            if spec.go_binary is not None:
                context = Path(tmp)
                env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
                _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(context / "pause"),
                      str(REPO / spec.go_binary)], f"go build {spec.go_binary}", log_file=log_file, env=env)
            volumes: list[str] = []
            if spec.uses_base and HOST_CA_BUNDLE.is_file():
                pip_conf = Path(tmp) / "pip.conf"
                pip_conf.write_text(PIP_CONF)
                volumes = build_volumes(HOST_CA_BUNDLE, pip_conf)
            _run(buildah_bud_command(storage, spec, ref, context, base, volumes), f"buildah bud {spec.dockerfile}",
                 log_file=log_file)
            archive.parent.mkdir(parents=True, exist_ok=True)
            partial = archive.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            # docker-archive keeps the full name in its manifest, so `ctr import` tags it as is.
            _run(["buildah", *buildah_global_args(storage), "push", ref, f"docker-archive:{partial}:{ref}"],
                 f"buildah push {ref}", log_file=log_file)
            partial.replace(archive)
            _forget_older(spec, archive, storage)
    seconds = time.monotonic() - started
    log.info("built image=%s ref=%s seconds=%.0f", spec.name, ref, seconds)
    return BuiltImage(spec.name, ref, archive, seconds, built=True)


def _forget_older(spec: ImageSpec, keep: Path, storage: Path) -> None:
    """Each edit of the tree makes a new image of a few hundred MB: keep only the newest."""
    for old in keep.parent.glob(f"{spec.name}-*.tar"):
        if old == keep:
            continue
        old.unlink(missing_ok=True)
        key = old.stem.removeprefix(f"{spec.name}-")
        subprocess.run(["buildah", *buildah_global_args(storage), "rmi", image_ref(spec.name, key)],
                       capture_output=True, check=False, timeout=120)


def load_images(address: Path, cache: CacheLayout | None = None,
                specs: Sequence[ImageSpec] = (OPERATOR, SIGNAL, TURN, MEDIA)) -> dict[str, BuiltImage]:
    """Build (when their inputs changed) and import ``specs`` into the node's containerd at
    ``address``; ``{spec name: image}``, whose ``ref`` is what a pod spec names."""
    cache = cache or CacheLayout.default()
    loaded: dict[str, BuiltImage] = {}
    for spec in specs:
        image = build_image(spec, cache)
        import_image(address, image)
        loaded[spec.name] = image
    return loaded


def import_image(address: Path, image: BuiltImage, alias: str | None = None) -> None:
    """Import into containerd's CRI namespace unless it is already there; ``alias``: a second
    name for it (the fixed sandbox image name containerd's config points at)."""
    base = ["ctr", "--address", str(address), "--namespace", K8S_NAMESPACE]
    present = subprocess.run([*base, "images", "ls", "-q"], capture_output=True, text=True, check=False, timeout=60)
    names = present.stdout.split() if present.returncode == 0 else []
    if image.ref not in names:
        _run([*base, "images", "import", str(image.archive)], f"ctr images import {image.ref}", timeout=600)
    if alias is not None:
        _run([*base, "images", "tag", "--force", image.ref, alias], f"ctr images tag {alias}")
