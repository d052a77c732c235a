#!/usr/bin/env bash
# For a clone made elsewhere (git clone /work/main /tmp/ci), which has no ../shared beside it:
# prints "<path> <sha256>" of the pinned pjproject tarball beside the repository it was cloned
# from, or nothing. hack/build-pjsua2.sh finds the one beside a checkout or worktree itself;
# hack/install-deps.sh and the image build (guestgate_dev.cluster.images) pass this one on to it
# as PJPROJECT_TARBALL / PJPROJECT_SHA256.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
origin=$(git -C "$repo" config --get remote.origin.url 2>/dev/null || true)
[[ -n $origin && -d $origin ]] || exit 0
beside=$(cd "$origin" && cd "$(git rev-parse --path-format=absolute --git-common-dir)/.." && pwd)/../shared/vendor
[[ -f $beside/pjproject-2.17.tar.gz ]] || exit 0
sha=$(grep -F pjproject-2.17.tar.gz "$beside/README.md" 2>/dev/null | grep -oE '[0-9a-f]{64}' | head -1 || true)
echo "$beside/pjproject-2.17.tar.gz $sha"
