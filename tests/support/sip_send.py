"""Send one SIP request and print the replies as JSON (run inside a network namespace).

cd tests && python -m support.sip_send HOST PORT METHOD udp|tcp TIMEOUT
"""

from __future__ import annotations

import json
import sys

from support.signal_server import sip_exchange, sip_message


def main() -> None:
    host, port, method, transport, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
    try:
        replies = sip_exchange(
            port, sip_message(method, port, 5999, transport.upper()), transport, timeout, host, source="0.0.0.0"
        )
        error = ""
    except OSError as exc:  # a dropped SYN: the connect times out
        replies, error = [], f"{type(exc).__name__}: {exc}"
    print(json.dumps({"replies": [r.decode(errors="replace").split("\r\n", 1)[0] for r in replies], "error": error}))


if __name__ == "__main__":
    main()
