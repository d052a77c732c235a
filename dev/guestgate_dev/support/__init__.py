"""What the demos, tests and benchmarks share: ports, process helpers."""
