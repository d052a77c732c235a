"""pjsua2 and the kernel: the engine thread, trunks, calls, capture, the peer filter."""
