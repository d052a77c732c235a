"""The signalling pod's composition root: `guestgate signal` wires engine, web and admin."""
