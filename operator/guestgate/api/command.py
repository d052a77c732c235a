"""`guestgate crds`: write the generated CRDs, or check that the files on disk are current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guestgate.api.crd import render_crd_files


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        action="append",
        type=Path,
        default=None,
        help="directory to write into (repeatable; default: crds)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")


def run(args: argparse.Namespace) -> int:
    outs: list[Path] = args.out or [Path("crds")]
    files = render_crd_files()
    stale: list[str] = []
    for out in outs:
        for name, text in files.items():
            path = out / name
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                out.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if stale:
        print("CRDs differ from the models (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0
