# GuestGate: `make demo` runs the product on its embedded default, `make test` runs every test.
SHELL := /bin/bash
PY := .venv/bin/python
SRC := operator/guestgate dev/guestgate_dev tests $(wildcard bench)

.PHONY: deps tools crds check-crds golden lint test unit bench demo demo-local clean

deps: ## Debian packages and the Python venv (idempotent)
	@hack/install-deps.sh

tools: deps ## build the pinned etcd, Kubernetes and Helm from their Go modules (cached)
	$(PY) -m guestgate_dev cluster build

crds: deps ## regenerate crds/ and the chart's copy from the pydantic models
	$(PY) -m guestgate crds --out crds --out charts/guestgate/crds

check-crds: deps
	$(PY) -m guestgate crds --out crds --out charts/guestgate/crds --check

golden: deps ## refresh golden files (read the diff before committing)
	GUESTGATE_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/render tests/chart tests/sip -k golden

lint: deps ## ruff, mypy --strict (product, dev package, bench, tests), the import contracts
	.venv/bin/ruff check $(SRC)
	.venv/bin/mypy
	.venv/bin/mypy bench
	cd tests && MYPYPATH=../operator:../dev ../.venv/bin/mypy --config-file ../pyproject.toml --explicit-package-bases .
	.venv/bin/lint-imports

test: deps lint tools ## everything: lint, unit tables, the real control plane, SIPp, Chromium
	$(PY) -m pytest -q -p no:cacheprovider

unit: deps
	$(PY) -m pytest -q -m "not cluster"

bench: deps tools ## what GuestGate costs beside a reference (SIPp, Janus), tables + bench/results/*.json; QUICK=1: briefly
	$(PY) -m bench $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

demo: deps ## real pods: a local node, images from images/, the chart, the examples, a demo phone; prints a link
	$(PY) -m guestgate_dev demo --node

demo-local: deps ## no node (no root needed): control plane, operator and signalling as local processes
	$(PY) -m guestgate_dev demo

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache tests/artifacts
