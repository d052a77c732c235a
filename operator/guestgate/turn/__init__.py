"""The managed TURN server's companion (`guestgate turn-agent`): it runs beside coturn in the TURN
pod, turns coturn's log into Prometheus metrics and takes the allow-list the operator pushes."""
