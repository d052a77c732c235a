"""`guestgate-dev demo` (`make demo`, `make demo-local`) and the demo phone."""
