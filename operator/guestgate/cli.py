"""`guestgate ...`: one entry point, each command defined by the module that owns it.

Every command module exposes ``configure(parser)`` and ``run(args) -> int``. Modules are imported
only when their command runs or when help is printed, so a slow import (pjsua2, kubernetes) never
slows down an unrelated command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from guestgate import __version__


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "operator": ("guestgate.controllers.command", "run the operator (kopf) against the current kubeconfig"),
    "crds": ("guestgate.api.command", "write the CustomResourceDefinitions generated from the models"),
    "diagnose": ("guestgate.sip.command_diagnose", "diagnose SIP traces (text, Cisco IOS debug, pcap)"),
    "explain-cause": ("guestgate.sip.command_explain", "explain a Q.850 cause value and how it misleads"),
    # The pod's entrypoint: SIP engine, admin API and the link pages (web wraps signal: layers).
    "signal": ("guestgate.pod.serve", "run the signalling server with the link pages (the pod's entrypoint)"),
    "link-token": ("guestgate.web.command_token", "print a signed URL for a GuestLink that requires a token"),
    "probe": ("guestgate.signal.command_probe", "place health-check calls to a SIP peer and diagnose them"),
    # The TURN pod's companion of coturn: its metrics, the allow-list the operator pushes.
    "turn-agent": ("guestgate.turn.agent", "relay coturn's log (stdin), serve its metrics and take pushed peers"),
}


# Third-party modules that come with an optional extra of the package (pyproject.toml), and the
# extra to install: a command that needs one says so instead of dying with a traceback.
EXTRA_OF_MODULE: dict[str, str] = {"pjsua2": "signal"}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The extra that provides the module `error` could not import, or None (not ours to explain)."""
    return EXTRA_OF_MODULE.get((error.name or "").partition(".")[0])


def explain_missing_extra(command: str, error: ModuleNotFoundError) -> str:
    extra = missing_extra(error)
    return (
        f"guestgate {command}: needs the '{extra}' extra ({error.name} is not installed): "
        f"pip install 'guestgate[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
    )


def _load(commands: dict[str, tuple[str, str]], name: str) -> CommandModule:
    return cast(CommandModule, importlib.import_module(commands[name][0]))


def build_parser(
    only: str | None = None,
    *,
    prog: str = "guestgate",
    commands: dict[str, tuple[str, str]] | None = None,
    description: str | None = None,
) -> argparse.ArgumentParser:
    commands = COMMANDS if commands is None else commands
    if description is None and __doc__:
        description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _load(commands, name).configure(command_parser)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "guestgate",
    commands: dict[str, tuple[str, str]] | None = None,
    description: str | None = None,
) -> int:
    """Run one command of ``commands`` (the product's by default; guestgate_dev passes its own)."""
    commands = COMMANDS if commands is None else commands
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen not in commands:
        parser = build_parser(only="", prog=prog, commands=commands, description=description)
        if argv and argv[0] == "--version":
            parser.parse_args(argv)  # prints the version and exits
        if chosen is not None:
            print(f"{prog}: unknown command {chosen!r}", file=sys.stderr)
        asked = not argv or argv[0] in ("-h", "--help")
        parser.print_help(sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    try:
        args = build_parser(only=chosen, prog=prog, commands=commands, description=description).parse_args(argv)
        return _load(commands, chosen).run(args)
    except ModuleNotFoundError as error:
        if missing_extra(error) is None:
            raise
        print(explain_missing_extra(chosen, error), file=sys.stderr)
        return 2
