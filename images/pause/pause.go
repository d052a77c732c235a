// The pod sandbox ("pause") process of the local cluster's node: it holds the pod's namespaces,
// reaps orphaned children (it is PID 1 when the pod shares its PID namespace) and exits on
// SIGINT/SIGTERM. Upstream's is a few lines of C (kubernetes build/pause/linux/pause.c); this is
// the same behaviour in Go, so the node needs no image from a registry and no C toolchain.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		// Reap every exited child; a zombie would otherwise keep its pid forever.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
