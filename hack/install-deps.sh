#!/usr/bin/env bash
# Install everything GuestGate's demo and tests need on a fresh Debian machine (root):
# Debian packages (SIPp, capture tools, Chromium) and a Python venv with the package and its
# dev tools. Idempotent and quick when nothing changed. Go builds of Kubernetes, etcd and Helm
# are done (and cached under ~/.cache/guestgate) by `guestgate-dev cluster build`.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(sip-tester tshark tcpdump chromium chromium-driver openssl iproute2 procps
  containerd runc containernetworking-plugins iptables conntrack buildah debootstrap
  janus rtpengine-daemon)

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
