#!/usr/bin/env bash
# Build pjproject 2.17 from its pinned source and its SWIG Python binding (pjsua2) into a wheel.
#
#   hack/build-pjsua2.sh            builds (or finds) the wheel; prints its path on the last line
#
# Source: $PJPROJECT_TARBALL, else ../shared/vendor/pjproject-2.17.tar.gz beside the repository
# (or beside the main checkout of a git worktree; its sha256 is checked against
# ../shared/vendor/README.md), else the upstream release archive
# of tag 2.17 (https://github.com/pjsip/pjproject/archive/refs/tags/2.17.tar.gz, downloaded once
# into the cache; set PJPROJECT_SHA256 to have it checked). pjproject's sources are never copied
# into the repository: the build tree lives in ~/.cache/guestgate/pjproject/<key>/.
#
# The wheel lands in ~/.cache/guestgate/wheels/<key>/, <key> being a hash of the tarball,
# hack/pjsua2/config_site.h and guard.c, the configure flags, this script and the Python tag: built once
# per machine (about 3 minutes cold on 2 idle cores), found in no time afterwards. One build at
# a time per key (flock), so several work trees may ask at once.
#
# Environment: PYTHON (the interpreter the binding is for; default .venv/bin/python, else
# python3), JOBS (make -j, default 2), GUESTGATE_CACHE (default ~/.cache/guestgate).
# Debian build dependencies (hack/install-deps.sh installs them): build-essential, swig,
# libopus-dev, libssl-dev, uuid-dev, and the headers of $PYTHON.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${GUESTGATE_CACHE:-$HOME/.cache/guestgate}
jobs=${JOBS:-2}
version=2.17
upstream_url=https://github.com/pjsip/pjproject/archive/refs/tags/$version.tar.gz
config_site=$repo/hack/pjsua2/config_site.h
# GuestGate's SIP guard, a pjsip module of our own compiled into the binding (docs/signal.md,
# "What the far side may not do"); part of the key.
guard=$repo/hack/pjsua2/guard.c

if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $repo/.venv/bin/python ]]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi

log() { echo ">> pjsua2: $*" >&2; }
die() { echo "build-pjsua2: $*" >&2; exit 1; }

# Configure flags (part of the key). -DNDEBUG and PJ_DEBUG 0 (config_site.h): a failed check
# returns an error instead of aborting the process.
configure_flags=(--disable-video --disable-sound --enable-epoll --disable-libyuv --disable-libwebrtc
  --disable-upnp --disable-ffmpeg --disable-v4l2 --disable-openh264 --disable-vpx --disable-sdl
  --disable-opencore-amr --disable-silk --disable-bcg729 --disable-lyra --disable-android-mediacodec)
cflags="-fPIC -O2 -DNDEBUG"

# --- the source tarball -----------------------------------------------------------------------
# ../shared beside the repository; for a git worktree, beside its main checkout.
vendor=$repo/../shared/vendor
if [[ ! -d $vendor ]] && common=$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
  vendor=$(dirname "$common")/../shared/vendor
fi
expected=${PJPROJECT_SHA256:-}
if [[ -n ${PJPROJECT_TARBALL:-} ]]; then
  tarball=$PJPROJECT_TARBALL
  [[ -f $tarball ]] || die "PJPROJECT_TARBALL=$tarball: no such file"
elif [[ -f $vendor/pjproject-$version.tar.gz ]]; then
  tarball=$(cd "$vendor" && pwd)/pjproject-$version.tar.gz
  if [[ -z $expected ]]; then
    expected=$(grep -F "pjproject-$version.tar.gz" "$vendor/README.md" 2>/dev/null \
      | grep -oE '[0-9a-f]{64}' | head -1 || true)
    [[ -n $expected ]] || die "no sha256 for pjproject-$version.tar.gz in $vendor/README.md"
  fi
else
  tarball=$cache/downloads/pjproject-$version.tar.gz
  if [[ ! -f $tarball ]]; then
    log "downloading $upstream_url"
    mkdir -p "$cache/downloads"
    curl -fsSL --retry 3 -o "$tarball.part" "$upstream_url" \
      || die "cannot download $upstream_url (no internet? set PJPROJECT_TARBALL to a copy)"
    mv "$tarball.part" "$tarball"
  fi
fi
tar_sha=$(sha256sum "$tarball" | cut -d' ' -f1)
if [[ -n $expected && $tar_sha != "$expected" ]]; then
  die "$tarball: sha256 $tar_sha, expected $expected (a different or damaged archive)"
fi

# --- the key ----------------------------------------------------------------------------------
py_tag=$("$PYTHON" -c 'import sys, sysconfig; v = "%d%d" % sys.version_info[:2]; print("cp%s-cp%s-%s" % (v, v, sysconfig.get_platform().replace("-", "_").replace(".", "_")))') \
  || die "cannot run PYTHON=$PYTHON"
