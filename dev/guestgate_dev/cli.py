"""`guestgate-dev ...`: the developer's commands (a local cluster, the demos), never the product's.

Same shape as `guestgate ...` (guestgate.cli): each command's module has ``configure(parser)``
and ``run(args) -> int`` and is imported only when its command runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from guestgate import cli

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "cluster": (
        "guestgate_dev.cluster.command",
        "a local Kubernetes built from upstream sources: up, down, status, build, images",
    ),
    "demo": ("guestgate_dev.demo.command", "run the product on its embedded default and print a link"),
}


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    return cli.main(argv, prog="guestgate-dev", commands=COMMANDS, description=description)
