"""`make bench`: what GuestGate costs, each figure beside a reference measured in the same run."""
