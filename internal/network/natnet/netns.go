package natnet

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNS runs fn on a fresh OS thread that has entered the network
// namespace ns, and waits for it. The thread is never handed back to the
// Go scheduler: the goroutine ends locked, so the runtime destroys the
// thread instead of reusing it in the wrong namespace. Processes started
// by fn are forked from that thread and so live in ns; they must not use
// Pdeathsig, which would fire as soon as the thread is gone.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread, on purpose: see above.
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