# The script counts without its comment lines: a reworded comment rebuilds nothing.
key=$( { echo "$tar_sha"; cat "$config_site" "$guard"; echo "${configure_flags[*]} CFLAGS=$cflags"; grep -v '^ *#' "$0"; echo "$py_tag"; } \
  | sha256sum | cut -c1-16)
wheel_dir=$cache/wheels/$key
find_wheel() { compgen -G "$wheel_dir/pjsua2-*.whl" | head -1 || true; }

wheel=$(find_wheel)
if [[ -n $wheel ]]; then echo "$wheel"; exit 0; fi

mkdir -p "$cache/pjproject" "$cache/wheels"
exec 8>"$cache/pjproject/$key.lock"
flock -n 8 || { log "waiting for another build of the same key"; flock 8; }
wheel=$(find_wheel)
if [[ -n $wheel ]]; then echo "$wheel"; exit 0; fi

# --- the build --------------------------------------------------------------------------------
for tool in swig make g++ pkg-config; do
  command -v $tool >/dev/null || die "$tool is missing (hack/install-deps.sh installs the build dependencies)"
done
pkg-config --exists opus || die "libopus-dev is missing (Opus would be left out)"
start=$(date +%s)
work=$cache/pjproject/$key
rm -rf "$work" && mkdir -p "$work"
log "building pjproject $version ($tarball, key $key) in $work; python tag $py_tag"
tar -xzf "$tarball" -C "$work"
src=$(compgen -G "$work/pjproject-*" | head -1)
[[ -d $src ]] || die "$tarball has no pjproject-*/ folder"
cp "$config_site" "$src/pjlib/include/pj/config_site.h"
(
  cd "$src"
  CFLAGS="$cflags" CXXFLAGS="$cflags" ./configure "${configure_flags[@]}" >"$work/configure.log" 2>&1 \
    || { tail -30 "$work/configure.log" >&2; exit 1; }
  grep -q "^#define PJMEDIA_HAS_OPUS_CODEC 1" pjmedia/include/pjmedia-codec/config_auto.h \
    || die "configure did not find libopus"
  grep -q "^#define PJ_IOQUEUE_IMP PJ_IOQUEUE_IMP_EPOLL" pjlib/include/pj/compat/os_auto.h \
    || die "configure did not select the epoll I/O queue"
  make dep >"$work/make-dep.log" 2>&1 || { tail -30 "$work/make-dep.log" >&2; exit 1; }
  make -j"$jobs" lib >"$work/make-lib.log" 2>&1 || { tail -40 "$work/make-lib.log" >&2; exit 1; }
) || die "pjproject build failed (logs in $work)"
lib_done=$(date +%s)
log "libraries built in $((lib_done - start)) s; SWIG binding next"

# A private venv with setuptools and wheel for the interpreter the binding is for.
"$PYTHON" -m venv "$work/pyenv"
"$work/pyenv/bin/pip" install -q --disable-pip-version-check setuptools wheel
(
  cd "$src/pjsip-apps/src/swig/python"
  make pjsua2_wrap.cpp >"$work/swig.log" 2>&1 || { tail -30 "$work/swig.log" >&2; exit 1; }
  # The guard module joins the extension's one translation unit (its C API is found with ctypes).
  cp "$guard" gg_guard.c && printf '\n#include "gg_guard.c"\n' >>pjsua2_wrap.cpp
  # -s: no symbols in the extension (about a tenth of the size).
  LDFLAGS="-s" "$work/pyenv/bin/python" setup.py -q bdist_wheel -d "$work/dist" >"$work/wheel.log" 2>&1 \
    || { tail -30 "$work/wheel.log" >&2; exit 1; }
) || die "SWIG binding failed (logs in $work)"
built=$(compgen -G "$work/dist/pjsua2-*.whl" | head -1)
[[ -n $built ]] || die "no wheel in $work/dist"
mkdir -p "$wheel_dir.part"
cp "$built" "$wheel_dir.part/"
rm -rf "$wheel_dir" && mv "$wheel_dir.part" "$wheel_dir"
end=$(date +%s)
echo "{\"key\": \"$key\", \"seconds\": $((end - start)), \"libSeconds\": $((lib_done - start)), \"jobs\": $jobs, \"finished\": \"$(date -u +%FT%TZ)\"}" \
  >>"$cache/pjproject/build-times.jsonl"
log "wheel built in $((end - start)) s (libraries $((lib_done - start)) s)"
# The build tree is only needed for the wheel: keep the logs, drop the rest (about 1 GB).
rm -rf "$src" "$work/pyenv"
find_wheel
