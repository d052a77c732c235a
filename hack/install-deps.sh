#!/usr/bin/env bash
# Install everything GuestGate's demo and tests need on a fresh Debian machine (root):
# Debian packages (SIPp, capture tools, Chromium, pjproject's build dependencies) and a Python
# venv with the package, its dev tools and pjsua2 built from pinned pjproject 2.17 source
# (hack/build-pjsua2.sh: about 3 minutes once per machine, then cached in
# ~/.cache/guestgate/wheels). Idempotent and quick when nothing changed. Go builds of
# Kubernetes, etcd and Helm are done (and cached under ~/.cache/guestgate) by
# `guestgate-dev cluster build`.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(sip-tester tshark tcpdump chromium chromium-driver openssl iproute2 procps
  containerd runc containernetworking-plugins iptables conntrack buildah debootstrap
  janus rtpengine-daemon coturn sqlite3 prometheus
  # pjproject 2.17 and its SWIG binding (hack/build-pjsua2.sh); the runtime libraries libopus0,
  # libssl3 and libuuid1 come with them. python3-dev: Debian's python3, for which the signalling
  # image's wheel is built (pyenv and python.org interpreters carry their own headers).
  build-essential pkg-config swig libopus-dev libssl-dev uuid-dev python3-dev)

# npm fetches axe-core (below); a nodejs that bundles npm (nodesource) needs no Debian npm.
command -v npm >/dev/null || APT_PACKAGES+=(npm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo ">> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One apt at a time on this machine (several work trees may run this at once).
  exec 9>/var/lock/guestgate-apt.lock
  flock 9
  # tshark asks whether non-root users may capture: answer no, without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.installed
want=$(cat pyproject.toml dev/pyproject.toml hack/install-deps.sh | sha256sum | cut -c1-16)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo ">> python venv (.venv) with guestgate[signal,dev] and guestgate-dev (dev/)"
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[signal,dev]' -e ./dev
  echo "$want" > "$stamp"
fi

# pjsua2 from source (the wheel is cached per machine; 0 s when it is). The PyPI wheel
# pjsua2-python of older venvs provides the same module: it goes first.
# A clone made elsewhere (git clone /work/main /tmp/ci) has no ../shared beside it: the pinned
# tarball is then the one beside the repository it was cloned from (hack/pjproject-tarball.sh).
if [[ -z ${PJPROJECT_TARBALL:-} && ! -d ../shared/vendor ]]; then
  read -r tarball sha < <(hack/pjproject-tarball.sh) || true
  if [[ -n ${tarball:-} ]]; then
    export PJPROJECT_TARBALL=$tarball PJPROJECT_SHA256=${sha:-}
  fi
fi
wheel=$(PYTHON=.venv/bin/python hack/build-pjsua2.sh | tail -1)
if [[ ! -f .venv/.pjsua2 || "$(cat .venv/.pjsua2)" != "$wheel" ]]; then
  echo ">> pjsua2 into .venv: $wheel"
  .venv/bin/pip uninstall -q -y pjsua2-python 2>/dev/null || true
  .venv/bin/pip install -q --no-deps --force-reinstall "$wheel"
  echo "$wheel" > .venv/.pjsua2
fi

# axe-core, the accessibility checker tests/browser injects into the link page (WCAG 2.1 A/AA),
# from npm into the cache outside the repository (tests/browser/axe.py finds it there).
AXE_VERSION=$(cat hack/axe-core.version)
cache=${GUESTGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/guestgate}
axe_dir=$cache/npm/axe-core-$AXE_VERSION
if [[ ! -f $axe_dir/node_modules/axe-core/axe.min.js ]]; then
  echo ">> npm axe-core@$AXE_VERSION into $axe_dir"
  mkdir -p "$axe_dir"
  npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$AXE_VERSION" >/dev/null
fi
