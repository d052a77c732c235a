"""`guestgate link-token`: a signed URL for a GuestLink with `access.requireToken`.

The token is HMAC-SHA256 with the GuestCluster's signing key (the Secret `<cluster>-signing-key`
the operator generated), names the link and expires; the signalling pods check it themselves.
The key comes from the cluster (the current kubeconfig) or from a file (`--key-file`, e.g. in a
web shop's backend that mints a link per customer with the same algorithm).
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path

from guestgate.web.tokens import sign

EXIT_BAD_INPUT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("link", metavar="NAMESPACE/NAME", help="the GuestLink")
    parser.add_argument(
        "--valid-for",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how long the token opens the link (default 3600)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="the signing key (default: read the GuestCluster's Secret from the cluster)",
    )
    parser.add_argument(
        "--url", default=None, help="the link's URL (default: the GuestLink's status.url, read from the cluster)"
    )
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG or in-cluster)")


def signed_url(url: str, key: bytes, link_id: str, valid_for: int, now: float) -> str:
    token = sign(key, link_id, int(now) + valid_for)
    return f"{url}{'&' if '?' in url else '?'}token={token}"


def run(args: argparse.Namespace) -> int:
    namespace, _, name = str(args.link).partition("/")
    if not namespace or not name or "/" in name:
        print(f"guestgate link-token: {args.link!r} is not NAMESPACE/NAME", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.valid_for <= 0:
        print("guestgate link-token: --valid-for must be a positive number of seconds", file=sys.stderr)
        return EXIT_BAD_INPUT
    url: str | None = args.url
    key: bytes | None = None
    if args.key_file is not None:
        try:
            key = args.key_file.read_bytes().strip()
        except OSError as error:
            print(f"guestgate link-token: {args.key_file}: {error.strerror}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if key is None or url is None:
        found = _from_cluster(namespace, name, args.kubeconfig)
        if isinstance(found, str):
            print(f"guestgate link-token: {found}", file=sys.stderr)
            return EXIT_BAD_INPUT
        key = key if key is not None else found[0]
        url = url if url is not None else found[1]
    if not key:
        print("guestgate link-token: the signing key is empty", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(signed_url(url, key, f"{namespace}/{name}", args.valid_for, time.time()))
    return 0


def _from_cluster(namespace: str, name: str, kubeconfig: str | None) -> tuple[bytes, str] | str:
    """(signing key, link URL) from the cluster, or what is wrong in words."""
    from guestgate.kube.client import Kube
    from guestgate.render import names

    kube = Kube.from_environment("guestgate-link-token", kubeconfig)
    link = kube.get("GuestLink", namespace, name)
    if link is None:
        return f"no GuestLink {namespace}/{name}"
    if not (link.get("spec") or {}).get("access", {}).get("requireToken"):
        print(f"note: {namespace}/{name} does not require a token; the URL works without it", file=sys.stderr)
    url = (link.get("status") or {}).get("url")
    if not url:
        return f"GuestLink {namespace}/{name} has no URL in its status yet (is the operator running?)"
    cluster = link["spec"]["clusterRef"]
    secret = kube.get("Secret", namespace, names.signing_secret_name(cluster))
    value = ((secret or {}).get("data") or {}).get("key")
    if not value:
        return f"no signing key in Secret {namespace}/{names.signing_secret_name(cluster)}"
    return base64.b64decode(value), str(url)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="guestgate link-token", description=__doc__.splitlines()[0] if __doc__ else None
    )
    configure(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
