"""GuestGate: a Kubernetes operator for click-to-call clusters."""

__version__ = "0.1.0"
