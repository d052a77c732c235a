"""GuestGate's development tooling: the local Kubernetes (cluster/), the demos and the demo phone
(demo/), and what tests and benchmarks share (support/). Never imported by the product
(`guestgate`): an import contract in pyproject.toml fails `make lint` if it is, and the images
install the product package alone.
"""
