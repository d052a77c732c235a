"""Run the benchmark parts, print their tables, write bench/results/<part>.json.

    python -m bench [--quick] [--only PART ...] [--out DIR]

--quick runs each part briefly (`make test` does, so the benchmarks never rot); its results go
to bench/results/quick/ so a quick run never overwrites the figures the README quotes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.report import PartResult, machine, write_json
from bench.settings import Settings

# Run order: cheap and self-contained first; the operator at scale last (it needs a cluster).
PARTS = [
    "diagnosis",
    "peer_filter",
    "sip_leg",
    "concurrency",
    "turn",
    "click_to_ring",
    "browser_leg",
    "soak",
    "operator_scale",
]
# Run only when named (--only): the real node (root; one per machine: under flock /tmp/gg-node.lock),
# and api_write_cost (what one API write costs: the floor under operator_scale's publish goal).
ON_REQUEST = ["operator_scale_node", "demo_first_call", "api_write_cost"]
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each part briefly (seconds, not minutes)")
    parser.add_argument("--only", action="append", choices=PARTS + ON_REQUEST,
                        help="run only this part (repeatable); " + ", ".join(ON_REQUEST) + ": only when named")
    parser.add_argument("--out", type=Path, help="where the JSON goes (default bench/results[/quick])")
    parser.add_argument("--list", action="store_true", help="print the parts a run without --only runs, in order")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(PARTS))
        return 0
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    settings = Settings(quick=args.quick, work_dir=out / "work")
    info = machine()
    print(
        f"# GuestGate benchmarks{' (quick)' if args.quick else ''}: {info['cpu']}, {info['cores']} cores, "
        f"{info['memoryGiB']} GiB, Linux {info['kernel']}, Python {info['python']}\n",
        flush=True,
    )
    failed = []
    for name in args.only or PARTS:
        module = importlib.import_module(f"bench.{name}")
        start = time.monotonic()
        try:
            result: PartResult = module.run(settings)
        except Exception as exc:  # one broken part must not hide the others' tables
            traceback.print_exc()
            result = PartResult(name=name, error=f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - start
        for table in result.tables:
            print(table.render() + "\n", flush=True)
        if result.error:
            failed.append(name)
            print(f"!! {name} failed: {result.error}\n", flush=True)
        path = write_json(result, out, args.quick)
        print(f"({name}: {result.seconds:.0f} s, {path})\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
